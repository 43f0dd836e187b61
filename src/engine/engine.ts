import type { EffectJob } from '../effects/catalog.ts';
import { SharedBufferPool } from '../frames/buffer-pool.ts';
import { frameBytes, type FrameLayout } from '../frames/layout.ts';
import type { Metrics } from '../metrics.ts';
import type { ProcessResult } from './messages.ts';
import { EffectPool, type PoolOptions } from './pool.ts';

export type DeviceKind = 'cpu' | 'cuda';

export interface EngineOptions extends PoolOptions {
  readonly device: DeviceKind;
  readonly deviceName: string;
}

export type JobTimings = ProcessResult;

/**
 * The effect engine as the rest of the service sees it: frames in, frames out, with timings and
 * metrics. Admission (the bounded queue) and the worker pool sit behind it.
 */
export class Engine {
  readonly device: DeviceKind;
  readonly deviceName: string;
  readonly #pool: EffectPool;
  readonly #buffers: SharedBufferPool;
  readonly #metrics: Metrics;
  #ready = false;

  constructor(options: EngineOptions, metrics: Metrics) {
    this.device = options.device;
    this.deviceName = options.deviceName;
    this.#pool = new EffectPool(options);
    // Enough idle frames for every worker plus the queue at 1080p, without pinning gigabytes.
    this.#buffers = new SharedBufferPool(Math.min(512, options.workers * 4 + options.maxQueue) * 1920 * 1080 * 4);
    this.#metrics = metrics;
    metrics.deviceInfo.set({ device: options.device, name: options.deviceName }, 1);
  }

  async start(): Promise<void> {
    await this.#pool.warmUp();
    this.#ready = true;
  }

  get ready(): boolean {
    return this.#ready;
  }

  get pool(): EffectPool {
    return this.#pool;
  }

  get queueDepth(): number {
    return this.#pool.queueDepth;
  }

  /** Runs the job on the engine's cached test card of this layout (no pixels cross threads). */
  async processSynthetic(layout: FrameLayout, job: EffectJob): Promise<JobTimings> {
    return this.#observe(job, await this.#pool.run({ layout, job, source: { kind: 'synthetic' } }));
  }

  /**
   * Runs the job on `pixels` and hands the result to `use` while its buffer is still held; the
   * buffer returns to the pool when `use` settles.
   */
  async processFrame<T>(
    layout: FrameLayout,
    job: EffectJob,
    pixels: Uint8Array,
    use: (output: Uint8Array, timings: JobTimings) => Promise<T> | T,
  ): Promise<T> {
    const bytes = frameBytes(layout);
    const buffer = this.#buffers.acquire(bytes);
    try {
      const frame = new Uint8Array(buffer, 0, bytes);
      frame.set(pixels.subarray(0, bytes));
      const result = await this.#pool.run({ layout, job, source: { kind: 'shared', buffer } });
      return await use(frame, this.#observe(job, result));
    } finally {
      this.#buffers.release(buffer);
    }
  }

  #observe(job: EffectJob, result: ProcessResult): JobTimings {
    const labels = { effect: job.effect, device: this.device };
    this.#metrics.effectDuration.observe(labels, result.computeSeconds);
    this.#metrics.framesProcessed.inc(labels);
    return result;
  }

  async close(): Promise<void> {
    this.#ready = false;
    await this.#pool.close();
  }
}
