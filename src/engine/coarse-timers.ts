/**
 * Timers that fire on a coarse tick: every callback due in the same `tickMs` slot runs in one
 * wake-up of the event loop. Under a surge the waiting room and the held refusals set a timer per
 * request; each firing alone is an event-loop wake-up (a system call and a context switch, dear on
 * a virtual machine), and hundreds a second of them cost more than the refusals they send. A
 * callback runs at most `tickMs` late, never early.
 */
export class CoarseTimers {
  readonly #tickMs: number;
  /** Callbacks by the tick they are due at; a tick's timer fires them all. */
  readonly #slots = new Map<number, Set<() => void>>();

  constructor(tickMs: number) {
    this.#tickMs = tickMs;
  }

  /** Runs `callback` `delayMs` from now (rounded up to the tick); returns its cancel. */
  schedule(callback: () => void, delayMs: number): () => void {
    const tick = Math.ceil((performance.now() + Math.max(0, delayMs)) / this.#tickMs);
    let slot = this.#slots.get(tick);
    if (!slot) {
      const due = slot = new Set();
      this.#slots.set(tick, due);
      setTimeout(() => {
        this.#slots.delete(tick);
        for (const fire of due) fire();
      }, Math.max(0, tick * this.#tickMs - performance.now()));
    }
    slot.add(callback);
    return () => slot.delete(callback);
  }
}

/** The process's coarse timers (20 ms ticks): the waiting room's wait limit and the held refusals. */
export const coarseTimers = new CoarseTimers(20);
