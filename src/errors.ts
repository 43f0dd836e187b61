/**
 * The error catalog: every error the service reports, with a stable code, its HTTP status, the
 * message its detail is written with, and whether the client may retry. One error handler (app.ts)
 * maps any `HttpError` to `{ error: code, detail }`; a 5xx says only its code and a generic detail
 * (the real one goes to the log). Anything that is not an `HttpError` is `internal`. Every code is
 * documented in docs/errors.md (test/unit/errors-doc.test.ts checks it).
 *
 * Start-up errors (`invalid_config`, `device_unavailable`) never reach a client: server.ts prints
 * them and exits with status 1.
 */
export interface ErrorSpec {
  /** The HTTP status; 0 for start-up errors that no client sees. */
  readonly status: number;
  /** The detail when none is given, and the line in docs/errors.md. */
  readonly message: string;
  /** A client may try the same request again later (Retry-After says when, where it is sent). */
  readonly retryable?: boolean;
}

export const ERRORS = {
  bad_request: { status: 400, message: 'the request is malformed (query, body, SDP or ICE fragment)' },
  unauthorized: { status: 401, message: 'Authorization: Bearer <WHIP_TOKEN> is required' },
  not_found: { status: 404, message: 'no such route or session' },
  precondition_failed: { status: 412, message: 'If-Match does not carry the current ETag of this session' },
  payload_too_large: {
    status: 413,
    message: "the body, image or frame is over its limit (MAX_BODY_BYTES, MAX_PIXELS, BACKDROP_MAX_BYTES, BACKDROP_MAX_PIXELS), or the job does not fit a worker's WORKER_MEMORY_BYTES",
  },
  unsupported_media_type: { status: 415, message: 'the Content-Type is not one this route takes' },
  unprocessable: { status: 422, message: 'well-formed but out of range: unknown effect, parameter or iters out of bounds' },
  unsupported_language: {
    status: 422,
    message: 'captions= or translate= names a language this pod has no speech engine or translation pair for, or captions are unavailable here (GET /effects lists what is)',
  },
  too_costly: { status: 422, message: 'the job would take longer than MAX_JOB_SECONDS (a live session\'s effect: longer than MAX_FRAME_EFFECT_MS a frame): ask for fewer pixels, passes or a smaller radius' },
  rate_limited: {
    status: 429,
    message: 'too many sessions or TURN credentials from this address; or effect changes, control messages, trickle-ICE PATCHes, ICE restarts or backdrop uploads in this session; Retry-After says when to come back',
    retryable: true,
  },
  too_many_sessions: {
    status: 429,
    message: 'this address holds MAX_SESSIONS_PER_CLIENT WebRTC peer connections: end one (DELETE) before opening another; Retry-After says when to try again',
    retryable: true,
  },
  client_gone: {
    status: 499,
    message: "the client went away before its answer (nginx's 499): its job is stopped (app_jobs_cancelled_total{reason=\"client_gone\"}) and nobody reads the answer",
  },
  worker_failed: { status: 500, message: 'a worker failed while processing the frame' },
  internal: { status: 500, message: 'internal error' },
  overloaded: {
    status: 503,
    message: 'the effect queue is full, the work ahead would keep this job too long, the in-flight memory budget is spent, the deadline passed, or the server is under pressure; Retry-After says when to come back',
    retryable: true,
  },
  unavailable: { status: 503, message: 'this pod takes no new WebRTC session now (full, draining or over its frame SLO); retry, another pod may', retryable: true },
  session_gone: { status: 404, message: 'the replica that held this session is no longer in the fleet (or the id names no member); start a new session' },
  bad_gateway: { status: 502, message: "the replica that holds this session broke off its answer, or sent one over FORWARD_MAX_BODY_BYTES", retryable: true },
  gateway_timeout: { status: 504, message: 'the replica that holds this session did not answer within FORWARD_TIMEOUT_SECONDS', retryable: true },
  invalid_fleet_signature: {
    status: 403,
    message: 'the call carries the headers of a call forwarded between replicas (x-rtc-scale-*) without a valid fleet signature (FLEET_SECRET, FLEET_SIGNATURE_WINDOW_SECONDS): only replicas send them; a client must not',
  },
  invalid_config: { status: 0, message: 'a setting is invalid (start-up only: the process exits)' },
  device_unavailable: { status: 0, message: 'DEVICE=cuda and no usable CUDA device (start-up only: the process exits)' },
} as const satisfies Record<string, ErrorSpec>;

export type ErrorCode = keyof typeof ERRORS;
export const ERROR_CODES = Object.keys(ERRORS) as ErrorCode[];

/** The body of every error answer. */
export interface ErrorBody {
  readonly error: ErrorCode;
  readonly detail: string;
}

export const errorBody = (error: ErrorCode, detail: string = ERRORS[error].message): ErrorBody => ({ error, detail });

/**
 * Fastify's own client errors (body parsing, content types) by its `FST_ERR_*` code; any other is
 * `bad_request`. The status stays Fastify's.
 */
const FASTIFY_ERROR_CODES: Readonly<Record<string, ErrorCode>> = {
  FST_ERR_CTP_INVALID_MEDIA_TYPE: 'unsupported_media_type',
  FST_ERR_CTP_BODY_TOO_LARGE: 'payload_too_large',
};

export const fastifyErrorCode = (fastifyCode: string | undefined): ErrorCode =>
  (fastifyCode !== undefined && Object.hasOwn(FASTIFY_ERROR_CODES, fastifyCode) ? FASTIFY_ERROR_CODES[fastifyCode] : undefined) ?? 'bad_request';

/**
 * The codes a publisher hears on its `control` data channel, `{type: "error", error, detail}`
 * (src/webrtc/control.ts): a change request malformed, out of range or too costly, messages over
 * the rate or the size, and frames dropped as too large or too costly.
 */
export const CONTROL_ERROR_CODES = ['bad_request', 'unprocessable', 'too_costly', 'rate_limited', 'payload_too_large'] as const satisfies readonly ErrorCode[];
export type ControlErrorCode = (typeof CONTROL_ERROR_CODES)[number];

export const isControlErrorCode = (code: ErrorCode): code is ControlErrorCode => (CONTROL_ERROR_CODES as readonly ErrorCode[]).includes(code);

/**
 * Why work was refused, the `reason` label of app_rejected_total. Each is counted where the refusal
 * is decided: the worker pool and cost admission (queue_full: MAX_QUEUE or MAX_QUEUE_WAIT_SECONDS,
 * cost: MAX_JOB_SECONDS), the memory budgets (memory), the deadline (deadline), the pressure and
 * rate-limit guards, the sessions (rate_limited for effect changes and control messages,
 * backdrop_rate, data_channel), the session registry (sessions_per_client: MAX_SESSIONS_PER_CLIENT;
 * ice_rate and ice_candidates for remote ICE), the caption pipelines (captions_full:
 * CAPTIONS_MAX_SESSIONS).
 */
export const REJECT_REASONS = [
  'queue_full',
  'queue_timeout',
  'pressure',
  'rate_limited',
  'draining',
  'sessions_full',
  'frame_slo',
  'cost',
  'memory',
  'deadline',
  'sessions_per_client',
  'forward_full',
  'fleet_signature',
  'turn_credentials',
  'ice_rate',
  'ice_candidates',
  'backdrop_rate',
  'data_channel',
  'captions_full',
] as const;
export type RejectReason = (typeof REJECT_REASONS)[number];

/** An error a client sees as `{ error: code, detail }` with the code's status. */
export class HttpError extends Error {
  readonly statusCode: number;
  readonly code: ErrorCode;
  readonly headers: Readonly<Record<string, string>>;
  readonly retryable: boolean;

  constructor(code: ErrorCode, detail: string = ERRORS[code].message, headers: Record<string, string> = {}) {
    super(detail);
    this.name = 'HttpError';
    this.code = code;
    this.statusCode = ERRORS[code].status;
    this.headers = headers;
    this.retryable = 'retryable' in ERRORS[code] && ERRORS[code].retryable === true;
  }
}

export const badRequest = (detail: string): HttpError => new HttpError('bad_request', detail);
export const notFound = (detail: string): HttpError => new HttpError('not_found', detail);
export const unprocessable = (detail: string): HttpError => new HttpError('unprocessable', detail);
export const tooLarge = (detail: string): HttpError => new HttpError('payload_too_large', detail);
export const unsupportedMediaType = (detail: string): HttpError => new HttpError('unsupported_media_type', detail);

/**
 * Work refused for now: the effect queue is full, the server is under pressure (`overloaded`), or a
 * WebRTC session cannot be taken (`unavailable`). Callers should come back after `retryAfterSeconds`.
 */
export class OverloadedError extends HttpError {
  readonly reason: RejectReason;
  constructor(
    detail: string,
    retryAfterSeconds: number,
    reason: RejectReason,
    code: 'overloaded' | 'unavailable' = 'overloaded',
    headers: Record<string, string> = {},
  ) {
    // A refusal is the expected answer under load, not a fault: no stack is captured for it (under
    // a storm, walking the stack of each one cost more than the rest of the refusal).
    const limit = Error.stackTraceLimit;
    Error.stackTraceLimit = 0;
    try {
      super(code, detail, { 'retry-after': String(retryAfterSeconds), ...headers });
    } finally {
      Error.stackTraceLimit = limit;
    }
    this.name = 'OverloadedError';
    this.reason = reason;
  }
}

/** One job asks for more work than any request may (MAX_JOB_SECONDS): retrying will not help. */
export class TooCostlyError extends HttpError {
  readonly reason: RejectReason = 'cost';
  constructor(detail: string) {
    super('too_costly', detail);
    this.name = 'TooCostlyError';
  }
}

/** A job does not fit a worker's WORKER_MEMORY_BYTES even with its caches dropped (413). */
export class WorkerMemoryError extends HttpError {
  readonly reason: RejectReason = 'memory';
  constructor(detail: string) {
    super('payload_too_large', detail);
    this.name = 'WorkerMemoryError';
  }
}

/**
 * The job was stopped because its client went away: nobody is left to answer (not an HttpError;
 * the handler records `client_gone`, nginx's 499).
 */
export class RequestCancelledError extends Error {
  readonly code = 'client_gone' satisfies ErrorCode;
  constructor() {
    super('the client went away');
    this.name = 'RequestCancelledError';
  }
}

/** A worker failed while processing (kernel threw, worker died). Clients see only the code. */
export class WorkerFailedError extends HttpError {
  constructor(detail: string) {
    super('worker_failed', detail);
    this.name = 'WorkerFailedError';
  }
}

/** An effect, parameter or iteration count out of range (422), from any surface. */
export class InvalidEffectError extends HttpError {
  constructor(detail: string) {
    super('unprocessable', detail);
    this.name = 'InvalidEffectError';
  }
}

/** Malformed SDP (offer or trickle-ICE fragment), 400. The routes may prefix the detail with context. */
export class SdpError extends HttpError {
  constructor(detail: string) {
    super('bad_request', detail);
    this.name = 'SdpError';
  }
}

/** A setting is invalid. Thrown at start-up only; server.ts prints it and exits 1. */
export class ConfigError extends Error {
  readonly code: ErrorCode = 'invalid_config';
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}

/** DEVICE=cuda and no usable CUDA device: a configuration error. */
export class DeviceUnavailableError extends ConfigError {
  override readonly code: ErrorCode = 'device_unavailable';
  constructor(message: string) {
    super(message);
    this.name = 'DeviceUnavailableError';
  }
}
