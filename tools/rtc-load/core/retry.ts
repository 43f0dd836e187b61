/**
 * What a closed-loop client does after the server refused its request (503 or 429): the storm
 * (send again at once, as hey and impatient retry loops do) or the polite client (wait what
 * Retry-After says, spread by a random factor so that clients refused together do not come back
 * together).
 */

/** The storm client: a refused request is sent again at once, Retry-After ignored. */
export interface ImmediateRetry {
  readonly kind: 'immediate';
}

/** The polite client: wait Retry-After × uniform[1 − jitter, 1 + jitter], then send again. */
export interface RetryAfterRetry {
  readonly kind: 'retry-after';
  /** From 0 (wait exactly Retry-After) to 1 (anything from no wait to twice Retry-After). */
  readonly jitter: number;
}

export type RetryPolicy = ImmediateRetry | RetryAfterRetry;

/**
 * Half a Retry-After either way: a refusal wave of clients comes back spread over a whole
 * Retry-After period instead of at one instant, and none waits more than 1.5 times the advice.
 */
export const DEFAULT_RETRY_AFTER_JITTER = 0.5;

/**
 * The wait when a refusal carries no readable Retry-After: the service's own default
 * (RETRY_AFTER_SECONDS, 1 s), so a foreign server's bare 503 is treated like the service's.
 */
export const DEFAULT_RETRY_AFTER_SECONDS = 1;

/** Responses that mean "the server refused the work, come back later". */
export function isRefusal(statusCode: number): boolean {
  return statusCode === 503 || statusCode === 429;
}

const DELTA_SECONDS = /^\d+$/;

/**
 * Retry-After as seconds from now (RFC 9110 §10.2.3: delay-seconds or an HTTP-date);
 * undefined when it is neither. A date in the past is a wait of 0.
 */
export function parseRetryAfterSeconds(value: string, nowEpochMs: number = Date.now()): number | undefined {
  const text = value.trim();
  if (DELTA_SECONDS.test(text)) return Number(text);
  // Only the date forms of RFC 9110 (they all name a weekday); Date.parse alone would take "5".
  if (!/^[A-Za-z]{3}/.test(text)) return undefined;
  const atMs = Date.parse(text);
  if (!Number.isFinite(atMs)) return undefined;
  return Math.max(0, (atMs - nowEpochMs) / 1000);
}

/** Retry-After × uniform[1 − jitter, 1 + jitter], in milliseconds. `random` is in [0, 1). */
export function jitteredDelayMs(retryAfterSeconds: number, jitter: number, random: () => number = Math.random): number {
  const factor = 1 - jitter + 2 * jitter * random();
  return Math.max(0, retryAfterSeconds * 1000 * factor);
}
