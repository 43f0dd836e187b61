/**
 * The pod's in-flight byte budget (MEMORY_BUDGET_BYTES): every request reserves the bytes it is
 * about to buffer, decode, copy or encode before it does so, and gives them back when it ends. A
 * reservation that does not fit is refused at once, so memory is bounded by bytes, not by a count
 * of jobs whose sizes the clients choose.
 */
export class MemoryBudget {
  readonly limitBytes: number;
  #inUseBytes = 0;

  constructor(limitBytes: number) {
    this.limitBytes = limitBytes;
  }

  get inUseBytes(): number {
    return this.#inUseBytes;
  }

  /** A reservation of `bytes`, or undefined when they do not fit. */
  tryReserve(bytes: number): MemoryReservation | undefined {
    if (!this.#take(bytes)) return undefined;
    return new MemoryReservation(this, bytes);
  }

  /** @internal */
  take(bytes: number): boolean {
    return this.#take(bytes);
  }

  /** @internal */
  give(bytes: number): void {
    this.#inUseBytes = Math.max(0, this.#inUseBytes - bytes);
  }

  #take(bytes: number): boolean {
    if (!(bytes >= 0) || this.#inUseBytes + bytes > this.limitBytes) return false;
    this.#inUseBytes += bytes;
    return true;
  }
}

/** Bytes held against a MemoryBudget; `release` is idempotent. */
export class MemoryReservation {
  readonly #budget: MemoryBudget;
  #bytes: number;
  #released = false;

  constructor(budget: MemoryBudget, bytes: number) {
    this.#budget = budget;
    this.#bytes = bytes;
  }

  get bytes(): number {
    return this.#bytes;
  }

  /** Adds `bytes` to the reservation; false (and nothing taken) when they do not fit. */
  grow(bytes: number): boolean {
    if (this.#released || !this.#budget.take(bytes)) return false;
    this.#bytes += bytes;
    return true;
  }

  /** Gives back what the reservation holds beyond `bytes` (the body turned out smaller). */
  shrinkTo(bytes: number): void {
    if (this.#released || bytes >= this.#bytes) return;
    this.#budget.give(this.#bytes - bytes);
    this.#bytes = bytes;
  }

  release(): void {
    if (this.#released) return;
    this.#released = true;
    this.#budget.give(this.#bytes);
    this.#bytes = 0;
  }
}
