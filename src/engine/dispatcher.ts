/**
 * Which job runs on which worker, and when: two lanes over two pools of worker threads.
 *
 * - **media** (WebRTC frames and mask jobs) has its own workers (MEDIA_WORKERS) and goes ahead of
 *   every /process job for the /process workers too: a flood of HTTP requests never makes a live
 *   frame wait behind it. A session has at most one frame and one mask job in flight, so the lane
 *   is bounded by the sessions.
 * - **process** (/process) waits in the waiting room (waiting-room.ts) for a /process worker: a
 *   job that cannot wait (the room, or its client's share of it, is full) is refused at once, and
 *   one that waited MAX_QUEUE_WAIT_SECONDS without a worker is refused then (the HTTP route holds
 *   either refusal a while longer: src/http/refusal-hold.ts).
 *
 * Piscina never queues: a task is handed over only to an idle worker, so the order is ours.
 */
import { OverloadedError, RequestCancelledError, type RejectReason } from '../errors.ts';
import { coarseTimers } from './coarse-timers.ts';
import type { JobStop } from './job-stop.ts';
import type { ProcessResult, ProcessTask } from '../protocol/worker-messages.ts';
import { epochNowMs } from '../protocol/worker-messages.ts';
import { EffectPool, type PoolOptions } from './pool.ts';

/** What the dispatcher needs of a pool of workers (EffectPool; a stand-in in unit tests). */
export type WorkerPool = Pick<EffectPool, 'size' | 'run' | 'warmUp' | 'close' | 'threads'>;
import { WaitingRoom, type Waiter } from './waiting-room.ts';

export type Lane = 'media' | 'process';

export interface DispatcherOptions extends PoolOptions {
  /** Worker threads that take only media work (MEDIA_WORKERS; 0: media shares the /process workers, still first). */
  readonly mediaWorkers: number;
  /** MAX_QUEUE: /process jobs waiting at most. */
  readonly maxQueue: number;
  /** CLIENT_QUEUE_SHARE: the part of MAX_QUEUE one client's waiting jobs may fill. */
  readonly clientQueueShare: number;
  /** MAX_QUEUE_WAIT_SECONDS: a /process job waits this long for a worker at most. */
  readonly maxQueueWaitSeconds: number;
  /** QUEUE_LIFO_AFTER_SECONDS: the oldest waiter's wait past which the newest goes first. */
  readonly lifoAfterSeconds: number;
  readonly retryAfterSeconds: number;
  /** Where each refusal is counted (app_rejected_total), as it is decided. */
  readonly onRejected?: (reason: RejectReason) => void;
  /** Makes a pool of `workers` threads (default: EffectPool). */
  readonly createPool?: (options: PoolOptions) => WorkerPool;
}

type Task = Omit<ProcessTask, 'type' | 'queuedAtMs' | 'cancel'>;

export interface DispatchOptions {
  readonly lane: Lane;
  /** The client address (process lane: fairness and its share of the room). */
  readonly client?: string;
  /** Predicted compute seconds (the room keeps long jobs off the last free worker). */
  readonly predictedSeconds: number;
  /**
   * Stops the job: a waiting job leaves at once (RequestCancelledError); one on a worker reads the
   * stop's flag between passes.
   */
  readonly stop?: JobStop;
  readonly transfer?: ArrayBuffer[];
}

interface Pending {
  readonly task: Task;
  readonly options: DispatchOptions;
  readonly queuedAtMs: number;
  readonly resolve: (result: ProcessResult) => void;
  readonly reject: (err: unknown) => void;
}

interface Waiting extends Pending {
  cancelTimer?: () => void;
}

/** Anonymous jobs (no client address) share one key. */
const ANONYMOUS = '';

export class Dispatcher {
  readonly #options: DispatcherOptions;
  readonly #processPool: WorkerPool;
  readonly #mediaPool: WorkerPool | undefined;
  #processBusy = 0;
  #mediaBusy = 0;
  /** Each client's /process jobs on workers now (entries leave at zero). */
  readonly #running = new Map<string, number>();
  readonly #mediaLane: Pending[] = [];
  readonly #room: WaitingRoom<Waiting>;

  constructor(options: DispatcherOptions) {
    this.#options = options;
    const createPool = options.createPool ?? ((o: PoolOptions) => new EffectPool(o));
    this.#processPool = createPool(options);
    this.#mediaPool = options.mediaWorkers > 0 ? createPool({ ...options, workers: options.mediaWorkers }) : undefined;
    const waitSeconds = options.maxQueueWaitSeconds;
    this.#room = new WaitingRoom({
      maxWaiting: options.maxQueue,
      maxWaitingPerClient: Math.max(1, Math.floor(options.maxQueue * options.clientQueueShare)),
      lifoAfterMs: options.lifoAfterSeconds * 1000,
      longJobSeconds: waitSeconds * options.clientQueueShare,
    });
  }

  /** The /process pool (supervision and tests: its threads). */
  get processPool(): WorkerPool {
    return this.#processPool;
  }

  /** Jobs on the /process pool's workers now (supervision and tests). */
  get processJobsRunning(): number {
    return this.#processBusy;
  }

  /** Jobs waiting for a worker, both lanes. */
  get queueDepth(): number {
    return this.#room.size + this.#mediaLane.length;
  }

  /** Seconds the oldest /process waiter has waited (0 when none). */
  oldestWaitSeconds(nowMs = performance.now()): number {
    const oldest = this.#room.oldestEnqueuedAtMs();
    return oldest === undefined ? 0 : (nowMs - oldest) / 1000;
  }

  /**
   * Runs `task` on a worker of its lane's choosing. Rejects with OverloadedError (queue_full at
   * once, queue_timeout after the wait) or RequestCancelledError (signal aborted while waiting).
   */
  run(task: Task, options: DispatchOptions): Promise<ProcessResult> {
    if (options.stop?.reason !== undefined) return Promise.reject(new RequestCancelledError());
    return new Promise<ProcessResult>((resolve, reject) => {
      const pending: Pending = { task, options, queuedAtMs: epochNowMs(), resolve, reject };
      if (options.lane === 'media') {
        this.#mediaLane.push(pending);
        this.#pump();
        return;
      }
      if (this.#room.size === 0 && this.#processBusy < this.#processPool.size) {
        this.#start(pending, this.#processPool);
        return;
      }
      this.#wait(pending);
    });
  }

  #wait(pending: Pending): void {
    const client = pending.options.client ?? ANONYMOUS;
    const refusal = this.#room.refusal(client);
    if (refusal !== undefined) {
      this.#options.onRejected?.('queue_full');
      const detail =
        refusal === 'full'
          ? `${this.#options.maxQueue} jobs are waiting for a worker (MAX_QUEUE); retry later`
          : `this client has ${this.#room.sizeOf(client)} jobs waiting (CLIENT_QUEUE_SHARE ${this.#options.clientQueueShare} of MAX_QUEUE); retry later`;
      pending.reject(new OverloadedError(detail, this.#options.retryAfterSeconds, 'queue_full'));
      return;
    }
    const waiting: Waiting = { ...pending };
    const waiter = this.#room.add(client, pending.options.predictedSeconds, waiting, performance.now());
    const leave = (err: unknown) => {
      if (!this.#room.remove(waiter)) return;
      this.#unhook(waiting);
      pending.reject(err);
    };
    waiting.cancelTimer = coarseTimers.schedule(() => {
      this.#options.onRejected?.('queue_timeout');
      const seconds = this.#options.maxQueueWaitSeconds;
      leave(new OverloadedError(`no worker was free within MAX_QUEUE_WAIT_SECONDS (${seconds} s): the pod is at capacity; retry later`, this.#options.retryAfterSeconds, 'queue_timeout'));
    }, this.#options.maxQueueWaitSeconds * 1000);
    if (pending.options.stop) pending.options.stop.listener = () => leave(new RequestCancelledError());
  }

  #unhook(waiting: Waiting): void {
    waiting.cancelTimer?.();
    if (waiting.options.stop) waiting.options.stop.listener = undefined;
  }

  /** Hands waiting work to idle workers: media first, on its own workers and then on /process ones. */
  #pump(): void {
    while (this.#mediaLane.length > 0) {
      const pool = this.#mediaPool && this.#mediaBusy < this.#mediaPool.size ? this.#mediaPool : this.#processBusy < this.#processPool.size ? this.#processPool : undefined;
      if (!pool) break;
      this.#start(this.#mediaLane.shift()!, pool);
    }
    while (this.#room.size > 0 && this.#processBusy < this.#processPool.size) {
      const lastFree = this.#processBusy === this.#processPool.size - 1;
      const waiter: Waiter<Waiting> | undefined = this.#room.take(performance.now(), this.#running, lastFree);
      if (!waiter) break;
      this.#unhook(waiter.value);
      this.#start(waiter.value, this.#processPool);
    }
  }

  #start(pending: Pending, pool: WorkerPool): void {
    const media = pool === this.#mediaPool;
    const client = pending.options.lane === 'process' ? (pending.options.client ?? ANONYMOUS) : undefined;
    if (media) this.#mediaBusy++;
    else this.#processBusy++;
    if (client !== undefined) this.#running.set(client, (this.#running.get(client) ?? 0) + 1);
    const finished = () => {
      if (media) this.#mediaBusy--;
      else this.#processBusy--;
      if (client !== undefined) {
        const left = (this.#running.get(client) ?? 1) - 1;
        if (left <= 0) this.#running.delete(client);
        else this.#running.set(client, left);
      }
      this.#pump();
    };
    const cancel = pending.options.stop?.flag;
    pool.run({ ...pending.task, queuedAtMs: pending.queuedAtMs, ...(cancel ? { cancel } : {}) }, pending.options.transfer).then(
      (result) => {
        finished();
        pending.resolve(result);
      },
      (err: unknown) => {
        finished();
        pending.reject(err);
      },
    );
  }

  /** Resolves once every worker of both pools has loaded its kernels and run one small job. */
  async warmUp(): Promise<ProcessResult[]> {
    const results = await Promise.all([this.#processPool.warmUp(), this.#mediaPool?.warmUp() ?? []]);
    return results.flat();
  }

  async close(): Promise<void> {
    for (const waiter of this.#drainRoom()) waiter.reject(new RequestCancelledError());
    for (const pending of this.#mediaLane.splice(0)) pending.reject(new RequestCancelledError());
    await Promise.all([this.#processPool.close(), this.#mediaPool?.close()]);
  }

  *#drainRoom(): Generator<Waiting> {
    for (;;) {
      const waiter = this.#room.take(Number.POSITIVE_INFINITY, new Map(), false);
      if (!waiter) return;
      this.#unhook(waiter.value);
      yield waiter.value;
    }
  }
}
