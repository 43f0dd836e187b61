import type { Histogram } from 'hdr-histogram-js';
import type { HttpRunOptions } from './args.ts';
import type { PrometheusSample } from './prometheus.ts';
import { HISTOGRAM_BINS_PER_OCTAVE, type LoadRecorder } from './recorder.ts';

export interface LatencySummaryMs {
  p50: number;
  p90: number;
  p95: number;
  p99: number;
  p999: number;
  max: number;
  mean: number;
  min: number;
}

export interface TimelinePoint {
  /** Start of the one-second bucket, from the start of the run (by completion time). */
  tSeconds: number;
  requests: number;
  errors: number;
  throughputPerSecond: number;
  p50: number;
  p95: number;
  p99: number;
}

export interface StageReport {
  index: number;
  startSeconds: number;
  durationSeconds: number;
  fromRatePerSecond: number;
  targetRatePerSecond: number;
  /** Requests whose intended send time fell in this stage. */
  requests: number;
  p50: number;
  p95: number;
  p99: number;
}

export interface HistogramBin {
  fromMs: number;
  toMs: number;
  count: number;
}

/** The `--json` document; the HTML report and the summary table are drawn from it too. */
export interface LoadReport {
  url: string;
  mode: 'closed' | 'open';
  method: string;
  concurrency?: number;
  targetRatePerSecond?: number;
  connections: number;
  durationSeconds: number;
  /** Finished requests: HTTP responses plus transport errors. */
  requests: number;
  responses: number;
  throughputPerSecond: number;
  statusCounts: Record<string, number>;
  errors: Record<string, number>;
  /** Milliseconds; responses only (any status), transport errors excluded. */
  latency: LatencySummaryMs;
  stages?: StageReport[];
  timeline: TimelinePoint[];
  latencyHistogram: HistogramBin[];
  prometheus?: { url: string; samples: PrometheusSample[]; failures: number };
  /** True when the run was interrupted (SIGINT) before its plan finished. */
  interrupted?: boolean;
}

export interface ReportInputs {
  options: HttpRunOptions;
  recorder: LoadRecorder;
  endMs: number;
  connections: number;
  prometheus?: { samples: PrometheusSample[]; failures: number };
  interrupted: boolean;
}

const MIN_BUCKET_SPAN_SECONDS = 0.25;

export function buildReport(inputs: ReportInputs): LoadReport {
  const { options, recorder } = inputs;
  const { plan } = options;
  const durationSeconds = Math.max(0, (inputs.endMs - recorder.startMs) / 1000);
  const report: LoadReport = {
    url: options.request.url.href,
    mode: plan.mode,
    method: options.request.method,
    ...(plan.mode === 'closed' ? { concurrency: plan.concurrency } : {}),
    ...(plan.mode === 'open' && plan.stages.length === 1 ? { targetRatePerSecond: plan.startRatePerSecond } : {}),
    connections: inputs.connections,
    durationSeconds: round3(durationSeconds),
    requests: recorder.requests,
    responses: recorder.responses,
    throughputPerSecond: round3(durationSeconds > 0 ? recorder.requests / durationSeconds : 0),
    statusCounts: Object.fromEntries([...recorder.statusCounts()].map(([code, count]) => [String(code), count])),
    errors: Object.fromEntries([...recorder.errorCounts].sort(([a], [b]) => a.localeCompare(b))),
    latency: summarize(recorder.latencyUs),
    timeline: timeline(recorder, durationSeconds),
    latencyHistogram: histogramBins(recorder.histogramBins),
  };
  if (plan.mode === 'open' && plan.stages.length > 1) {
    report.stages = plan.stages.map((_, index) => {
      const bounds = plan.schedule.stageBounds(index);
      const latency = recorder.stageLatencyUs[index];
      return {
        index,
        startSeconds: round3(bounds.startMs / 1000),
        durationSeconds: round3(bounds.durationMs / 1000),
        fromRatePerSecond: round3(bounds.fromRatePerSecond),
        targetRatePerSecond: round3(bounds.targetRatePerSecond),
        requests: recorder.stageRequests[index] ?? 0,
        p50: latency ? toMs(latency, 50) : 0,
        p95: latency ? toMs(latency, 95) : 0,
        p99: latency ? toMs(latency, 99) : 0,
      };
    });
  }
  if (inputs.prometheus !== undefined && options.output.prometheus !== undefined) {
    report.prometheus = { url: options.output.prometheus.baseUrl.href, ...inputs.prometheus };
  }
  if (inputs.interrupted) report.interrupted = true;
  return report;
}

export function summarize(latencyUs: Histogram): LatencySummaryMs {
  if (latencyUs.totalCount === 0) return { p50: 0, p90: 0, p95: 0, p99: 0, p999: 0, max: 0, mean: 0, min: 0 };
  return {
    p50: toMs(latencyUs, 50),
    p90: toMs(latencyUs, 90),
    p95: toMs(latencyUs, 95),
    p99: toMs(latencyUs, 99),
    p999: toMs(latencyUs, 99.9),
    max: round3(latencyUs.maxValue / 1000),
    mean: round3(latencyUs.mean / 1000),
    min: round3(latencyUs.minNonZeroValue / 1000),
  };
}

function timeline(recorder: LoadRecorder, durationSeconds: number): TimelinePoint[] {
  return recorder.timeline.map((bucket, tSeconds) => {
    // The last bucket is usually partial; dividing by its real span keeps the rate honest.
    const spanSeconds = Math.max(MIN_BUCKET_SPAN_SECONDS, Math.min(1, durationSeconds - tSeconds));
    const empty = bucket.latencyUs.totalCount === 0;
    return {
      tSeconds,
      requests: bucket.requests,
      errors: bucket.errors,
      throughputPerSecond: round3(bucket.requests / spanSeconds),
      p50: empty ? 0 : toMs(bucket.latencyUs, 50),
      p95: empty ? 0 : toMs(bucket.latencyUs, 95),
      p99: empty ? 0 : toMs(bucket.latencyUs, 99),
    };
  });
}

/** The non-empty log-spaced bins of a recorder's latency counts, in milliseconds. */
export function histogramBins(counts: Float64Array): HistogramBin[] {
  const bins: HistogramBin[] = [];
  counts.forEach((count, index) => {
    if (count === 0) return;
    const fromUs = 2 ** (index / HISTOGRAM_BINS_PER_OCTAVE);
    const toUs = 2 ** ((index + 1) / HISTOGRAM_BINS_PER_OCTAVE);
    bins.push({ fromMs: round3(fromUs / 1000), toMs: round3(toUs / 1000), count });
  });
  return bins;
}

function toMs(histogramUs: Histogram, percentile: number): number {
  // HDR answers with the top of the value's bucket, which can exceed the largest value recorded.
  return round3(Math.min(histogramUs.getValueAtPercentile(percentile), histogramUs.maxValue) / 1000);
}

function round3(value: number): number {
  return Math.round(value * 1000) / 1000;
}
