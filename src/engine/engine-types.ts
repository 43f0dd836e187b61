/**
 * The engine as its consumers see it (routes, WebRTC sessions, health): a leaf module of types, so
 * that they import types, never the implementation (engine.ts) and what it pulls in.
 */
import type { CudaDeviceInfo } from '../cuda/cuda-types.ts';
import type { EffectJob } from '../effects/catalog.ts';
import type { FrameLayout } from '../frames/layout.ts';
import type { DeviceKind, ProcessResult } from './messages.ts';

export type { DeviceKind };

/** Where and how long a job ran. */
export type JobTimings = ProcessResult;

/** The logger methods the engine uses (a pino or Fastify logger fits). */
export interface EngineLog {
  warn(fields: object, message: string): void;
  error(fields: object, message: string): void;
}

export interface FrameOptions {
  readonly movePixels?: boolean;
}

export interface EffectEngine {
  readonly deviceName: string;
  /** The backend in use now (cpu once a CUDA engine has given up its GPU). */
  readonly device: DeviceKind;
  readonly degraded: boolean;
  readonly gpu: CudaDeviceInfo | undefined;
  readonly ready: boolean;
  /** Jobs waiting for a worker. */
  readonly queueDepth: number;
  /** Runs the job on the worker's cached test card of `layout`. */
  processSynthetic(layout: FrameLayout, job: EffectJob): Promise<JobTimings>;
  /**
   * Runs the job on `pixels` and hands the result to `use` while its buffer is still held; the
   * buffer returns to the pool when `use` settles. `movePixels`: the caller gives `pixels` up; when
   * it is the whole of a plain ArrayBuffer it moves to the worker instead of being copied (it is
   * detached once this returns).
   */
  processFrame<T>(
    layout: FrameLayout,
    job: EffectJob,
    pixels: Uint8Array,
    use: (output: Uint8Array, timings: JobTimings) => Promise<T> | T,
    options?: FrameOptions,
  ): Promise<T>;
}
