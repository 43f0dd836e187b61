/**
 * How one job is stopped, wherever it is: waiting for a worker (it leaves the waiting room) or on
 * a worker (the shared flag the worker reads between passes). Cheaper than an AbortController and a
 * SharedArrayBuffer per job: a storm's jobs mostly never reach a worker, so the flag is made only
 * for the ones that do.
 */
export type StopReason = 'client_gone' | 'deadline';

export class JobStop {
  #reason: StopReason | undefined;
  #flag: Int32Array | undefined;
  #listener: (() => void) | undefined;

  get reason(): StopReason | undefined {
    return this.#reason;
  }

  /** The Int32 flag a worker reads: non-zero once stopped (made on first use). */
  get flag(): SharedArrayBuffer {
    this.#flag ??= new Int32Array(new SharedArrayBuffer(4));
    if (this.#reason !== undefined) Atomics.store(this.#flag, 0, 1);
    return this.#flag.buffer as SharedArrayBuffer;
  }

  /** One listener (the dispatcher's, while the job waits); undefined removes it. */
  set listener(listener: (() => void) | undefined) {
    this.#listener = listener;
  }

  /** Stops the job (the first reason wins); idempotent. */
  stop(reason: StopReason): void {
    if (this.#reason !== undefined) return;
    this.#reason = reason;
    if (this.#flag) Atomics.store(this.#flag, 0, 1);
    this.#listener?.();
  }
}
