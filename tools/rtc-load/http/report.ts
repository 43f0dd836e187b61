import type { HttpRunOptions } from './args.ts';
import { autoscalerTimeline, type AutoscalerPoint } from '../core/autoscaler.ts';
import type { PrometheusSample } from '../core/prometheus.ts';
import { histogramBins, round3, summarize, toMs, type HistogramBin, type LatencySummaryMs } from '../core/latency.ts';
import type { LoadRecorder } from '../core/recorder.ts';

export interface TimelinePoint {
  /** Start of the one-second bucket, from the start of the run. */
  tSeconds: number;
  /** Requests that finished in the second (responses and errors), and their rate. */
  requests: number;
  errors: number;
  throughputPerSecond: number;
  /** Sent in the second (by send time), retries included; served and refused by answer time. */
  offered: number;
  served: number;
  refused: number;
  throttled: number;
  offeredPerSecond: number;
  servedPerSecond: number;
  refusedPerSecond: number;
  /** Served (2xx) latency. */
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
  /** Requests whose intended send time fell in this stage and finished (responses and errors). */
  requests: number;
  served: number;
  refused: number;
  throttled: number;
  /** Served per second of the stage. */
  goodputPerSecond: number;
  /** Refused over all answers in the stage. */
  refusalRatio: number;
  /** Served (2xx) latency. */
  p50: number;
  p95: number;
  p99: number;
}

/** How the clients behaved towards refusals. */
export interface ClientBehaviourReport {
  /** never: open loop, each scheduled request is sent once; immediately: the storm; retry-after: the polite client. */
  retry: 'never' | 'immediately' | 'retry-after';
  retryAfterJitter?: number;
  adaptiveThrottleK?: number;
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
  clients: ClientBehaviourReport;
  /** Finished requests: HTTP responses plus transport errors. */
  requests: number;
  responses: number;
  throughputPerSecond: number;
  /** Requests sent, retries included: what the server was offered. */
  offered: number;
  /** 2xx answers. */
  served: number;
  /** 503 and 429 answers: work the server refused. */
  refused: number;
  /** Answers that are neither served nor refused (4xx, other 5xx). */
  otherResponses: number;
  /** Requests the adaptive throttle rejected locally: never sent, not in `offered`. */
  throttled: number;
  /** refused / responses (0 without responses). */
  refusalRatio: number;
  offeredPerSecond: number;
  servedPerSecond: number;
  refusedPerSecond: number;
  throttledPerSecond: number;
  /** Connections the client opened, reconnections after a server's `Connection: close` included. */
  connectionsOpened: number;
  statusCounts: Record<string, number>;
  errors: Record<string, number>;
  /** Milliseconds; served (2xx) responses only. */
  latency: LatencySummaryMs;
  /** Milliseconds; refused (503, 429) responses, apart from the served ones. */
  refusalLatency: LatencySummaryMs;
  stages?: StageReport[];
  timeline: TimelinePoint[];
  latencyHistogram: HistogramBin[];
  prometheus?: { url: string; samples: PrometheusSample[]; failures: number };
  /** What the HPA rule asks for, second by second (replicas, served p95 and refusals from Prometheus when sampled). */
  autoscaler?: { targetP95Ms: number; tolerance: number; points: AutoscalerPoint[] };
  /** True when the run was interrupted (SIGINT) before its plan finished. */
  interrupted?: boolean;
}

export interface ReportInputs {
  options: HttpRunOptions;
  recorder: LoadRecorder;
  endMs: number;
  connections: number;
  connectionsOpened: number;
  prometheus?: { samples: PrometheusSample[]; failures: number };
  interrupted: boolean;
}

const MIN_BUCKET_SPAN_SECONDS = 0.25;

export function buildReport(inputs: ReportInputs): LoadReport {
  const { options, recorder } = inputs;
  const { plan } = options;
  const durationSeconds = Math.max(0, (inputs.endMs - recorder.startMs) / 1000);
  const perSecond = (count: number): number => round3(durationSeconds > 0 ? count / durationSeconds : 0);
  const report: LoadReport = {
    url: options.request.url.href,
    mode: plan.mode,
    method: options.request.method,
    ...(plan.mode === 'closed' ? { concurrency: plan.concurrency } : {}),
    ...(plan.mode === 'open' && plan.stages.length === 1 ? { targetRatePerSecond: plan.startRatePerSecond } : {}),
    connections: inputs.connections,
    durationSeconds: round3(durationSeconds),
    clients: clientBehaviour(options),
    requests: recorder.requests,
    responses: recorder.responses,
    throughputPerSecond: perSecond(recorder.requests),
    offered: recorder.offered,
    served: recorder.served,
    refused: recorder.refused,
    otherResponses: recorder.responses - recorder.served - recorder.refused,
    throttled: recorder.throttled,
    refusalRatio: recorder.responses > 0 ? Math.round((recorder.refused / recorder.responses) * 10_000) / 10_000 : 0,
    offeredPerSecond: perSecond(recorder.offered),
    servedPerSecond: perSecond(recorder.served),
    refusedPerSecond: perSecond(recorder.refused),
    throttledPerSecond: perSecond(recorder.throttled),
    connectionsOpened: inputs.connectionsOpened,
    statusCounts: Object.fromEntries([...recorder.statusCounts()].map(([code, count]) => [String(code), count])),
    errors: Object.fromEntries([...recorder.errorCounts].sort(([a], [b]) => a.localeCompare(b))),
    latency: summarize(recorder.latencyUs),
    refusalLatency: summarize(recorder.refusalLatencyUs),
    timeline: timeline(recorder, durationSeconds),
    latencyHistogram: histogramBins(recorder.histogramBins),
  };
  if (plan.mode === 'open' && plan.stages.length > 1) {
    report.stages = plan.stages.map((_, index) => {
      const bounds = plan.schedule.stageBounds(index);
      const stage = recorder.stages[index];
      const latency = stage?.latencyUs;
      const served = stage?.served ?? 0;
      const refused = stage?.refused ?? 0;
      const answers = (stage?.requests ?? 0) - (stage?.errors ?? 0);
      return {
        index,
        startSeconds: round3(bounds.startMs / 1000),
        durationSeconds: round3(bounds.durationMs / 1000),
        fromRatePerSecond: round3(bounds.fromRatePerSecond),
        targetRatePerSecond: round3(bounds.targetRatePerSecond),
        requests: stage?.requests ?? 0,
        served,
        refused,
        throttled: stage?.throttled ?? 0,
        goodputPerSecond: round3(bounds.durationMs > 0 ? (served * 1000) / bounds.durationMs : 0),
        refusalRatio: answers > 0 ? Math.round((refused / answers) * 10_000) / 10_000 : 0,
        p50: latency && served > 0 ? toMs(latency, 50) : 0,
        p95: latency && served > 0 ? toMs(latency, 95) : 0,
        p99: latency && served > 0 ? toMs(latency, 99) : 0,
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

function clientBehaviour(options: HttpRunOptions): ClientBehaviourReport {
  const { plan, adaptiveThrottleK } = options;
  const throttle = adaptiveThrottleK === undefined ? {} : { adaptiveThrottleK };
  if (plan.mode === 'open') return { retry: 'never', ...throttle };
  if (plan.retry.kind === 'immediate') return { retry: 'immediately', ...throttle };
  return { retry: 'retry-after', retryAfterJitter: plan.retry.jitter, ...throttle };
}

function timeline(recorder: LoadRecorder, durationSeconds: number): TimelinePoint[] {
  return recorder.timeline.map((bucket, tSeconds) => {
    // The last bucket is usually partial; dividing by its real span keeps the rate honest.
    const spanSeconds = Math.max(MIN_BUCKET_SPAN_SECONDS, Math.min(1, durationSeconds - tSeconds));
    const empty = bucket.latencyUs.totalCount === 0;
    const rate = (count: number): number => round3(count / spanSeconds);
    return {
      tSeconds,
      requests: bucket.requests,
      errors: bucket.errors,
      throughputPerSecond: rate(bucket.requests),
      offered: bucket.offered,
      served: bucket.served,
      refused: bucket.refused,
      throttled: bucket.throttled,
      offeredPerSecond: rate(bucket.offered),
      servedPerSecond: rate(bucket.served),
      refusedPerSecond: rate(bucket.refused),
      p50: empty ? 0 : toMs(bucket.latencyUs, 50),
      p95: empty ? 0 : toMs(bucket.latencyUs, 95),
      p99: empty ? 0 : toMs(bucket.latencyUs, 99),
    };
  });
}
