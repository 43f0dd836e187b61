/**
 * A token bucket: `ratePerSecond` tokens a second, at most `burst` saved up. Used to rate-limit
 * what a session may ask for (effect changes, control messages, trickle ICE, restarts, backdrops),
 * with time passed in so it tests without clocks.
 */
export class TokenBucket {
  readonly #ratePerSecond: number;
  readonly #burst: number;
  #tokens: number;
  #atMs: number;

  constructor(ratePerSecond: number, burst: number, nowMs: number = performance.now()) {
    this.#ratePerSecond = ratePerSecond;
    this.#burst = burst;
    this.#tokens = burst;
    this.#atMs = nowMs;
  }

  /** Takes a token if there is one. */
  take(nowMs: number = performance.now()): boolean {
    this.#tokens = Math.min(this.#burst, this.#tokens + ((nowMs - this.#atMs) / 1000) * this.#ratePerSecond);
    this.#atMs = nowMs;
    if (this.#tokens < 1) return false;
    this.#tokens -= 1;
    return true;
  }

  /** Whole seconds until the next token (at least 1): what a refusal's Retry-After says. */
  retryAfterSeconds(nowMs: number = performance.now()): number {
    const tokens = Math.min(this.#burst, this.#tokens + ((nowMs - this.#atMs) / 1000) * this.#ratePerSecond);
    return Math.max(1, Math.ceil((1 - tokens) / this.#ratePerSecond));
  }
}
