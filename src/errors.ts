/**
 * Errors that know how they reach a client. One error handler (app.ts) maps them to
 * `{ error, detail }` JSON; anything else is an internal error whose details stay in the log.
 */
export class HttpError extends Error {
  readonly statusCode: number;
  readonly code: string;
  readonly headers: Readonly<Record<string, string>>;

  constructor(statusCode: number, code: string, detail: string, headers: Record<string, string> = {}) {
    super(detail);
    this.name = 'HttpError';
    this.statusCode = statusCode;
    this.code = code;
    this.headers = headers;
  }
}

export const badRequest = (detail: string): HttpError => new HttpError(400, 'bad_request', detail);
export const unprocessable = (detail: string): HttpError => new HttpError(422, 'unprocessable', detail);
export const tooLarge = (detail: string): HttpError => new HttpError(413, 'payload_too_large', detail);
export const unsupportedMediaType = (detail: string): HttpError => new HttpError(415, 'unsupported_media_type', detail);

/** The engine is full: callers should come back after `retryAfterSeconds`. */
export class OverloadedError extends HttpError {
  readonly retryable = true;
  constructor(detail: string, retryAfterSeconds: number) {
    super(503, 'overloaded', detail, { 'retry-after': String(retryAfterSeconds) });
    this.name = 'OverloadedError';
  }
}

/** A worker failed while processing (kernel threw, worker died). The one 500 clients may see. */
export class WorkerFailedError extends HttpError {
  constructor(detail: string) {
    super(500, 'worker_failed', detail);
    this.name = 'WorkerFailedError';
  }
}
