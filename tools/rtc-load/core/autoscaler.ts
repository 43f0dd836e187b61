/**
 * What a Kubernetes HPA (or KEDA, which drives one) would do with what the server measures, from
 * two signals, each through the HPA's proportional rule and its tolerance
 * (kube-controller-manager's --horizontal-pod-autoscaler-tolerance, 0.1):
 *
 *   by latency   ceil(current × p95 / target), the p95 of served (2xx) requests only
 *   by refusals  ceil(current × (offered / served) / 1.1), offered / served = 1 / (1 − refusal ratio),
 *                silent (0) while offered / served ≤ 1.1, and offered / served capped at 10
 *   desired      max of the two, at most max(2 × current, current + 4) (the HPA's default scale-up step)
 *
 * Latency alone is blind to overload once the service sheds it: a pod at capacity serves at
 * about its p95 and refuses the rest, so its served p95 stays near the target while most of the
 * demand is turned away (and a client's p95 over all answers, fast 503s included, even falls). The
 * refusal term sees that demand, exactly as the manifests' second trigger does (KEDA's
 * process-demand-ratio, the Adapter's app_demand_ratio: target 1.1, 0 below it, capped at 10):
 * silent until more than 1 − 1/1.1 ≈ 9 % is refused, so that it never holds pods the latency term
 * would let go.
 * With Prometheus, replicas, the served p95 and the refusal ratio come from its queries; without,
 * one replica and this run's own served p95 and refusal ratio over the trailing window.
 */
import type { Histogram } from 'hdr-histogram-js';
import type { PrometheusSample } from './prometheus.ts';
import { newLatencyHistogram, type TimelineBucket } from './recorder.ts';

/** The p95 SLO the KEDA latency scaler targets (k8s/hpa-keda-latency.yaml, threshold 0.25 s). */
export const DEFAULT_TARGET_P95_MS = 250;
export const DEFAULT_TOLERANCE = 0.1;
/** The client-side figures are taken over this many trailing one-second buckets, as rate[…] smooths the server's. */
export const CLIENT_WINDOW_SECONDS = 10;

export interface AutoscalerSettings {
  readonly targetP95Ms: number;
  readonly tolerance: number;
}

export interface AutoscalerPoint {
  tSeconds: number;
  /** Replicas now: from Prometheus, or 1 without it. */
  replicas: number;
  /** Served (2xx) p95 the rule used; null when nothing was served in the window. */
  p95Ms: number | null;
  /** Share of the answers that were refusals (503, and 429 on the client side), 0 to 1. */
  refusalRatio: number;
  source: 'prometheus' | 'client';
  desiredByLatency: number;
  desiredByRefusals: number;
  desiredReplicas: number;
}

/** The HPA's proportional rule: ceil(current × metric / target), unchanged within the tolerance. */
export function desiredReplicas(current: number, metric: number, target: number, tolerance: number): number {
  if (current < 1 || !(target > 0) || !Number.isFinite(metric)) return Math.max(1, current);
  const ratio = metric / target;
  if (Math.abs(ratio - 1) <= tolerance) return current;
  return Math.max(1, Math.ceil(current * ratio));
}

/** The most the HPA's default behaviour adds in one step: 100% or 4 pods, whichever is more. */
export function scaleUpLimit(current: number): number {
  return Math.max(2 * current, current + 4);
}

/** The refused demand's target and cap, as in k8s/hpa-keda-latency.yaml and the Adapter's metric. */
export const DEMAND_RATIO_TARGET = 1.1;
export const DEMAND_RATIO_CAP = 10;

/**
 * The pods that would serve what is offered, by the HPA's rule on offered / served against 1.1;
 * 0 (silent, as the trigger reads 0) while offered / served is at most 1.1. Nothing served at all
 * reads the cap.
 */
export function desiredForRefusals(current: number, refusalRatio: number, tolerance: number): number {
  const replicas = Math.max(1, current);
  if (!(refusalRatio > 0)) return 0;
  const offeredOverServed = refusalRatio >= 1 ? DEMAND_RATIO_CAP : Math.min(DEMAND_RATIO_CAP, 1 / (1 - refusalRatio));
  if (offeredOverServed <= DEMAND_RATIO_TARGET) return 0;
  return desiredReplicas(replicas, offeredOverServed, DEMAND_RATIO_TARGET, tolerance);
}

/** Both terms and the HPA's answer for one reading. */
export function autoscalerWish(
  settings: AutoscalerSettings,
  replicas: number,
  p95Ms: number | null,
  refusalRatio: number,
): { desiredByLatency: number; desiredByRefusals: number; desiredReplicas: number } {
  const desiredByLatency = p95Ms === null ? replicas : desiredReplicas(replicas, p95Ms, settings.targetP95Ms, settings.tolerance);
  const desiredByRefusals = desiredForRefusals(replicas, refusalRatio, settings.tolerance);
  // As the HPA: the largest wish of the metrics; a silent one (0) asks for nothing.
  const desired = Math.min(Math.max(desiredByLatency, desiredByRefusals), scaleUpLimit(replicas));
  return { desiredByLatency, desiredByRefusals, desiredReplicas: Math.max(1, desired) };
}

/** The client's served p95 (ms) over the buckets [from, to), or undefined when nothing was served. */
export function windowP95Ms(timeline: readonly TimelineBucket[], from: number, to: number): number | undefined {
  const merged: Histogram = newLatencyHistogram(2);
  for (let i = Math.max(0, from); i < Math.min(to, timeline.length); i++) {
    const bucket = timeline[i];
    if (bucket && bucket.latencyUs.totalCount > 0) merged.add(bucket.latencyUs);
  }
  if (merged.totalCount === 0) return undefined;
  return Math.min(merged.getValueAtPercentile(95), merged.maxValue) / 1000;
}

/** Refused answers over all answers in the buckets [from, to); undefined without answers. */
export function windowRefusalRatio(timeline: readonly TimelineBucket[], from: number, to: number): number | undefined {
  let answers = 0;
  let refused = 0;
  for (let i = Math.max(0, from); i < Math.min(to, timeline.length); i++) {
    const bucket = timeline[i];
    if (!bucket) continue;
    answers += bucket.requests - bucket.errors;
    refused += bucket.refused;
  }
  return answers > 0 ? refused / answers : undefined;
}

/** The latest Prometheus sample at or before `tSeconds` that has the replica count. */
function sampleAt(samples: readonly PrometheusSample[], tSeconds: number): PrometheusSample | undefined {
  for (let i = samples.length - 1; i >= 0; i--) {
    const s = samples[i];
    if (s && s.tSeconds <= tSeconds && s.replicas !== null) return s;
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
  let replicas: number;
  let p95Ms: number | null;
  let refusalRatio: number;
  if (server && server.replicas !== null) {
    replicas = server.replicas;
    p95Ms = server.p95Ms;
    // No /process answer in the query's window reads as nothing refused.
    refusalRatio = server.refusalRatio ?? 0;
  } else {
    const to = Math.ceil(tSeconds);
    const from = to - CLIENT_WINDOW_SECONDS;
    const clientRatio = windowRefusalRatio(timeline, from, to);
    if (clientRatio === undefined) return undefined;
    replicas = 1;
    p95Ms = windowP95Ms(timeline, from, to) ?? null;
    refusalRatio = clientRatio;
  }
  return {
    tSeconds,
    replicas,
    p95Ms: p95Ms === null ? null : Math.round(p95Ms * 1000) / 1000,
    refusalRatio: Math.round(refusalRatio * 10_000) / 10_000,
    source: server ? 'prometheus' : 'client',
    ...autoscalerWish(settings, replicas, p95Ms, refusalRatio),
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

/** A ratio as a whole percentage ("97%"), with "<1%" for small non-zero shares. */
export function percentText(ratio: number): string {
  if (ratio > 0 && ratio < 0.01) return '<1%';
  return `${Math.round(ratio * 100)}%`;
}

/** "HPA 3 pods: p95 412ms refused 40% -> 5" for the live line (served p95 and refusals the rule read). */
export function autoscalerText(point: AutoscalerPoint | undefined, settings: AutoscalerSettings): string {
  if (!point) return `HPA target p95 ${settings.targetP95Ms}ms: -`;
  const p95 = point.p95Ms === null ? '-' : `${point.p95Ms.toFixed(0)}ms`;
  return `HPA ${point.replicas} pod${point.replicas === 1 ? '' : 's'}: p95 ${p95} refused ${percentText(point.refusalRatio)} -> ${point.desiredReplicas}`;
}
