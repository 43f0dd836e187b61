/** One step of an open-loop plan: ramp linearly to `targetRatePerSecond` over `durationMs`. */
export interface Stage {
  durationMs: number;
  targetRatePerSecond: number;
}

interface Segment {
  startMs: number;
  durationMs: number;
  fromRatePerMs: number;
  toRatePerMs: number;
  /** Sends due before this segment starts. */
  startCount: number;
  /** Sends due within this segment (fractional). */
  count: number;
}

/**
 * The intended send times of an open-loop run, as a piecewise-linear rate.
 * Send number i is intended at the instant the cumulative rate integral reaches i,
 * so latency can be measured from when a request should have left, not when it did.
 */
export class RateSchedule {
  readonly durationMs: number;
  readonly peakRatePerSecond: number;
  /** Number of sends in the whole plan. */
  readonly totalSends: number;
  readonly #segments: Segment[];
  #cursor = 0;

  constructor(startRatePerSecond: number, stages: readonly Stage[]) {
    const segments: Segment[] = [];
    let startMs = 0;
    let startCount = 0;
    let fromRatePerMs = startRatePerSecond / 1000;
    let peakRatePerSecond = startRatePerSecond;
    for (const stage of stages) {
      const toRatePerMs = stage.targetRatePerSecond / 1000;
      const count = ((fromRatePerMs + toRatePerMs) / 2) * stage.durationMs;
      segments.push({ startMs, durationMs: stage.durationMs, fromRatePerMs, toRatePerMs, startCount, count });
      startMs += stage.durationMs;
      startCount += count;
      fromRatePerMs = toRatePerMs;
      peakRatePerSecond = Math.max(peakRatePerSecond, stage.targetRatePerSecond);
    }
    this.#segments = segments;
    this.durationMs = startMs;
    this.peakRatePerSecond = peakRatePerSecond;
    // A send whose intended time is exactly the end belongs to the next run, hence ceil.
    this.totalSends = Math.ceil(startCount - 1e-9);
  }

  static constant(ratePerSecond: number, durationMs: number): RateSchedule {
    return new RateSchedule(ratePerSecond, [{ durationMs, targetRatePerSecond: ratePerSecond }]);
  }

  get stageCount(): number {
    return this.#segments.length;
  }

  /** Sends due by `elapsedMs` since the start (fractional). */
  countAt(elapsedMs: number): number {
    if (elapsedMs <= 0) return 0;
    for (const segment of this.#segments) {
      const offsetMs = elapsedMs - segment.startMs;
      if (offsetMs > segment.durationMs) continue;
      const slopePerMs2 = (segment.toRatePerMs - segment.fromRatePerMs) / segment.durationMs;
      return segment.startCount + segment.fromRatePerMs * offsetMs + (slopePerMs2 * offsetMs * offsetMs) / 2;
    }
    return this.totalSends;
  }

  /**
   * Intended time (ms since start) of send number `index` (0-based). Calls are expected
   * with increasing indices; a cursor keeps that O(1).
   */
  intendedTimeMs(index: number): number {
    let segment = this.#segments[this.#cursor];
    while (segment && index >= segment.startCount + segment.count && this.#cursor < this.#segments.length - 1) {
      this.#cursor += 1;
      segment = this.#segments[this.#cursor];
    }
    while (segment && index < segment.startCount && this.#cursor > 0) {
      this.#cursor -= 1;
      segment = this.#segments[this.#cursor];
    }
    if (!segment) return 0;
    const n = index - segment.startCount;
    if (n <= 0) return segment.startMs;
    const a = segment.fromRatePerMs;
    const slopePerMs2 = (segment.toRatePerMs - a) / segment.durationMs;
    // Root of a*t + k*t^2/2 = n, in the form that stays exact as k approaches 0.
    const root = Math.sqrt(Math.max(0, a * a + 2 * slopePerMs2 * n));
    const denominator = a + root;
    const offsetMs = denominator > 0 ? (2 * n) / denominator : segment.durationMs;
    return segment.startMs + Math.min(offsetMs, segment.durationMs);
  }

  /** Index of the stage that contains `elapsedMs` (the last stage past the end). */
  stageIndexAt(elapsedMs: number): number {
    for (let i = 0; i < this.#segments.length; i += 1) {
      const segment = this.#segments[i];
      if (segment && elapsedMs < segment.startMs + segment.durationMs) return i;
    }
    return Math.max(0, this.#segments.length - 1);
  }

  stageBounds(index: number): { startMs: number; durationMs: number; fromRatePerSecond: number; targetRatePerSecond: number } {
    const segment = this.#segments[index];
    if (!segment) return { startMs: 0, durationMs: 0, fromRatePerSecond: 0, targetRatePerSecond: 0 };
    return {
      startMs: segment.startMs,
      durationMs: segment.durationMs,
      fromRatePerSecond: segment.fromRatePerMs * 1000,
      targetRatePerSecond: segment.toRatePerMs * 1000,
    };
  }
}
