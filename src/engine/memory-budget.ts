/**
 * The pod's in-flight byte budget (MEMORY_BUDGET_BYTES): every request reserves the bytes it is
 * about to buffer, decode, copy or encode before it does so, and gives them back when it ends. A
 * reservation that does not fit is refused at once, so memory is bounded by bytes, not by a count
 * of jobs whose sizes the clients choose.
 */
export class MemoryBudget {
  readonly limitBytes: number;
  /** What one client may hold (MEMORY_CLIENT_SHARE of the budget): slow uploads from one address cannot hold it all. */
  readonly clientLimitBytes: number;
  #inUseBytes = 0;
  /** Bytes held per client (entries leave at zero: bounded by the reservations). */
  readonly #clients = new Map<string, number>();

  constructor(limitBytes: number, clientShare = 1) {
    this.limitBytes = limitBytes;
    this.clientLimitBytes = Math.floor(limitBytes * clientShare);
  }

  get inUseBytes(): number {
    return this.#inUseBytes;
  }

  /** A reservation of `bytes` (for `client`, if given), or undefined when they do not fit. */
  tryReserve(bytes: number, client?: string): MemoryReservation | undefined {
    if (!this.take(bytes, client)) return undefined;
    return new MemoryReservation(this, bytes, client);
  }

  /** @internal */
  take(bytes: number, client: string | undefined): boolean {
    if (!(bytes >= 0) || this.#inUseBytes + bytes > this.limitBytes) return false;
    if (client !== undefined) {
      const held = this.#clients.get(client) ?? 0;
      if (held + bytes > this.clientLimitBytes) return false;
      this.#clients.set(client, held + bytes);
    }
    this.#inUseBytes += bytes;
    return true;
  }

  /** @internal */
  give(bytes: number, client: string | undefined): void {
    this.#inUseBytes = Math.max(0, this.#inUseBytes - bytes);
    if (client === undefined) return;
    const left = (this.#clients.get(client) ?? 0) - bytes;
    if (left <= 0) this.#clients.delete(client);
    else this.#clients.set(client, left);
  }
}

/** Bytes held against a MemoryBudget; `release` is idempotent. */
export class MemoryReservation {
  readonly #budget: MemoryBudget;
  readonly #client: string | undefined;
  #bytes: number;
  #released = false;

  constructor(budget: MemoryBudget, bytes: number, client: string | undefined) {
    this.#budget = budget;
    this.#bytes = bytes;
    this.#client = client;
  }

  get bytes(): number {
    return this.#bytes;
  }

  /** Adds `bytes` to the reservation; false (and nothing taken) when they do not fit. */
  grow(bytes: number): boolean {
    if (this.#released || !this.#budget.take(bytes, this.#client)) return false;
    this.#bytes += bytes;
    return true;
  }

  /** Gives back what the reservation holds beyond `bytes` (the body turned out smaller). */
  shrinkTo(bytes: number): void {
    if (this.#released || bytes >= this.#bytes) return;
    this.#budget.give(this.#bytes - bytes, this.#client);
    this.#bytes = bytes;
  }

  release(): void {
    if (this.#released) return;
    this.#released = true;
    this.#budget.give(this.#bytes, this.#client);
    this.#bytes = 0;
  }
}
