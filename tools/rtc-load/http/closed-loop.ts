import type { ClosedLoopPlan } from './args.ts';
import { LoadLoop, type LoopContext } from './loop-base.ts';
import type { RequestSlot } from './target.ts';

/**
 * `concurrency` requests in flight; each completion sends the next, until the request
 * count or the duration is reached. Latency counts from the actual send, so a stalled
 * server also stalls the sending (coordinated omission): use the open loop to see that.
 */
export class ClosedLoop extends LoadLoop {
  readonly #plan: ClosedLoopPlan;
  #issued = 0;
  #deadlineMs = Number.POSITIVE_INFINITY;

  constructor(context: LoopContext, plan: ClosedLoopPlan) {
    super(context);
    this.#plan = plan;
  }

  protected begin(): void {
    if (this.#plan.durationMs !== undefined) this.#deadlineMs = this.context.recorder.startMs + this.#plan.durationMs;
    const first = Math.min(this.#plan.concurrency, this.#plan.requests ?? Number.POSITIVE_INFINITY);
    for (let i = 0; i < first; i += 1) this.onSlotFree(this.newSlot());
    if (first === 0) this.finish();
  }

  protected onSlotFree(slot: RequestSlot): void {
    const nowMs = performance.now();
    const limitReached = this.#plan.requests !== undefined && this.#issued >= this.#plan.requests;
    if (this.stopped || limitReached || nowMs >= this.#deadlineMs) {
      if (this.inFlight === 0) this.finish();
      return;
    }
    this.#issued += 1;
    this.send(slot, nowMs, nowMs, -1);
  }

  protected latencyOriginMs(slot: RequestSlot): number {
    return slot.sentAtMs;
  }
}
