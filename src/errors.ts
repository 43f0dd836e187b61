/**
 * Errors that know how they reach a client. One error handler (app.ts) maps them to
 * `{ error, detail }` JSON; anything else is an internal error whose details stay in the log.
 */
export class HttpError extends Error {
  readonly statusCode: number;
  readonly code: string;
  readonly headers: Readonly<Record<string, string>>;
  /** Set when this is admission control refusing work: counted in app_rejected_total{reason}. */
  readonly reason: RejectReason | undefined;

  constructor(statusCode: number, code: string, detail: string, headers: Record<string, string> = {}, reason?: RejectReason) {
    super(detail);
    this.name = 'HttpError';
    this.statusCode = statusCode;
    this.code = code;
    this.headers = headers;
    this.reason = reason;
  }
}

export const badRequest = (detail: string): HttpError => new HttpError(400, 'bad_request', detail);
export const unprocessable = (detail: string): HttpError => new HttpError(422, 'unprocessable', detail);
export const tooLarge = (detail: string): HttpError => new HttpError(413, 'payload_too_large', detail);
export const unsupportedMediaType = (detail: string): HttpError => new HttpError(415, 'unsupported_media_type', detail);

/**
 * Why work was refused, the `reason` label of app_rejected_total: a bounded set, one per limit.
 * queue_full: MAX_QUEUE or MAX_QUEUE_WAIT_SECONDS; cost: one job over MAX_JOB_SECONDS; memory:
 * MEMORY_BUDGET_BYTES or a worker's WORKER_MEMORY_BYTES; pressure: the event-loop guard; deadline:
 * REQUEST_DEADLINE_SECONDS passed; rate_limited: a per-client rate; sessions_full / sessions_per_client
 * / frame_slo / draining: WebRTC admission.
 */
export type RejectReason =
  | 'queue_full'
  | 'cost'
  | 'memory'
  | 'pressure'
  | 'deadline'
  | 'rate_limited'
  | 'sessions_full'
  | 'sessions_per_client'
  | 'frame_slo'
  | 'draining';

/** The engine is full: callers should come back after `retryAfterSeconds`. */
export class OverloadedError extends HttpError {
  readonly retryable = true;
  declare readonly reason: RejectReason;
  constructor(detail: string, retryAfterSeconds: number, reason: RejectReason = 'queue_full', headers: Record<string, string> = {}) {
    super(503, 'overloaded', detail, { 'retry-after': String(retryAfterSeconds), ...headers }, reason);
    this.name = 'OverloadedError';
  }
}

/** One job asks for more work than any request may (MAX_JOB_SECONDS): retrying will not help. */
export class TooCostlyError extends HttpError {
  constructor(detail: string) {
    super(422, 'too_costly', detail, {}, 'cost');
    this.name = 'TooCostlyError';
  }
}

/** A worker failed while processing (kernel threw, worker died). The one 500 clients may see. */
export class WorkerFailedError extends HttpError {
  /** What went wrong, for the log only: clients see a fixed detail. */
  readonly internal: string;
  constructor(internal: string) {
    super(500, 'worker_failed', 'a worker failed while processing this request; it has been replaced');
    this.name = 'WorkerFailedError';
    this.internal = internal;
  }
}

/** The job was cancelled (its client went away, or its deadline passed) before it finished. */
export class RequestCancelledError extends Error {
  constructor(readonly why: 'client_gone' | 'deadline') {
    super(why === 'deadline' ? 'the request deadline passed' : 'the client went away');
    this.name = 'RequestCancelledError';
  }
}
