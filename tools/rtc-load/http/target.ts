import { Pool, type Dispatcher } from 'undici';
import { isRefusal, parseRetryAfterSeconds } from '../core/retry.ts';
import type { RequestOptions } from './args.ts';

/** Receives the outcome of a slot's request. `nowMs` is performance.now() at completion. */
export interface SlotOwner {
  onSlotResponse(slot: RequestSlot, statusCode: number, nowMs: number): void;
  onSlotError(slot: RequestSlot, error: Error, nowMs: number): void;
}

/**
 * One request in flight, reused for the next one. It is its own undici handler, written
 * against the callback interface that undici dispatches without wrapping or parsing
 * response headers into objects, which keeps the per-request cost of the generator low.
 */
export class RequestSlot {
  /** When the request was handed to undici (performance.now()). */
  sentAtMs = 0;
  /** When the request was meant to leave; equals sentAtMs in closed loop. */
  intendedAtMs = 0;
  stageIndex = -1;
  busy = false;
  /** Set once a timeout gave up on the request: late callbacks are ignored and the slot retired. */
  retired = false;
  /** The last answer's status (0 before it, or after a transport error). */
  statusCode = 0;
  /** The last refusal's Retry-After in seconds, when it carried a readable one. */
  retryAfterSeconds: number | undefined = undefined;
  readonly #owner: SlotOwner;
  #abort: ((error?: Error) => void) | undefined = undefined;

  constructor(owner: SlotOwner) {
    this.#owner = owner;
  }

  /** Starts the request; the owner hears back exactly once. */
  send(pool: Dispatcher, dispatchOptions: Dispatcher.DispatchOptions, sentAtMs: number, intendedAtMs: number, stageIndex: number): void {
    this.busy = true;
    this.sentAtMs = sentAtMs;
    this.intendedAtMs = intendedAtMs;
    this.stageIndex = stageIndex;
    this.statusCode = 0;
    this.retryAfterSeconds = undefined;
    this.#abort = undefined;
    pool.dispatch(dispatchOptions, this as unknown as Dispatcher.DispatchHandler);
  }

  /**
   * Ends the request with `error` and retires the slot, since undici may still call it back.
   * `notify` false drops the request silently (the run is being stopped).
   */
  giveUp(error: Error, nowMs: number, notify: boolean): void {
    if (!this.busy || this.retired) return;
    this.retired = true;
    this.busy = false;
    this.#abort?.(error);
    if (notify) this.#owner.onSlotError(this, error, nowMs);
  }

  onConnect(abort: (error?: Error) => void): void {
    this.#abort = abort;
  }

  onHeaders(statusCode: number, rawHeaders: readonly Buffer[] | null): boolean {
    // 1xx responses arrive first and are followed by the final status.
    this.statusCode = statusCode;
    // Headers are looked at only on refusals, to keep the served path free of string work.
    if (isRefusal(statusCode) && rawHeaders) this.retryAfterSeconds = retryAfterOf(rawHeaders);
    return true;
  }

  onData(): boolean {
    return true;
  }

  onComplete(): void {
    if (!this.busy || this.retired) return;
    this.busy = false;
    this.#owner.onSlotResponse(this, this.statusCode, performance.now());
  }

  onError(error: Error): void {
    if (!this.busy || this.retired) return;
    this.busy = false;
    this.statusCode = 0;
    this.#owner.onSlotError(this, error, performance.now());
  }
}

/** Retry-After from undici's raw header list (name, value, name, value, ...), in seconds. */
function retryAfterOf(rawHeaders: readonly Buffer[]): number | undefined {
  for (let i = 0; i + 1 < rawHeaders.length; i += 2) {
    const name = rawHeaders[i];
    if (name && name.length === 11 && name.toString('latin1').toLowerCase() === 'retry-after') {
      return parseRetryAfterSeconds(rawHeaders[i + 1]?.toString('latin1') ?? '');
    }
  }
  return undefined;
}

export function createPool(request: RequestOptions, connections: number): Pool {
  return new Pool(request.url.origin, {
    connections,
    pipelining: 1,
    connectTimeout: Math.min(request.timeoutMs, 10_000),
    headersTimeout: request.timeoutMs,
    bodyTimeout: request.timeoutMs,
    keepAliveTimeout: 30_000,
    // undici sends `connection: close` on the last request of a connection and opens a new one.
    ...(request.requestsPerConnection === undefined ? {} : { maxRequestsPerClient: request.requestsPerConnection }),
  });
}

/** One options object shared by every request of the run. */
export function dispatchOptionsFor(request: RequestOptions): Dispatcher.DispatchOptions {
  return {
    path: `${request.url.pathname}${request.url.search}`,
    method: request.method as Dispatcher.HttpMethod,
    headers: request.headers,
    body: request.body ?? null,
    headersTimeout: request.timeoutMs,
    bodyTimeout: request.timeoutMs,
  };
}
