/**
 * Held refusals: a /process refusal (the waiting room's) is answered no sooner than
 * REFUSAL_HOLD_SECONDS after its request arrived. A client that honours Retry-After loses nothing
 * by it (it would not come back sooner); a client that retries at once (a retry loop, a load test,
 * an impatient app) is slowed to one request per hold per connection instead of costing the main
 * thread a request every few microseconds, which is what turns a surge into a metastable overload
 * (the pod busy refusing while its workers idle). The same as HAProxy's tarpit, bounded: at most
 * MAX_HELD_REFUSALS at once; past that a refusal is answered at once and closes its connection,
 * so that the client pays for a new one.
 */
import type { FastifyReply } from 'fastify';
import { coarseTimers } from '../engine/coarse-timers.ts';

export interface RefusalHoldOptions {
  readonly holdSeconds: number;
  readonly maxHeld: number;
}

export class RefusalHold {
  readonly #holdMs: number;
  readonly #maxHeld: number;
  #held = 0;

  constructor(options: RefusalHoldOptions) {
    this.#holdMs = options.holdSeconds * 1000;
    this.#maxHeld = options.maxHeld;
  }

  /** Refusals waiting to be sent now. */
  get held(): number {
    return this.#held;
  }

  /**
   * Resolves when the refusal of `reply`'s request may be sent: at REFUSAL_HOLD_SECONDS after its
   * arrival, or at once (with Connection: close) when MAX_HELD_REFUSALS are held already, or when
   * the client has gone.
   */
  async hold(reply: FastifyReply): Promise<void> {
    const waitMs = this.#holdMs - reply.elapsedTime;
    if (waitMs <= 0 || reply.raw.destroyed) return;
    if (this.#held >= this.#maxHeld) {
      reply.header('connection', 'close');
      return;
    }
    this.#held++;
    try {
      await new Promise<void>((resolve) => {
        const socket = reply.raw;
        const done = () => {
          cancel();
          socket.off('close', done);
          resolve();
        };
        const cancel = coarseTimers.schedule(done, waitMs);
        socket.once('close', done);
      });
    } finally {
      this.#held--;
    }
  }
}
