export interface RollingCountsOptions {
  readonly windowSeconds: number;
  /** How many slots the window is cut into: finer slots forget old events more smoothly. */
  readonly slots?: number;
  /** Clock in milliseconds (injectable for tests). */
  readonly nowMs?: () => number;
}

/**
 * Counts of a few kinds of event over the last `windowSeconds`: a ring of slots, each holding one
 * count per kind. Recording is O(1) and allocation-free; reading sums the live slots.
 */
export class RollingCounts<K extends string> {
  readonly #kinds: readonly K[];
  readonly #slotMs: number;
  /** Slot i's count of kind k is at i * kinds + k. */
  readonly #counts: Float64Array;
  readonly #slotEpoch: Float64Array;
  readonly #now: () => number;
  readonly windowSeconds: number;

  constructor(kinds: readonly K[], options: RollingCountsOptions) {
    const slots = options.slots ?? 12;
    this.#kinds = kinds;
    this.windowSeconds = options.windowSeconds;
    this.#slotMs = (options.windowSeconds * 1000) / slots;
    this.#now = options.nowMs ?? (() => performance.now());
    this.#counts = new Float64Array(slots * kinds.length);
    this.#slotEpoch = new Float64Array(slots).fill(-1);
  }

  record(kind: K, count = 1): void {
    const k = this.#kinds.indexOf(kind);
    if (k < 0) return;
    const epoch = Math.floor(this.#now() / this.#slotMs);
    const slot = epoch % this.#slotEpoch.length;
    if (this.#slotEpoch[slot] !== epoch) {
      this.#counts.fill(0, slot * this.#kinds.length, (slot + 1) * this.#kinds.length);
      this.#slotEpoch[slot] = epoch;
    }
    this.#counts[slot * this.#kinds.length + k]! += count;
  }

  /** Each kind's count inside the window. */
  totals(): Record<K, number> {
    const epoch = Math.floor(this.#now() / this.#slotMs);
    const oldest = epoch - this.#slotEpoch.length + 1;
    const out = Object.fromEntries(this.#kinds.map((kind) => [kind, 0])) as Record<K, number>;
    for (let slot = 0; slot < this.#slotEpoch.length; slot++) {
      const e = this.#slotEpoch[slot]!;
      if (e < oldest || e > epoch) continue;
      this.#kinds.forEach((kind, k) => {
        out[kind] += this.#counts[slot * this.#kinds.length + k]!;
      });
    }
    return out;
  }
}
