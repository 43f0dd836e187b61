import type { OpenLoopPlan } from './args.ts';
import { LoadLoop, type LoopContext } from './loop-base.ts';
import type { RequestSlot } from './target.ts';

/** Sends per timer tick at most; the rest go on the next turn so I/O is not starved. */
const MAX_SENDS_PER_TICK = 2000;

/**
 * Requests leave on the schedule's timetable whatever the server does (wrk2-style). Latency
 * is measured from each request's intended send time, so time spent queued behind a stalled
 * server, or behind a late timer, is counted.
 *
 * Each scheduled request stands for a new arrival and is sent once: a refusal is its outcome,
 * never retried (retrying would add load the schedule does not show). With --adaptive-throttle
 * a due request may be rejected locally instead, as the client library in front of the callers
 * would; it still counts in its stage, as throttled.
 */
export class OpenLoop extends LoadLoop {
  readonly #plan: OpenLoopPlan;
  readonly #free: RequestSlot[] = [];
  #nextIndex = 0;
  #timer: NodeJS.Timeout | undefined;

  constructor(context: LoopContext, plan: OpenLoopPlan) {
    super(context);
    this.#plan = plan;
  }

  override stop(): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    super.stop();
  }

  protected begin(): void {
    this.#tick();
  }

  protected onSlotFree(slot: RequestSlot): void {
    this.#free.push(slot);
    if (this.#nextIndex >= this.#plan.schedule.totalSends && this.inFlight === 0) this.finish();
  }

  protected latencyOriginMs(slot: RequestSlot): number {
    return slot.intendedAtMs;
  }

  #tick(): void {
    this.#timer = undefined;
    if (this.stopped) return;
    const { schedule } = this.#plan;
    const startMs = this.context.recorder.startMs;
    const nowMs = performance.now();
    const elapsedMs = nowMs - startMs;
    let sent = 0;
    while (this.#nextIndex < schedule.totalSends && sent < MAX_SENDS_PER_TICK) {
      const intendedOffsetMs = schedule.intendedTimeMs(this.#nextIndex);
      if (intendedOffsetMs > elapsedMs) break;
      const stageIndex = schedule.stageIndexAt(intendedOffsetMs);
      this.#nextIndex += 1;
      sent += 1;
      if (this.throttled(nowMs, stageIndex)) continue;
      const slot = this.#free.pop() ?? this.newSlot();
      this.send(slot, nowMs, startMs + intendedOffsetMs, stageIndex);
    }
    if (this.#nextIndex >= schedule.totalSends) {
      if (this.inFlight === 0) this.finish();
      return;
    }
    const waitMs = startMs + schedule.intendedTimeMs(this.#nextIndex) - performance.now();
    if (sent >= MAX_SENDS_PER_TICK || waitMs <= 0) this.#timer = setTimeout(() => this.#tick(), 0);
    else this.#timer = setTimeout(() => this.#tick(), waitMs);
  }
}
