import type { EffectJob } from '../effects/catalog.ts';
import type { KernelBuild } from '../effects/kernel-types.ts';
import type { NativeIsa } from '../effects/native.ts';
import type { FrameLayout } from '../frames/layout.ts';
import type { CudaDeviceInfo } from './cuda-types.ts';

/** Every message that crosses the thread boundary between the pool and a worker. */

/** Where a job runs. */
export type DeviceKind = 'cpu' | 'cuda';

export type FrameSource =
  /** The worker's cached deterministic test card of this layout. */
  | { readonly kind: 'synthetic' }
  /** A caller's frame; the result is written back into the same buffer. */
  | { readonly kind: 'shared'; readonly buffer: SharedArrayBuffer }
  /**
   * A caller's frame moved to the worker (transferred, not copied); the result is written into
   * `output`, a pooled shared buffer of the caller's.
   */
  | { readonly kind: 'moved'; readonly buffer: ArrayBuffer; readonly output: SharedArrayBuffer };

export interface ProcessTask {
  readonly type: 'process';
  readonly layout: FrameLayout;
  readonly job: EffectJob;
  readonly source: FrameSource;
  /** performance.timeOrigin + performance.now() when the task was queued: one clock for all threads. */
  readonly queuedAtMs: number;
  /** 'cpu' sends a CUDA worker's job to its CPU kernels (the engine has given up the GPU). */
  readonly device?: DeviceKind;
  /**
   * Int32 flag the engine sets to non-zero when the result is no longer wanted (client gone,
   * deadline passed): the worker skips the job or stops it between passes.
   */
  readonly cancel?: SharedArrayBuffer;
  /** Segmentation effects: the session's mask state and backdrop (absent: a single image). */
  readonly segmentation?: SegmentationTask;
}

/** What a segmentation effect's frame carries besides the frame (src/segmentation/). */
export interface SegmentationTask {
  /** The session's mask state (src/segmentation/mask-state.ts). */
  readonly state: SharedArrayBuffer;
  /** Run the model on this frame; false reuses the state's last mask (the session is behind). */
  readonly infer: boolean;
  /** Weight of the previous mask in the temporal smoothing, 0..0.95. */
  readonly smoothing: number;
  /** Look for people with the detector on this frame (the first mask, the periodic look for newcomers); else the tracked ones. */
  readonly detect?: boolean;
  /** Only update the mask state from this frame (the model); no output frame is written. */
  readonly maskOnly?: boolean;
  /** The session's backdrop image for background-replace: RGBA, with an id that changes with it. */
  readonly backdrop?: { readonly id: string; readonly width: number; readonly height: number; readonly rgba: SharedArrayBuffer };
}

export interface ProcessResult {
  /**
   * Absent: done. 'cancelled': the cancel flag was set (before the job started or between passes).
   * 'no_memory': the job does not fit in the worker's WORKER_MEMORY_BYTES even with its caches dropped.
   */
  readonly outcome?: 'cancelled' | 'no_memory';
  /** From queuedAtMs to the worker picking the task up. */
  readonly queueSeconds: number;
  /**
   * The kernels' time (every pass; on a CUDA worker the uploads and downloads around its kernels
   * too): not the test card's making, nor the copies of an uploaded frame (copySeconds).
   */
  readonly computeSeconds: number;
  /** Copying an uploaded frame into the kernels' memory and the result out of it (CPU worker). */
  readonly copySeconds?: number;
  /** A checksum of the output (synthetic jobs return no pixels; this proves the work was done). */
  readonly checksum: number;
  /** Where the output was computed (absent: the engine's device). */
  readonly device?: DeviceKind;
  /** A CUDA error made the worker redo this job on its CPU kernels. */
  readonly fellBack?: boolean;
  /** GPU kernel time of all iterations, from CUDA events (jobs computed on the GPU). */
  readonly kernelSeconds?: number;
  /** The CUDA error behind a fallback, or why the worker gave up its GPU. */
  readonly gpuError?: string;
  /** A CUDA worker: false once it has given up its GPU for good. */
  readonly gpuHealthy?: boolean;
  /** A CUDA worker: the GPU it runs on. */
  readonly gpu?: CudaDeviceInfo;
  /** Segmentation effects: time in the model (0 when the mask was reused). */
  readonly inferenceSeconds?: number;
  /** Segmentation effects: the session's last mask was reused instead of running the model. */
  readonly maskReused?: boolean;
}

/** Given to every worker thread at start (piscina's workerData). */
export interface WorkerInit {
  readonly device: DeviceKind;
  /** The CUDA driver library (default libcuda.so.1). */
  readonly cudaLibraryPath?: string;
  /** CUDA failures in a row after which a worker gives its GPU up. */
  readonly maxConsecutiveGpuFailures?: number;
  /** The budget of the worker's WASM linear memory (default: the wasm32 limit). */
  readonly memoryBytes?: number;
  /** Bytes of test cards the worker keeps (default 64 MiB). */
  readonly cardCacheBytes?: number;
  /** Which build of the WASM kernels the worker loads (default simd). */
  readonly kernelBuild?: KernelBuild;
  /** The native kernels' instruction set to use beside the WASM ones (absent: none). */
  readonly nativeIsa?: NativeIsa;
}

export type WorkerTask = ProcessTask;

export function epochNowMs(): number {
  return performance.timeOrigin + performance.now();
}
