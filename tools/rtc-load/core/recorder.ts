import { build, type Histogram } from 'hdr-histogram-js';
import { isRefusal } from './retry.ts';

/** Latencies are recorded in microseconds; an hour is far beyond any --timeout. */
const HIGHEST_TRACKABLE_US = 3_600_000_000;
const BUCKET_MS = 1000;
/** Log-spaced bins for the report's histogram: 8 per doubling, from 1 µs. */
export const HISTOGRAM_BINS_PER_OCTAVE = 8;
const HISTOGRAM_BIN_COUNT = 34 * HISTOGRAM_BINS_PER_OCTAVE;
const STATUS_SLOTS = 1000;

export interface TimelineBucket {
  /** Requests that finished in this second (responses and errors). */
  requests: number;
  errors: number;
  /** Requests sent in this second (by send time), retries included: what the server was offered. */
  offered: number;
  /** 2xx answers that arrived in this second. */
  served: number;
  /** 503 and 429 answers that arrived in this second. */
  refused: number;
  /** Requests the adaptive throttle rejected locally in this second (never sent). */
  throttled: number;
  /** Latency of this second's served (2xx) answers. */
  latencyUs: Histogram;
}

export function newLatencyHistogram(significantDigits: 2 | 3): Histogram {
  return build({
    lowestDiscernibleValue: 1,
    // Start small and grow on demand: most runs never see latencies above a few seconds.
    highestTrackableValue: 10_000_000,
    autoResize: true,
    numberOfSignificantValueDigits: significantDigits,
  });
}

/** Per stage of an open-loop plan, by intended send time. */
export interface StageCounts {
  /** Requests that finished (responses and errors). */
  requests: number;
  errors: number;
  served: number;
  refused: number;
  throttled: number;
  /** Served (2xx) latency. */
  latencyUs: Histogram;
}

/**
 * Everything a run observes. Each record call does a few array increments and histogram
 * updates and allocates nothing once the current second's bucket exists.
 *
 * Outcomes are kept apart: served (2xx), refused (503, 429: the server shed the work), other
 * statuses, transport errors, and throttled (rejected by the client itself, never sent). Latency
 * percentiles are of served answers only: under overload refusals come back fast (or after a
 * queue wait) and would otherwise pull the percentiles towards whatever refusing costs.
 */
export class LoadRecorder {
  readonly startMs: number;
  /** Served (2xx) responses, 3 significant digits. */
  readonly latencyUs: Histogram = newLatencyHistogram(3);
  /** Refused (503, 429) responses, apart. */
  readonly refusalLatencyUs: Histogram = newLatencyHistogram(3);
  /** Per stage (open loop with stages), indexed like the stages. */
  readonly stages: StageCounts[];
  readonly timeline: TimelineBucket[] = [];
  /** Served latency in log-spaced bins, for the report's histogram. */
  readonly histogramBins = new Float64Array(HISTOGRAM_BIN_COUNT);
  readonly errorCounts = new Map<string, number>();
  readonly #statusCounts = new Float64Array(STATUS_SLOTS);
  responses = 0;
  errors = 0;
  /** Requests sent, retries included. */
  offered = 0;
  served = 0;
  refused = 0;
  throttled = 0;
  lastCompletionMs: number;

  constructor(startMs: number, stageCount = 0) {
    this.startMs = startMs;
    this.lastCompletionMs = startMs;
    this.stages = Array.from({ length: stageCount }, () => ({ requests: 0, errors: 0, served: 0, refused: 0, throttled: 0, latencyUs: newLatencyHistogram(3) }));
  }

  /** Finished requests: responses and transport errors. */
  get requests(): number {
    return this.responses + this.errors;
  }

  /** A request left for the server at `sentAtMs`. */
  recordSent(sentAtMs: number): void {
    this.offered += 1;
    this.#bucketAt(sentAtMs).offered += 1;
  }

  /** The adaptive throttle rejected a request at `atMs`; it was never sent. */
  recordThrottled(atMs: number, stageIndex: number): void {
    this.throttled += 1;
    this.#bucketAt(atMs).throttled += 1;
    const stage = this.stages[stageIndex];
    if (stage !== undefined) stage.throttled += 1;
  }

  recordResponse(statusCode: number, latencyMs: number, completedAtMs: number, stageIndex: number): void {
    const latencyUs = Math.min(HIGHEST_TRACKABLE_US, Math.max(1, Math.round(latencyMs * 1000)));
    this.responses += 1;
    const bucket = this.#completedAt(completedAtMs);
    bucket.requests += 1;
    if (statusCode >= 0 && statusCode < STATUS_SLOTS) this.#statusCounts[statusCode] = (this.#statusCounts[statusCode] ?? 0) + 1;
    const stage = this.stages[stageIndex];
    if (stage !== undefined) stage.requests += 1;
    if (statusCode >= 200 && statusCode <= 299) {
      this.served += 1;
      bucket.served += 1;
      this.latencyUs.recordValue(latencyUs);
      bucket.latencyUs.recordValue(latencyUs);
      const bin = Math.min(HISTOGRAM_BIN_COUNT - 1, Math.floor(Math.log2(latencyUs) * HISTOGRAM_BINS_PER_OCTAVE));
      this.histogramBins[bin] = (this.histogramBins[bin] ?? 0) + 1;
      if (stage !== undefined) {
        stage.served += 1;
        stage.latencyUs.recordValue(latencyUs);
      }
    } else if (isRefusal(statusCode)) {
      this.refused += 1;
      bucket.refused += 1;
      this.refusalLatencyUs.recordValue(latencyUs);
      if (stage !== undefined) stage.refused += 1;
    }
  }

  recordError(cause: string, completedAtMs: number, stageIndex: number): void {
    this.errors += 1;
    this.errorCounts.set(cause, (this.errorCounts.get(cause) ?? 0) + 1);
    const bucket = this.#completedAt(completedAtMs);
    bucket.requests += 1;
    bucket.errors += 1;
    const stage = this.stages[stageIndex];
    if (stage !== undefined) {
      stage.requests += 1;
      stage.errors += 1;
    }
  }

  /** Status code → count, codes in ascending order. */
  statusCounts(): Map<number, number> {
    const counts = new Map<number, number>();
    this.#statusCounts.forEach((count, statusCode) => {
      if (count > 0) counts.set(statusCode, count);
    });
    return counts;
  }

  /** Responses that were not 2xx. */
  nonSuccessResponses(): number {
    let count = 0;
    this.#statusCounts.forEach((n, statusCode) => {
      if (statusCode < 200 || statusCode > 299) count += n;
    });
    return count;
  }

  #completedAt(completedAtMs: number): TimelineBucket {
    if (completedAtMs > this.lastCompletionMs) this.lastCompletionMs = completedAtMs;
    return this.#bucketAt(completedAtMs);
  }

  #bucketAt(atMs: number): TimelineBucket {
    const index = Math.max(0, Math.floor((atMs - this.startMs) / BUCKET_MS));
    let bucket = this.timeline[index];
    if (bucket === undefined) {
      for (let i = this.timeline.length; i <= index; i += 1) {
        this.timeline[i] = { requests: 0, errors: 0, offered: 0, served: 0, refused: 0, throttled: 0, latencyUs: newLatencyHistogram(2) };
      }
      bucket = this.timeline[index] as TimelineBucket;
    }
    return bucket;
  }
}
