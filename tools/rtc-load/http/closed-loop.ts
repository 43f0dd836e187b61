import { DEFAULT_RETRY_AFTER_SECONDS, isRefusal, jitteredDelayMs, type RetryPolicy } from '../core/retry.ts';
import type { ClosedLoopPlan } from './args.ts';
import { LoadLoop, type LoopContext } from './loop-base.ts';
import type { RequestSlot } from './target.ts';

/** setTimeout's ceiling (about 24.8 days); a longer Retry-After would otherwise fire at once. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * `concurrency` clients, each with one request in flight; each answer sends the client's next
 * request, until the attempt count or the duration is reached. Latency counts from the actual
 * send, so a stalled server also stalls the sending (coordinated omission): use the open loop to
 * see that.
 *
 * After a refusal (503, 429) the plan's retry policy decides: the storm client sends again at
 * once; the polite client waits Retry-After (jittered) first. A request the adaptive throttle
 * rejects locally is a refusal the client gave itself: the polite client waits as it would after
 * the server's last Retry-After. Attempts (bounded by -n) are sends and throttled requests.
 */
export class ClosedLoop extends LoadLoop {
  readonly #plan: ClosedLoopPlan;
  readonly #random: () => number;
  #attempts = 0;
  #deadlineMs = Number.POSITIVE_INFINITY;
  /** Clients waiting out a Retry-After, by their wake-up timer. */
  readonly #waiting = new Set<NodeJS.Timeout>();
  /** The server's latest advice, for waits after a local rejection. */
  #lastRetryAfterSeconds = DEFAULT_RETRY_AFTER_SECONDS;

  constructor(context: LoopContext, plan: ClosedLoopPlan, random: () => number = Math.random) {
    super(context);
    this.#plan = plan;
    this.#random = random;
  }

  override stop(): void {
    for (const timer of this.#waiting) clearTimeout(timer);
    this.#waiting.clear();
    super.stop();
  }

  protected begin(): void {
    if (this.#plan.durationMs !== undefined) this.#deadlineMs = this.context.recorder.startMs + this.#plan.durationMs;
    const first = Math.min(this.#plan.concurrency, this.#plan.requests ?? Number.POSITIVE_INFINITY);
    for (let i = 0; i < first; i += 1) this.#next(this.newSlot());
    if (first === 0) this.finish();
  }

  protected onSlotFree(slot: RequestSlot): void {
    const retry: RetryPolicy = this.#plan.retry;
    if (isRefusal(slot.statusCode) && retry.kind === 'retry-after') {
      const retryAfterSeconds = slot.retryAfterSeconds ?? DEFAULT_RETRY_AFTER_SECONDS;
      this.#lastRetryAfterSeconds = retryAfterSeconds;
      this.#wait(slot, jitteredDelayMs(retryAfterSeconds, retry.jitter, this.#random));
      return;
    }
    this.#next(slot);
  }

  protected latencyOriginMs(slot: RequestSlot): number {
    return slot.sentAtMs;
  }

  /** The client's next attempt: send, be throttled (and wait), or end. */
  #next(slot: RequestSlot): void {
    if (this.stopped) return;
    const nowMs = performance.now();
    const limitReached = this.#plan.requests !== undefined && this.#attempts >= this.#plan.requests;
    if (limitReached || nowMs >= this.#deadlineMs) {
      this.#finishIfIdle();
      return;
    }
    this.#attempts += 1;
    if (this.throttled(nowMs, -1)) {
      const jitter = this.#plan.retry.kind === 'retry-after' ? this.#plan.retry.jitter : 0;
      this.#wait(slot, jitteredDelayMs(this.#lastRetryAfterSeconds, jitter, this.#random));
      return;
    }
    this.send(slot, nowMs, nowMs, -1);
  }

  /** Parks the client for `delayMs`; a wait that would outlast the run ends the client instead. */
  #wait(slot: RequestSlot, delayMs: number): void {
    const untilDeadlineMs = this.#deadlineMs - performance.now();
    // Timers may fire a little early: a client woken by the deadline must not send once more.
    const pastDeadline = delayMs >= untilDeadlineMs;
    const timer = setTimeout(
      () => {
        this.#waiting.delete(timer);
        if (pastDeadline) this.#finishIfIdle();
        else this.#next(slot);
      },
      Math.max(0, Math.min(delayMs, untilDeadlineMs, MAX_TIMER_MS)),
    );
    this.#waiting.add(timer);
  }

  #finishIfIdle(): void {
    if (this.inFlight === 0 && this.#waiting.size === 0) this.finish();
  }
}
