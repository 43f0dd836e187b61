/**
 * The one module that talks to worker threads. Callers hand it typed tasks (src/protocol/worker-messages.ts) and get
 * typed results or typed errors back; they never see piscina.
 */
import { Piscina } from 'piscina';
import { WorkerFailedError } from '../errors.ts';
import type { DeviceKind } from './engine-types.ts';
import type { KernelBuild } from '../effects/kernel-types.ts';
import type { NativeIsa } from '../effects/native.ts';
import { epochNowMs, type ProcessResult, type ProcessTask, type WorkerInit, type WorkerTask } from '../protocol/worker-messages.ts';

export interface PoolOptions {
  readonly workers: number;
  /** The workers' kernels (default cpu). */
  readonly device?: DeviceKind;
  /** CUDA workers: the driver library (default libcuda.so.1). */
  readonly cudaLibraryPath?: string;
  /** CUDA workers: failures in a row after which a worker gives its GPU up. */
  readonly maxConsecutiveGpuFailures?: number;
  /** WORKER_MEMORY_BYTES: each worker's WASM memory budget (default: the wasm32 limit). */
  readonly workerMemoryBytes?: number;
  /** TEST_CARD_CACHE_BYTES per worker (default 64 MiB). */
  readonly cardCacheBytes?: number;
  /** The build of the WASM kernels the workers load (default simd). */
  readonly kernelBuild?: KernelBuild;
  /** The native kernels' instruction set the workers use beside the WASM ones (default none). */
  readonly nativeIsa?: NativeIsa;
}

// Under tsx the sources run as .ts; once compiled they are .js beside each other.
const workerUrl = new URL(import.meta.url.endsWith('.ts') ? './worker-dev.mjs' : './worker.js', import.meta.url);

export class EffectPool {
  readonly #piscina: Piscina<WorkerTask, ProcessResult>;
  readonly #options: PoolOptions;

  constructor(options: PoolOptions) {
    this.#options = options;
    this.#piscina = new Piscina({
      filename: workerUrl.href,
      minThreads: options.workers,
      maxThreads: options.workers,
      // Waiting is the dispatcher's (dispatcher.ts): it hands a task over only to an idle worker.
      maxQueue: Number.MAX_SAFE_INTEGER,
      idleTimeout: Number.MAX_SAFE_INTEGER,
      concurrentTasksPerWorker: 1,
      // By default piscina sends a task it could not hand to a busy worker to the back of its queue;
      // first in, first out keeps the order the dispatcher chose should a task ever wait here.
      stricterFIFO: true,
      workerData: {
        device: options.device ?? 'cpu',
        cudaLibraryPath: options.cudaLibraryPath,
        maxConsecutiveGpuFailures: options.maxConsecutiveGpuFailures,
        memoryBytes: options.workerMemoryBytes,
        cardCacheBytes: options.cardCacheBytes,
        kernelBuild: options.kernelBuild,
        nativeIsa: options.nativeIsa,
      } satisfies WorkerInit,
    });
  }

  /** Worker threads the pool keeps. */
  get size(): number {
    return this.#options.workers;
  }

  /** The live worker threads (supervision and tests; the pool replaces any that exit). */
  get threads(): readonly import('node:worker_threads').Worker[] {
    return this.#piscina.threads;
  }

  /**
   * `transfer`: buffers of the task moved to the worker (detached here), not copied. `queuedAtMs`
   * (epoch ms, default now): when the task started waiting, for its reported queue time.
   */
  async run(task: Omit<ProcessTask, 'type' | 'queuedAtMs'> & { readonly queuedAtMs?: number }, transfer?: ArrayBuffer[]): Promise<ProcessResult> {
    try {
      const message: WorkerTask = { ...task, type: 'process', queuedAtMs: task.queuedAtMs ?? epochNowMs() };
      return await this.#piscina.run(message, transfer ? { transferList: transfer } : undefined);
    } catch (err) {
      throw new WorkerFailedError(err instanceof Error ? err.message : String(err));
    }
  }

  /** Resolves once every worker has loaded its kernels and run one small job, with their results. */
  async warmUp(): Promise<ProcessResult[]> {
    const layout = { format: 'rgba', width: 8, height: 8 } as const;
    const job = { effect: 'blur', params: {}, iters: 1 } as const;
    return Promise.all(
      Array.from({ length: this.#options.workers }, () => this.run({ layout, job, source: { kind: 'synthetic' } })),
    );
  }

  async close(): Promise<void> {
    await this.#piscina.destroy();
  }
}
