/**
 * The engine as its consumers see it (routes, WebRTC sessions, health): a leaf module of types, so
 * that they import types, never the implementation (engine.ts) and what it pulls in.
 */
import type { CudaDeviceInfo } from '../protocol/cuda-types.ts';
import type { EffectJob } from '../effects/catalog.ts';
import type { FrameLayout } from '../frames/layout.ts';
import type { MemoryBudget } from './memory-budget.ts';
import type { DeviceKind, ProcessResult, SegmentationTask } from '../protocol/worker-messages.ts';

export type { DeviceKind };

/** Where and how long a job ran. */
export type JobTimings = ProcessResult;

/** The logger methods the engine uses (a pino or Fastify logger fits). */
export interface EngineLog {
  warn(fields: object, message: string): void;
  error(fields: object, message: string): void;
}

/** How a caller bounds one job. */
export interface JobOptions {
  /** Aborted when the result is no longer wanted (the client went away): the job is skipped, or stopped between passes. */
  readonly signal?: AbortSignal;
  /** performance.now() by which the job must be done; past it the job is stopped and refused (503, reason deadline). */
  readonly deadlineMs?: number;
  /** Who asked (the client address): bounds one client's share of the queue. */
  readonly client?: string;
  /**
   * processFrame: the caller gives `pixels` up; when it is the whole of a plain ArrayBuffer (the
   * binding's decoded frames) it moves to the worker instead of being copied, detached once moved.
   */
  readonly movePixels?: boolean;
  /**
   * 'media' (WebRTC frames): the media workers, and ahead of every /process job; default 'process'
   * (the waiting room: fair between clients, bounded in count and wait).
   */
  readonly lane?: 'media' | 'process';
  /** Segmentation effects on a live session: its mask state and backdrop (src/segmentation/). */
  readonly segmentation?: SegmentationTask;
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
  /** The pod's in-flight byte budget (MEMORY_BUDGET_BYTES): routes reserve what they buffer. */
  readonly memory: MemoryBudget;
  /** The 503 for bytes that do not fit the budget, counted as a memory rejection. */
  memoryRefusal(bytes: number, headers?: Record<string, string>): Error;
  /** Runs the job on the worker's cached test card of `layout`. */
  processSynthetic(layout: FrameLayout, job: EffectJob, options?: JobOptions): Promise<JobTimings>;
  /**
   * Runs the job on `pixels` and hands the result to `use` while its buffer is still held; the
   * buffer returns to the pool when `use` settles (options.movePixels: see JobOptions).
   */
  processFrame<T>(
    layout: FrameLayout,
    job: EffectJob,
    pixels: Uint8Array,
    use: (output: Uint8Array, timings: JobTimings) => Promise<T> | T,
    options?: JobOptions,
  ): Promise<T>;
  /**
   * Predicted compute seconds of one live frame of `layout` under `job` (a segmentation effect with
   * its session's mask given: the model runs beside the frames, one job at a time).
   */
  predictFrameSeconds(layout: FrameLayout, job: EffectJob): number;
  /** A live session's mask job (segmentation effects): the model updates the session's mask state. */
  updateMask(layout: FrameLayout, job: EffectJob, pixels: Uint8Array, segmentation: SegmentationTask, options?: JobOptions): Promise<JobTimings>;
}
