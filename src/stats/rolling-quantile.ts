import * as hdr from 'hdr-histogram-js';

export interface RollingQuantileOptions {
  readonly windowSeconds: number;
  /** How many slots the window is cut into: finer slots forget old samples more smoothly. */
  readonly slots?: number;
  /** Clock in milliseconds (injectable for tests). */
  readonly nowMs?: () => number;
}

/**
 * Quantiles of the samples of the last `windowSeconds`, without keeping or sorting samples: a ring
 * of HDR histograms, one per time slot. Recording is O(1); reading merges the live slots (a few
 * thousand counters), which happens once per scrape. Values are recorded in microseconds, three
 * significant digits, up to one hour.
 */
export class RollingQuantile {
  readonly #slotMs: number;
  readonly #slots: hdr.Histogram[];
  readonly #slotEpoch: number[];
  readonly #merged: hdr.Histogram;
  readonly #now: () => number;

  constructor(options: RollingQuantileOptions) {
    const count = options.slots ?? 12;
    this.#slotMs = (options.windowSeconds * 1000) / count;
    this.#now = options.nowMs ?? (() => performance.now());
    const make = (): hdr.Histogram =>
      hdr.build({ lowestDiscernibleValue: 1, highestTrackableValue: 3_600_000_000, numberOfSignificantValueDigits: 3 });
    this.#slots = Array.from({ length: count }, make);
    this.#slotEpoch = new Array<number>(count).fill(-1);
    this.#merged = make();
  }

  recordSeconds(seconds: number): void {
    const epoch = Math.floor(this.#now() / this.#slotMs);
    const i = epoch % this.#slots.length;
    const slot = this.#slots[i]!;
    if (this.#slotEpoch[i] !== epoch) {
      slot.reset();
      this.#slotEpoch[i] = epoch;
    }
    slot.recordValue(Math.min(3_600_000_000, Math.max(1, Math.round(seconds * 1e6))));
  }

  /** The q-quantile (0..1) in seconds over the window; 0 when the window holds no sample. */
  quantileSeconds(q: number): number {
    const epoch = Math.floor(this.#now() / this.#slotMs);
    const oldest = epoch - this.#slots.length + 1;
    this.#merged.reset();
    this.#slots.forEach((slot, i) => {
      const e = this.#slotEpoch[i]!;
      if (e >= oldest && e <= epoch) this.#merged.add(slot);
    });
    if (this.#merged.totalCount === 0) return 0;
    return this.#merged.getValueAtPercentile(q * 100) / 1e6;
  }

  /** Samples currently inside the window. */
  count(): number {
    this.quantileSeconds(0.5);
    return this.#merged.totalCount;
  }
}
