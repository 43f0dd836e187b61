/**
 * What a Kubernetes HPA (or KEDA, which drives one) would do with the p95 it sees: the
 * proportional rule desired = ceil(current × metric / target), left alone while the ratio is
 * within the tolerance (kube-controller-manager's --horizontal-pod-autoscaler-tolerance, 0.1).
 * A laptop run without Prometheus counts one replica and uses its own measured p95.
 */
import type { Histogram } from 'hdr-histogram-js';
import type { PrometheusSample } from './prometheus.ts';
import { newLatencyHistogram, type TimelineBucket } from './recorder.ts';

/** The p95 SLO the KEDA latency scaler targets (k8s/hpa-keda-latency.yaml, threshold 0.25 s). */
export const DEFAULT_TARGET_P95_MS = 250;
export const DEFAULT_TOLERANCE = 0.1;
/** The client-side p95 is taken over this many trailing one-second buckets, as rate[…] smooths the server's. */
export const CLIENT_WINDOW_SECONDS = 10;

export interface AutoscalerSettings {
  readonly targetP95Ms: number;
  readonly tolerance: number;
}

export interface AutoscalerPoint {
  tSeconds: number;
  /** Replicas now: from Prometheus, or 1 without it. */
  replicas: number;
  /** The p95 the formula used: the server's from Prometheus, else the client's trailing window. */
  p95Ms: number;
  source: 'prometheus' | 'client';
  desiredReplicas: number;
}

export function desiredReplicas(current: number, metric: number, target: number, tolerance: number): number {
  if (current < 1 || !(target > 0) || !Number.isFinite(metric)) return Math.max(1, current);
  const ratio = metric / target;
  if (Math.abs(ratio - 1) <= tolerance) return current;
  return Math.max(1, Math.ceil(current * ratio));
}

/** The client's p95 (ms) over the buckets [from, to), or undefined without responses. */
export function windowP95Ms(timeline: readonly TimelineBucket[], from: number, to: number): number | undefined {
  const merged: Histogram = newLatencyHistogram(2);
  for (let i = Math.max(0, from); i < Math.min(to, timeline.length); i++) {
    const bucket = timeline[i];
    if (bucket && bucket.latencyUs.totalCount > 0) merged.add(bucket.latencyUs);
  }
  if (merged.totalCount === 0) return undefined;
  return Math.min(merged.getValueAtPercentile(95), merged.maxValue) / 1000;
}

/** The latest Prometheus sample at or before `tSeconds` with both values, if any. */
function sampleAt(samples: readonly PrometheusSample[], tSeconds: number): { replicas: number; p95Ms: number } | undefined {
  for (let i = samples.length - 1; i >= 0; i--) {
    const s = samples[i];
    if (s && s.tSeconds <= tSeconds && s.replicas !== null && s.p95Ms !== null) return { replicas: s.replicas, p95Ms: s.p95Ms };
  }
  return undefined;
}

/** The autoscaler's view at second `tSeconds` of the run (the buckets before it). */
export function autoscalerPoint(
  settings: AutoscalerSettings,
  timeline: readonly TimelineBucket[],
  samples: readonly PrometheusSample[],
  tSeconds: number,
): AutoscalerPoint | undefined {
  const server = sampleAt(samples, tSeconds);
  const replicas = server?.replicas ?? 1;
  const p95Ms = server?.p95Ms ?? windowP95Ms(timeline, Math.ceil(tSeconds) - CLIENT_WINDOW_SECONDS, Math.ceil(tSeconds));
  if (p95Ms === undefined) return undefined;
  return {
    tSeconds,
    replicas,
    p95Ms: Math.round(p95Ms * 1000) / 1000,
    source: server ? 'prometheus' : 'client',
    desiredReplicas: desiredReplicas(replicas, p95Ms, settings.targetP95Ms, settings.tolerance),
  };
}

/** One point per second of the run. */
export function autoscalerTimeline(
  settings: AutoscalerSettings,
  timeline: readonly TimelineBucket[],
  samples: readonly PrometheusSample[],
): AutoscalerPoint[] {
  const points: AutoscalerPoint[] = [];
  for (let t = 1; t <= timeline.length; t++) {
    const point = autoscalerPoint(settings, timeline, samples, t);
    if (point) points.push(point);
  }
  return points;
}

/** "HPA: 3 pods, p95 412ms (prometheus) -> wants 5" for the live line. */
export function autoscalerText(point: AutoscalerPoint | undefined, settings: AutoscalerSettings): string {
  if (!point) return `HPA target p95 ${settings.targetP95Ms}ms: -`;
  return `HPA ${point.replicas} pod${point.replicas === 1 ? '' : 's'} p95 ${point.p95Ms.toFixed(0)}ms/${settings.targetP95Ms}ms -> ${point.desiredReplicas}`;
}
