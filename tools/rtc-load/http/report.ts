import type { HttpRunOptions } from './args.ts';
import { autoscalerTimeline, type AutoscalerPoint } from '../core/autoscaler.ts';
import type { PrometheusSample } from '../core/prometheus.ts';
import { histogramBins, round3, summarize, toMs, type HistogramBin, type LatencySummaryMs } from '../core/latency.ts';
import type { LoadRecorder } from '../core/recorder.ts';


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
  /** What the HPA rule asks for, second by second (replicas and p95 from Prometheus when sampled). */
  autoscaler?: { targetP95Ms: number; tolerance: number; points: AutoscalerPoint[] };
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
  const settings = options.output.autoscaler;
  report.autoscaler = { ...settings, points: autoscalerTimeline(settings, recorder.timeline, inputs.prometheus?.samples ?? []) };
  if (inputs.interrupted) report.interrupted = true;
  return report;
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
