/**
 * Client-side adaptive throttling, as in Google's SRE book ("Handling Overload"): the client
 * counts the requests it attempted and those the backend accepted over the last two minutes,
 * and rejects a new request locally, without sending it, with probability
 *
 *   max(0, (requests − K × accepts) / (requests + 1))
 *
 * While the backend accepts everything the probability is 0; once it refuses more than
 * 1 − 1/K of the attempts, the client sheds the excess itself and the backend sees about K
 * times what it accepts. Locally rejected requests count as attempts, so the rejection rate
 * keeps rising while the backend stays refused, and falls once it accepts again.
 */

/** The book's K: the backend is offered about twice what it accepts. */
export const DEFAULT_THROTTLE_K = 2;
/** "The last two minutes", kept as one-second buckets. */
export const THROTTLE_WINDOW_SECONDS = 120;

export class AdaptiveThrottle {
  readonly k: number;
  readonly #random: () => number;
  readonly #requests = new Float64Array(THROTTLE_WINDOW_SECONDS);
  readonly #accepts = new Float64Array(THROTTLE_WINDOW_SECONDS);
  /** The latest second (since the time origin) counted; its slot is second % window. */
  #currentSecond = Number.NEGATIVE_INFINITY;
  #requestSum = 0;
  #acceptSum = 0;

  constructor(k: number = DEFAULT_THROTTLE_K, random: () => number = Math.random) {
    this.k = k;
    this.#random = random;
  }

  /** The chance that a request attempted at `nowMs` is rejected locally. */
  rejectProbability(nowMs: number): number {
    this.#expire(nowMs);
    return Math.max(0, (this.#requestSum - this.k * this.#acceptSum) / (this.#requestSum + 1));
  }

  /**
   * Decides for one attempt at `nowMs`: true means reject it locally (never sent). Either way
   * the attempt is counted; the caller reports the backend's answer with accepted().
   */
  shouldReject(nowMs: number): boolean {
    const reject = this.#random() < this.rejectProbability(nowMs);
    this.#add(nowMs, 1, 0);
    return reject;
  }

  /** The backend accepted a request sent at or before `nowMs` (any answer but a refusal). */
  accepted(nowMs: number): void {
    this.#add(nowMs, 0, 1);
  }

  #add(nowMs: number, requests: number, accepts: number): void {
    const slot = this.#expire(nowMs);
    this.#requests[slot] = (this.#requests[slot] ?? 0) + requests;
    this.#accepts[slot] = (this.#accepts[slot] ?? 0) + accepts;
    this.#requestSum += requests;
    this.#acceptSum += accepts;
  }

  /** Moves the window to `nowMs`'s second, dropping the seconds that left it; returns its slot. */
  #expire(nowMs: number): number {
    const second = Math.floor(nowMs / 1000);
    if (second > this.#currentSecond) {
      // Each second entered reuses the slot of the second a window earlier: empty it first.
      const from = Math.max(this.#currentSecond + 1, second - THROTTLE_WINDOW_SECONDS + 1);
      for (let s = from; s <= second; s += 1) {
        const slot = s % THROTTLE_WINDOW_SECONDS;
        this.#requestSum -= this.#requests[slot] ?? 0;
        this.#acceptSum -= this.#accepts[slot] ?? 0;
        this.#requests[slot] = 0;
        this.#accepts[slot] = 0;
      }
      this.#currentSecond = second;
    }
    // A late report (a response to a request sent in an earlier second) counts in the current one.
    return this.#currentSecond % THROTTLE_WINDOW_SECONDS;
  }
}
