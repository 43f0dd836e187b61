import { build, type Histogram } from 'hdr-histogram-js';

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

/**
 * Everything a run observes. Each record call does a few array increments and histogram
 * updates and allocates nothing once the current second's bucket exists.
 */
export class LoadRecorder {
  readonly startMs: number;
  /** All responses, 3 significant digits. */
  readonly latencyUs: Histogram = newLatencyHistogram(3);
  /** Per-stage latency (open loop with stages), indexed like the stages. */
  readonly stageLatencyUs: Histogram[];
  readonly stageRequests: number[];
  readonly timeline: TimelineBucket[] = [];
  readonly histogramBins = new Float64Array(HISTOGRAM_BIN_COUNT);
  readonly errorCounts = new Map<string, number>();
  readonly #statusCounts = new Float64Array(STATUS_SLOTS);
  responses = 0;
  errors = 0;
  lastCompletionMs: number;

  constructor(startMs: number, stageCount = 0) {
    this.startMs = startMs;
    this.lastCompletionMs = startMs;
    this.stageLatencyUs = Array.from({ length: stageCount }, () => newLatencyHistogram(3));
    this.stageRequests = Array.from({ length: stageCount }, () => 0);
  }

  get requests(): number {
    return this.responses + this.errors;
  }

  recordResponse(statusCode: number, latencyMs: number, completedAtMs: number, stageIndex: number): void {
    const latencyUs = Math.min(HIGHEST_TRACKABLE_US, Math.max(1, Math.round(latencyMs * 1000)));
    this.responses += 1;
    this.latencyUs.recordValue(latencyUs);
    const bucket = this.#bucketAt(completedAtMs);
    bucket.requests += 1;
    bucket.latencyUs.recordValue(latencyUs);
    if (statusCode >= 0 && statusCode < STATUS_SLOTS) this.#statusCounts[statusCode] = (this.#statusCounts[statusCode] ?? 0) + 1;
    const bin = Math.min(HISTOGRAM_BIN_COUNT - 1, Math.floor(Math.log2(latencyUs) * HISTOGRAM_BINS_PER_OCTAVE));
    this.histogramBins[bin] = (this.histogramBins[bin] ?? 0) + 1;
    const stageLatency = this.stageLatencyUs[stageIndex];
    if (stageLatency !== undefined) {
      stageLatency.recordValue(latencyUs);
      this.stageRequests[stageIndex] = (this.stageRequests[stageIndex] ?? 0) + 1;
    }
  }

  recordError(cause: string, completedAtMs: number, stageIndex: number): void {
    this.errors += 1;
    this.errorCounts.set(cause, (this.errorCounts.get(cause) ?? 0) + 1);
    const bucket = this.#bucketAt(completedAtMs);
    bucket.requests += 1;
    bucket.errors += 1;
    if (stageIndex >= 0 && stageIndex < this.stageRequests.length) {
      this.stageRequests[stageIndex] = (this.stageRequests[stageIndex] ?? 0) + 1;
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

  #bucketAt(completedAtMs: number): TimelineBucket {
    if (completedAtMs > this.lastCompletionMs) this.lastCompletionMs = completedAtMs;
    const index = Math.max(0, Math.floor((completedAtMs - this.startMs) / BUCKET_MS));
    let bucket = this.timeline[index];
    if (bucket === undefined) {
      for (let i = this.timeline.length; i <= index; i += 1) {
        this.timeline[i] = { requests: 0, errors: 0, latencyUs: newLatencyHistogram(2) };
      }
      bucket = this.timeline[index] as TimelineBucket;
    }
    return bucket;
  }
}
