/**
 * The /process waiting room: jobs that arrived while every worker was busy, and the rule that picks
 * the next one when a worker frees. Pure (no timers, no threads): the dispatcher owns the clock.
 *
 * The rule, for a surge of clients that retry at once:
 * - **Fair between clients.** The next job is the one of the waiting client with the fewest jobs
 *   running, so one address with many requests in flight cannot starve another with one.
 * - **First in, first out while the room keeps up; last in, first out once it does not** (adaptive
 *   LIFO, as in "Fail at Scale", ACM Queue 2015): when the oldest waiter has waited longer than
 *   `lifoAfterMs`, the newest job goes first. Under overload the old jobs would be served too late
 *   to help anyone and the new ones in time; the old ones leave at the dispatcher's wait limit with
 *   a 503, so admitted jobs keep a short wait while the worker is never idle.
 * - **Long jobs never take the last free worker from a client already running one**, so that
 *   another client's job waits at most `longJobSeconds` for a worker however long one client's
 *   jobs are. Short jobs (most of a surge) use every worker.
 */
export interface WaitingRoomOptions {
  /** Jobs waiting at most (MAX_QUEUE). */
  readonly maxWaiting: number;
  /** Jobs one client may have waiting (CLIENT_QUEUE_SHARE of MAX_QUEUE, at least 1). */
  readonly maxWaitingPerClient: number;
  /** The oldest waiter's wait past which the newest job goes first. */
  readonly lifoAfterMs: number;
  /** Predicted seconds above which a job of a client already running one may not take the last free worker. */
  readonly longJobSeconds: number;
}

export interface Waiter<T> {
  readonly client: string;
  readonly enqueuedAtMs: number;
  readonly predictedSeconds: number;
  readonly value: T;
}

interface Entry<T> extends Waiter<T> {
  removed: boolean;
}

/** Why a job cannot wait: the room or the client's share of it is full. */
export type RoomRefusal = 'full' | 'client_full';

export class WaitingRoom<T> {
  readonly #options: WaitingRoomOptions;
  /** Each client's waiters, oldest first; removed entries are skipped and trimmed lazily. */
  readonly #clients = new Map<string, { entries: Entry<T>[]; live: number }>();
  #size = 0;

  constructor(options: WaitingRoomOptions) {
    this.#options = options;
  }

  get size(): number {
    return this.#size;
  }

  sizeOf(client: string): number {
    return this.#clients.get(client)?.live ?? 0;
  }

  /** Why a job of `client` could not wait now, or undefined when it can. */
  refusal(client: string): RoomRefusal | undefined {
    if (this.#size >= this.#options.maxWaiting) return 'full';
    if (this.sizeOf(client) >= this.#options.maxWaitingPerClient) return 'client_full';
    return undefined;
  }

  /** Adds a waiter (the caller checked `refusal` first). */
  add(client: string, predictedSeconds: number, value: T, nowMs: number): Waiter<T> {
    const entry: Entry<T> = { client, enqueuedAtMs: nowMs, predictedSeconds, value, removed: false };
    let queue = this.#clients.get(client);
    if (!queue) this.#clients.set(client, (queue = { entries: [], live: 0 }));
    queue.entries.push(entry);
    queue.live++;
    this.#size++;
    return entry;
  }

  /** Takes a waiter out (it expired or its client left); false when it was no longer waiting. */
  remove(waiter: Waiter<T>): boolean {
    const entry = waiter as Entry<T>;
    if (entry.removed) return false;
    entry.removed = true;
    this.#size--;
    const queue = this.#clients.get(entry.client)!;
    queue.live--;
    if (queue.live === 0) this.#clients.delete(entry.client);
    // Entries removed from the middle wait to be trimmed at an end; compact before they pile up.
    else if (queue.entries.length > 2 * queue.live + 16) queue.entries = queue.entries.filter((e) => !e.removed);
    return true;
  }

  /** Enqueue time of the oldest waiter, or undefined when none waits. */
  oldestEnqueuedAtMs(): number | undefined {
    let oldest: number | undefined;
    for (const queue of this.#clients.values()) {
      const head = oldestLive(queue.entries);
      if (head && (oldest === undefined || head.enqueuedAtMs < oldest)) oldest = head.enqueuedAtMs;
    }
    return oldest;
  }

  /**
   * Takes the next job for a free worker, or undefined when no waiter may have it.
   * `running`: each client's jobs on workers now; `lastFreeWorker`: this is the only idle worker.
   */
  take(nowMs: number, running: ReadonlyMap<string, number>, lastFreeWorker: boolean): Waiter<T> | undefined {
    const oldest = this.oldestEnqueuedAtMs();
    if (oldest === undefined) return undefined;
    const lifo = nowMs - oldest > this.#options.lifoAfterMs;
    let best: Entry<T> | undefined;
    let bestRunning = Number.POSITIVE_INFINITY;
    for (const [client, queue] of this.#clients) {
      const candidate = lifo ? newestLive(queue.entries) : oldestLive(queue.entries);
      if (!candidate) continue;
      const runs = running.get(client) ?? 0;
      if (lastFreeWorker && runs > 0 && candidate.predictedSeconds > this.#options.longJobSeconds) continue;
      const better =
        runs < bestRunning ||
        (runs === bestRunning && best !== undefined && (lifo ? candidate.enqueuedAtMs > best.enqueuedAtMs : candidate.enqueuedAtMs < best.enqueuedAtMs));
      if (better) {
        best = candidate;
        bestRunning = runs;
      }
    }
    if (best) this.remove(best);
    return best;
  }
}

function oldestLive<T>(entries: Entry<T>[]): Entry<T> | undefined {
  while (entries.length > 0 && entries[0]!.removed) entries.shift();
  return entries[0];
}

function newestLive<T>(entries: Entry<T>[]): Entry<T> | undefined {
  while (entries.length > 0 && entries[entries.length - 1]!.removed) entries.pop();
  return entries[entries.length - 1];
}
