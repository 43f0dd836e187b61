import type { Dispatcher } from 'undici';
import type { AdaptiveThrottle } from '../core/adaptive-throttle.ts';
import { RequestTimeoutError, errorCause } from '../core/error-cause.ts';
import type { LoadRecorder } from '../core/recorder.ts';
import { isRefusal } from '../core/retry.ts';
import { RequestSlot, type SlotOwner } from './target.ts';

export interface LoopContext {
  pool: Dispatcher;
  dispatchOptions: Dispatcher.DispatchOptions;
  recorder: LoadRecorder;
  timeoutMs: number;
  /** With --adaptive-throttle: decides which requests are rejected locally, never sent. */
  throttle?: AdaptiveThrottle | undefined;
}

/**
 * What closed and open loops share: slot bookkeeping, outcome recording, the timeout sweep
 * and stopping. Subclasses decide when the next request leaves.
 */
export abstract class LoadLoop implements SlotOwner {
  protected readonly context: LoopContext;
  protected readonly slots: RequestSlot[] = [];
  protected inFlight = 0;
  protected stopped = false;
  #sendDepth = 0;
  #resolveDone: (() => void) | undefined;
  #sweepTimer: NodeJS.Timeout | undefined;
  readonly #done: Promise<void>;

  constructor(context: LoopContext) {
    this.context = context;
    this.#done = new Promise<void>((resolve) => {
      this.#resolveDone = resolve;
    });
  }

  /** Resolves when every request the plan called for has finished, or after stop(). */
  run(): Promise<void> {
    // A tenth of the timeout keeps the overshoot small without scanning slots too often.
    const sweepIntervalMs = Math.min(250, Math.max(10, this.context.timeoutMs / 10));
    this.#sweepTimer = setInterval(() => this.#sweepTimeouts(), sweepIntervalMs);
    this.begin();
    return this.#done;
  }

  /** Stops sending; requests still in flight are dropped without being counted. */
  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    for (const slot of this.slots) {
      if (slot.busy) slot.giveUp(new RequestTimeoutError('run stopped'), performance.now(), false);
    }
    this.inFlight = 0;
    this.finish();
  }

  onSlotResponse(slot: RequestSlot, statusCode: number, nowMs: number): void {
    this.inFlight -= 1;
    this.context.recorder.recordResponse(statusCode, nowMs - this.latencyOriginMs(slot), nowMs, slot.stageIndex);
    // The book's "accepts": every answer but a refusal (a 404 is the backend working).
    if (!isRefusal(statusCode)) this.context.throttle?.accepted(nowMs);
    this.#afterCompletion(slot);
  }

  onSlotError(slot: RequestSlot, error: Error, nowMs: number): void {
    this.inFlight -= 1;
    this.context.recorder.recordError(errorCause(error), nowMs, slot.stageIndex);
    this.#afterCompletion(slot.retired ? this.#replace(slot) : slot);
  }

  /** Starts the first requests. */
  protected abstract begin(): void;
  /** A slot is free again: send from it or park it. */
  protected abstract onSlotFree(slot: RequestSlot): void;
  /** The instant latency is measured from. */
  protected abstract latencyOriginMs(slot: RequestSlot): number;

  protected newSlot(): RequestSlot {
    const slot = new RequestSlot(this);
    this.slots.push(slot);
    return slot;
  }

  /**
   * Asks the adaptive throttle about a request due at `nowMs`; true when it was rejected
   * locally (counted as throttled, never sent). Always false without --adaptive-throttle.
   */
  protected throttled(nowMs: number, stageIndex: number): boolean {
    const throttle = this.context.throttle;
    if (throttle === undefined || !throttle.shouldReject(nowMs)) return false;
    this.context.recorder.recordThrottled(nowMs, stageIndex);
    return true;
  }

  protected send(slot: RequestSlot, sentAtMs: number, intendedAtMs: number, stageIndex: number): void {
    this.context.recorder.recordSent(sentAtMs);
    this.inFlight += 1;
    this.#sendDepth += 1;
    try {
      slot.send(this.context.pool, this.context.dispatchOptions, sentAtMs, intendedAtMs, stageIndex);
    } finally {
      this.#sendDepth -= 1;
    }
  }

  protected finish(): void {
    if (this.#sweepTimer !== undefined) clearInterval(this.#sweepTimer);
    this.#sweepTimer = undefined;
    this.#resolveDone?.();
    this.#resolveDone = undefined;
  }

  #afterCompletion(slot: RequestSlot): void {
    if (this.stopped) return;
    // A failure reported from inside dispatch would otherwise recurse once per request.
    if (this.#sendDepth > 0) setImmediate(() => this.onSlotFree(slot));
    else this.onSlotFree(slot);
  }

  #replace(retired: RequestSlot): RequestSlot {
    const index = this.slots.indexOf(retired);
    if (index >= 0) this.slots.splice(index, 1);
    return this.newSlot();
  }

  #sweepTimeouts(): void {
    const nowMs = performance.now();
    const limitMs = this.context.timeoutMs;
    // Copy: giving up replaces slots in the list.
    for (const slot of [...this.slots]) {
      if (slot.busy && nowMs - slot.sentAtMs > limitMs) slot.giveUp(new RequestTimeoutError('request timed out'), nowMs, true);
    }
  }
}
