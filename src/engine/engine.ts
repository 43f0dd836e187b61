import { pino } from 'pino';
import { isSegmentationEffect, type CpuKernels, type EffectJob } from '../effects/catalog.ts';
import { OverloadedError, RequestCancelledError, TooCostlyError, WorkerMemoryError, type RejectReason } from '../errors.ts';
import { SharedBufferPool } from '../frames/buffer-pool.ts';
import { frameBytes, type FrameLayout } from '../frames/layout.ts';
import type { CudaDeviceInfo } from '../protocol/cuda-types.ts';
import { cpuName } from '../host.ts';
import type { Metrics } from '../metrics.ts';
import type { DeviceKind, EffectEngine, EngineLog, JobOptions, JobTimings } from './engine-types.ts';
import { Admission, costUnits } from './admission.ts';
import { MemoryBudget } from './memory-budget.ts';
import type { FrameSource, ProcessResult, SegmentationTask } from '../protocol/worker-messages.ts';
import { Dispatcher, type Lane, type WorkerPool } from './dispatcher.ts';
import { JobStop, type StopReason } from './job-stop.ts';
import type { PoolOptions } from './pool.ts';

export type { DeviceKind, EffectEngine, EngineLog, JobOptions, JobTimings };

export interface EngineOptions extends PoolOptions {
  readonly device: DeviceKind;
  readonly deviceName: string;
  /** MAX_QUEUE: /process jobs waiting for a worker at most (default 1024). */
  readonly maxQueue?: number;
  readonly retryAfterSeconds: number;
  /** Called where work is refused, as it is decided: for app_rejected_total. */
  readonly onRejected?: (reason: RejectReason) => void;
  /** MEDIA_WORKERS: worker threads for WebRTC frames only (default 1). */
  readonly mediaWorkers?: number;
  /** QUEUE_LIFO_AFTER_SECONDS (default 0.25). */
  readonly lifoAfterSeconds?: number;
  /** Where GPU fallbacks are reported (default: a pino logger on stdout). */
  readonly log?: EngineLog;
  /** MEMORY_BUDGET_BYTES: bytes requests in flight may hold on the main thread (default 512 MiB). */
  readonly memoryBudgetBytes?: number;
  /** MAX_QUEUE_WAIT_SECONDS (default 0.5). */
  readonly maxQueueWaitSeconds?: number;
  /** MAX_JOB_SECONDS (default 5). */
  readonly maxJobSeconds?: number;
  /** MEMORY_CLIENT_SHARE (default 1: no per-client bound). */
  readonly memoryClientShare?: number;
  /** CLIENT_QUEUE_SHARE (default 1: no per-client bound). */
  readonly clientQueueShare?: number;
}

/** At most one fallback log line per interval; the fallbacks in between are counted in the next. */
const FALLBACK_LOG_INTERVAL_MS = 10_000;


/** A view over all of a (non-shared, transferable) ArrayBuffer that holds the frame. */
function isWholePlainBuffer(pixels: Uint8Array, bytes: number): boolean {
  return pixels.buffer instanceof ArrayBuffer && pixels.byteOffset === 0 && pixels.byteLength === pixels.buffer.byteLength && pixels.byteLength >= bytes;
}

/**
 * The effect engine as the rest of the service sees it: frames in, frames out, with timings and
 * metrics. Admission (the bounded queue) and the worker pool sit behind it.
 *
 * On CUDA, a job a worker redid on its CPU kernels after a CUDA error counts in
 * app_gpu_fallback_total (and a rate-limited log line). Once a worker reports that it gave its GPU
 * up, the engine is `degraded`: every later job is sent to the workers' CPU kernels, and `device`,
 * /healthz and app_device_info say cpu until the process restarts.
 */
export class Engine implements EffectEngine {
  readonly deviceName: string;
  readonly #configuredDevice: DeviceKind;
  readonly #dispatcher: Dispatcher;
  readonly #buffers: SharedBufferPool;
  readonly #metrics: Metrics;
  readonly #admission: Admission;
  readonly #retryAfterSeconds: number;
  readonly #onRejected: EngineOptions['onRejected'];
  /** The pod's in-flight byte budget: routes reserve what they buffer; the engine what it copies. */
  readonly memory: MemoryBudget;
  #log: EngineLog | undefined;
  #ready = false;
  /** The CPU kernels the workers run, for the effects' cost weights. */
  readonly #cpuKernels: CpuKernels;
  #degraded = false;
  #gpu: CudaDeviceInfo | undefined;
  #lastFallbackLogMs = Number.NEGATIVE_INFINITY;
  #fallbacksNotLogged = 0;

  constructor(options: EngineOptions, metrics: Metrics) {
    this.#cpuKernels = options.nativeIsa ?? 'wasm';
    this.#configuredDevice = options.device;
    this.deviceName = options.deviceName;
    this.#log = options.log;
    this.#dispatcher = new Dispatcher({
      ...options,
      mediaWorkers: options.mediaWorkers ?? 1,
      maxQueue: options.maxQueue ?? 1024,
      clientQueueShare: options.clientQueueShare ?? 1,
      maxQueueWaitSeconds: options.maxQueueWaitSeconds ?? 0.5,
      lifoAfterSeconds: options.lifoAfterSeconds ?? 0.25,
    });
    // Keep about two idle 1080p frames per worker: enough to serve a steady stream of uploads from
    // the pool; a burst beyond that allocates, and the garbage collector takes those back later.
    this.#buffers = new SharedBufferPool((options.workers * 2 + 2) * 1920 * 1080 * 4);
    this.#metrics = metrics;
    this.#retryAfterSeconds = options.retryAfterSeconds;
    this.#onRejected = options.onRejected;
    this.memory = new MemoryBudget(options.memoryBudgetBytes ?? 512 * 1024 * 1024, options.memoryClientShare);
    this.#admission = new Admission({ maxJobSeconds: options.maxJobSeconds ?? 5 });
    metrics.deviceInfo.set({ device: options.device, name: options.deviceName }, 1);
    metrics.cpuKernelsInfo.set({ wasm: options.kernelBuild ?? 'simd', native: options.nativeIsa ?? 'none' }, 1);
  }

  async start(): Promise<void> {
    for (const result of await this.#dispatcher.warmUp()) this.#noteDevice(result);
    this.#ready = true;
  }

  /** The backend computing the jobs: the configured one, or cpu once the GPU was given up. */
  get device(): DeviceKind {
    return this.#degraded ? 'cpu' : this.#configuredDevice;
  }

  /** A CUDA engine whose GPU failed: it runs on the CPU until the process restarts. */
  get degraded(): boolean {
    return this.#degraded;
  }

  /** The GPU of a CUDA engine, as its workers found it. */
  get gpu(): CudaDeviceInfo | undefined {
    return this.#gpu;
  }

  get ready(): boolean {
    return this.#ready;
  }

  /** The /process workers (supervision and tests). */
  get pool(): WorkerPool {
    return this.#dispatcher.processPool;
  }

  /** Jobs on the /process workers now. */
  get processJobsRunning(): number {
    return this.#dispatcher.processJobsRunning;
  }

  get queueDepth(): number {
    return this.#dispatcher.queueDepth;
  }

  /** How long the oldest /process job waiting for a worker has waited. */
  oldestWaitSeconds(): number {
    return this.#dispatcher.oldestWaitSeconds();
  }

  /** Cost-and-time admission (its learnt seconds per unit and backlog; tests and /metrics). */
  get admission(): Admission {
    return this.#admission;
  }

  /** Runs the job on the engine's cached test card of this layout (no pixels cross threads). */
  async processSynthetic(layout: FrameLayout, job: EffectJob, options: JobOptions = {}): Promise<JobTimings> {
    return this.#observe(job, await this.#run(layout, job, { kind: 'synthetic' }, options));
  }

  /**
   * Runs the job on `pixels` and hands the result to `use` while its buffer is still held; the
   * buffer returns to the pool when `use` settles.
   *
   * `movePixels` (the WebRTC frame path): when `pixels` is the whole of a plain ArrayBuffer, as the
   * binding's decoded frames are, that buffer is moved to the worker (transferred, detached here)
   * instead of copied on this thread; the worker copies it into its kernels' memory, runs the job
   * and writes the result into a pooled shared buffer, which `use` gets. The result does not come
   * back by transfer: with the frame transferred back to the main thread (a heap of tens of MB),
   * V8 ran a full mark-compact there every few hundred ms (--trace-gc: 30 against 1 over the same
   * 24 s of one 720p session). Any other buffer takes the shared path.
   */
  async processFrame<T>(
    layout: FrameLayout,
    job: EffectJob,
    pixels: Uint8Array,
    use: (output: Uint8Array, timings: JobTimings) => Promise<T> | T,
    options: JobOptions = {},
  ): Promise<T> {
    const bytes = frameBytes(layout);
    // The shared frame is reserved before it is taken or filled.
    const reservation = this.memory.tryReserve(bytes);
    if (!reservation) throw this.memoryRefusal(bytes);
    const buffer = this.#buffers.acquire(bytes);
    try {
      const frame = new Uint8Array(buffer, 0, bytes);
      let result: ProcessResult;
      // Segmentation jobs (their own worker paths) write only into a shared source: they take the copy.
      if (options.movePixels === true && !isSegmentationEffect(job.effect) && isWholePlainBuffer(pixels, bytes)) {
        const moved = pixels.buffer as ArrayBuffer;
        result = await this.#run(layout, job, { kind: 'moved', buffer: moved, output: buffer }, options, [moved]);
      } else {
        frame.set(pixels.subarray(0, bytes));
        result = await this.#run(layout, job, { kind: 'shared', buffer }, options);
      }
      return await use(frame, this.#observe(job, result));
    } finally {
      this.#buffers.release(buffer);
      reservation.release();
    }
  }

  predictFrameSeconds(layout: FrameLayout, job: EffectJob): number {
    return this.#admission.predictSeconds(costUnits(layout, job, { infer: false }, this.#cpuKernels));
  }

  /** The 503 for a reservation that does not fit MEMORY_BUDGET_BYTES (counted here, where it is decided). */
  memoryRefusal(bytes: number, headers: Record<string, string> = {}): OverloadedError {
    this.#onRejected?.('memory');
    return new OverloadedError(
      `${bytes} more bytes in flight would exceed MEMORY_BUDGET_BYTES (${this.memory.inUseBytes} of ${this.memory.limitBytes} in use); retry later`,
      this.#retryAfterSeconds,
      'memory',
      'overloaded',
      headers,
    );
  }

  /** Admission, the lane, cancellation and the deadline around one worker task. */
  async #run(layout: FrameLayout, job: EffectJob, source: FrameSource, options: JobOptions, transfer?: ArrayBuffer[]): Promise<ProcessResult> {
    const { signal, deadlineMs } = options;
    if (signal?.aborted) throw new RequestCancelledError();
    const units = costUnits(layout, job, options.segmentation, this.#cpuKernels);
    let admitted;
    try {
      admitted = this.#admission.admit(units);
    } catch (err) {
      if (err instanceof TooCostlyError) this.#onRejected?.(err.reason);
      throw err;
    }
    // A stopped job leaves the backlog at once: it leaves the waiting room, or is skipped or
    // stopped at its next pass on a worker.
    const stop = new JobStop();
    const stopFor = (reason: StopReason) => {
      if (stop.reason !== undefined) return;
      admitted.done();
      stop.stop(reason);
    };
    const onAbort = () => stopFor('client_gone');
    signal?.addEventListener('abort', onAbort, { once: true });
    const timer = deadlineMs === undefined ? undefined : setTimeout(() => stopFor('deadline'), Math.max(0, deadlineMs - performance.now()));
    let result: ProcessResult | undefined;
    try {
      const lane: Lane = options.lane ?? 'process';
      const task = { layout, job, source, ...this.#taskDevice(), ...(options.segmentation ? { segmentation: options.segmentation } : {}) };
      result = await this.#dispatcher.run(task, {
        lane,
        predictedSeconds: admitted.predictedSeconds,
        stop,
        ...(options.client !== undefined ? { client: options.client } : {}),
        ...(transfer ? { transfer } : {}),
      });
    } catch (err) {
      // Stopped while it waited for a worker: as if the worker had skipped it.
      if (!(err instanceof RequestCancelledError) || stop.reason === undefined) throw err;
      result = { outcome: 'cancelled', queueSeconds: 0, computeSeconds: 0, checksum: 0 };
    } finally {
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      // The worker's whole time on the job, copies included, is what admission predicts.
      admitted.done(result && result.outcome === undefined ? { units, computeSeconds: result.computeSeconds + (result.copySeconds ?? 0) } : undefined);
    }
    const why = stop.reason;
    if (result.outcome === 'cancelled') {
      this.#metrics.jobsCancelled.inc({ reason: why ?? 'client_gone' });
      if (why === 'deadline') {
        this.#onRejected?.('deadline');
        throw new OverloadedError('the job did not finish within REQUEST_DEADLINE_SECONDS; retry later or ask for less work', this.#retryAfterSeconds, 'deadline');
      }
      throw new RequestCancelledError();
    }
    if (result.outcome === 'no_memory') {
      this.#onRejected?.('memory');
      throw new WorkerMemoryError(`a ${layout.width}x${layout.height} ${layout.format} job does not fit in a worker's WORKER_MEMORY_BYTES`);
    }
    return result;
  }

  /**
   * A live session's mask job (segmentation effects): the model runs on `pixels` and updates the
   * session's mask state; no frame comes back. Counted in the segmentation metrics only, not as a
   * processed frame.
   */
  async updateMask(layout: FrameLayout, job: EffectJob, pixels: Uint8Array, segmentation: SegmentationTask, options: JobOptions = {}): Promise<JobTimings> {
    const bytes = frameBytes(layout);
    const reservation = this.memory.tryReserve(bytes);
    if (!reservation) throw this.memoryRefusal(bytes);
    const buffer = this.#buffers.acquire(bytes);
    try {
      new Uint8Array(buffer, 0, bytes).set(pixels.subarray(0, bytes));
      const result = await this.#run(layout, job, { kind: 'shared', buffer }, { ...options, lane: 'media', segmentation: { ...segmentation, maskOnly: true } });
      this.#metrics.segmentationMasks.inc({ mask: 'inferred' });
      if (result.inferenceSeconds !== undefined) this.#metrics.segmentationInference.observe(result.inferenceSeconds);
      return result;
    } finally {
      this.#buffers.release(buffer);
      reservation.release();
    }
  }

  /** Only GPU trouble is logged here, so the default logger is made on first use. */
  get #logger(): EngineLog {
    this.#log ??= pino({ base: { component: 'engine' } });
    return this.#log;
  }

  #taskDevice(): { device?: DeviceKind } {
    return this.#degraded ? { device: 'cpu' } : {};
  }

  #observe(job: EffectJob, result: ProcessResult): JobTimings {
    const device = result.device ?? this.#configuredDevice;
    const labels = { effect: job.effect, device };
    // On the GPU the effect's time is its kernels' (CUDA events), without the copies around them.
    const seconds = device === 'cuda' && result.kernelSeconds !== undefined ? result.kernelSeconds : result.computeSeconds;
    this.#metrics.effectDuration.observe(labels, seconds);
    this.#metrics.framesProcessed.inc(labels);
    if (result.maskReused !== undefined) {
      this.#metrics.segmentationMasks.inc({ mask: result.maskReused ? 'reused' : 'inferred' });
      if (!result.maskReused && result.inferenceSeconds !== undefined) this.#metrics.segmentationInference.observe(result.inferenceSeconds);
    }
    this.#noteDevice(result);
    return result;
  }

  #noteDevice(result: ProcessResult): void {
    if (result.gpu) this.#gpu = result.gpu;
    if (result.fellBack) {
      this.#metrics.gpuFallbacks.inc();
      const now = performance.now();
      if (now - this.#lastFallbackLogMs >= FALLBACK_LOG_INTERVAL_MS) {
        this.#logger.warn({ error: result.gpuError, fallbacksNotLogged: this.#fallbacksNotLogged }, 'CUDA error: job redone on CPU');
        this.#lastFallbackLogMs = now;
        this.#fallbacksNotLogged = 0;
      } else {
        this.#fallbacksNotLogged++;
      }
    }
    if (result.gpuHealthy === false && !this.#degraded && this.#configuredDevice === 'cuda') {
      this.#degraded = true;
      this.#metrics.deviceInfo.reset();
      this.#metrics.deviceInfo.set({ device: 'cpu', name: cpuName() }, 1);
      this.#logger.error({ gpu: this.#gpu?.name ?? this.deviceName, error: result.gpuError }, 'GPU given up: effects run on CPU until the process restarts');
    }
  }

  async close(): Promise<void> {
    this.#ready = false;
    await this.#dispatcher.close();
  }
}
