/**
 * A CUDA worker's kernels with the CPU as a safety net, and the fault policy:
 *
 * - a job whose GPU run fails is redone on the CPU kernels from the same source frame, and the
 *   report says so (`fellBack`), so the request still succeeds with a correct result;
 * - after `maxConsecutiveFailures` failed GPU runs in a row (a success resets the count), or at
 *   once after an error that corrupts the CUDA context (CudaError.sticky: the driver fails every
 *   later call until the process restarts), the GPU is given up for good: every later job runs on
 *   the CPU (`gpuHealthy: false`).
 *
 * Argument errors (RangeError: bad size, sigma, block) are the caller's and are rethrown: the CPU
 * kernels would refuse the same job.
 *
 * Memory: frames are addressed by handles of this object. While the GPU is in use they are the
 * GPU backend's pinned host blocks; once it is given up (or when the caller asks for the CPU),
 * new frames come from the CPU kernels' memory. A job whose frames sit on the other side than the
 * kernels that run it is staged through the CPU kernels' memory (pinned memory stays readable
 * after a GPU fault: it is host memory).
 */
import type { EffectKernels } from '../effects/kernel-types.ts';
import type { EffectJob } from '../effects/catalog.ts';
import { frameBytes, type FrameLayout } from '../frames/layout.ts';
import { createCudaKernels, type CudaKernels, type CudaKernelsOptions } from './cuda-kernels.ts';
import type { CudaDeviceInfo } from '../protocol/cuda-types.ts';
import { CudaError } from './driver.ts';

/** What the GPU side must offer: the kernels, and the GPU time of their last run. */
export interface GpuKernels extends EffectKernels {
  readonly lastKernelSeconds: number;
  /** Background effects on the device (CudaKernels has them; src/cuda/background-task.ts uses them). */
  readonly runBackground?: CudaKernels['runBackground'];
  readonly updateMask?: CudaKernels['updateMask'];
}

export interface RunReport {
  /** Where the result was computed. */
  readonly device: 'cuda' | 'cpu';
  /** The GPU failed this job and the CPU redid it. */
  readonly fellBack: boolean;
  /** GPU kernel time (CUDA events), for jobs computed on the GPU. */
  readonly kernelSeconds?: number;
  /** Why the GPU was not used: the error of this job's failed run, or why it was given up. */
  readonly gpuError?: string;
  /** False once this worker has given up its GPU. */
  readonly gpuHealthy: boolean;
}

export interface FallbackOptions {
  /** Failed GPU runs in a row after which the GPU is given up (default 3). */
  readonly maxConsecutiveFailures?: number;
}

export const DEFAULT_MAX_CONSECUTIVE_FAILURES = 3;

type Owner = 'gpu' | 'cpu';
interface Frame {
  readonly owner: Owner;
  readonly ptr: number;
  readonly bytes: number;
}

function message(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

export class FallbackKernels implements EffectKernels {
  readonly #gpu: GpuKernels | undefined;
  readonly #cpu: EffectKernels;
  readonly #maxFailures: number;
  readonly #frames = new Map<number, Frame>();
  #nextHandle = 16;
  #healthy: boolean;
  #failures = 0;
  #gaveUpBecause: string | undefined;
  #preferCpu = false;
  #allocError: string | undefined;
  #lastReport: RunReport;

  /** `gpu` undefined: the GPU could not even be set up (`setupError` says why). */
  constructor(gpu: GpuKernels | undefined, cpu: EffectKernels, options: FallbackOptions = {}, setupError?: string) {
    this.#gpu = gpu;
    this.#cpu = cpu;
    this.#maxFailures = Math.max(1, options.maxConsecutiveFailures ?? DEFAULT_MAX_CONSECUTIVE_FAILURES);
    this.#healthy = gpu !== undefined;
    this.#gaveUpBecause = gpu ? undefined : (setupError ?? 'no GPU kernels');
    this.#lastReport = { device: this.#healthy ? 'cuda' : 'cpu', fellBack: false, gpuHealthy: this.#healthy };
  }

  get gpuHealthy(): boolean {
    return this.#healthy;
  }

  /** The report of the last `run`. */
  get lastReport(): RunReport {
    return this.#lastReport;
  }

  /** Run the next jobs on the CPU without counting it as a fault (the engine asks for it). */
  preferCpu(yes: boolean): void {
    this.#preferCpu = yes;
  }

  #useGpu(): boolean {
    return this.#healthy && !this.#preferCpu;
  }

  /** Counts a GPU failure; gives the GPU up after too many in a row or a context-corrupting one. */
  #gpuFailed(err: unknown): string {
    const text = message(err);
    this.#failures++;
    if (this.#failures >= this.#maxFailures || (err instanceof CudaError && err.sticky)) {
      this.#healthy = false;
      this.#gaveUpBecause = text;
    }
    return text;
  }

  alloc(bytes: number): number {
    let frame: Frame | undefined;
    if (this.#useGpu()) {
      try {
        frame = { owner: 'gpu', ptr: this.#gpu!.alloc(bytes), bytes };
      } catch (err) {
        if (err instanceof RangeError) throw err;
        // One job allocates two frames: its failures count once, against the job.
        this.#allocError ??= this.#gpuFailed(err);
      }
    }
    frame ??= { owner: 'cpu', ptr: this.#cpu.alloc(bytes), bytes };
    const handle = this.#nextHandle;
    this.#nextHandle += 16;
    this.#frames.set(handle, frame);
    return handle;
  }

  free(ptr: number, bytes: number): void {
    const frame = this.#frameOf(ptr);
    if (bytes !== frame.bytes) throw new RangeError(`free: ${ptr} (+${bytes}) was allocated with ${frame.bytes} bytes`);
    this.#frames.delete(ptr);
    if (frame.owner === 'cpu') return this.#cpu.free(frame.ptr, frame.bytes);
    try {
      this.#gpu!.free(frame.ptr, frame.bytes);
    } catch {
      // a GPU that failed may refuse to free; the pinned block is lost, the process goes on
    }
  }

  view(ptr: number, bytes: number): Uint8Array {
    const frame = this.#frameOf(ptr);
    if (bytes > frame.bytes) throw new RangeError(`view: ${bytes} bytes of a ${frame.bytes}-byte frame`);
    return (frame.owner === 'gpu' ? this.#gpu! : this.#cpu).view(frame.ptr, bytes);
  }

  #frameOf(ptr: number): Frame {
    const frame = this.#frames.get(ptr);
    if (!frame) throw new RangeError(`frame ${ptr} was not allocated here`);
    return frame;
  }

  run(layout: FrameLayout, job: EffectJob, srcPtr: number, dstPtr: number): void {
    const src = this.#frameOf(srcPtr);
    const dst = this.#frameOf(dstPtr);
    const allocError = this.#allocError;
    this.#allocError = undefined;
    let fellBack = false;
    let gpuError: string | undefined;
    if (this.#useGpu() && src.owner === 'gpu' && dst.owner === 'gpu') {
      try {
        this.#gpu!.run(layout, job, src.ptr, dst.ptr);
        this.#failures = 0;
        this.#lastReport = { device: 'cuda', fellBack: false, kernelSeconds: this.#gpu!.lastKernelSeconds, gpuHealthy: true };
        return;
      } catch (err) {
        if (err instanceof RangeError) throw err;
        gpuError = this.#gpuFailed(err);
        fellBack = true;
      }
    } else if (allocError !== undefined) {
      // A GPU staging allocation failed for this job's frames: that is a GPU fault as well.
      gpuError = allocError;
      fellBack = true;
    }
    this.#runOnCpu(layout, job, src, dst);
    gpuError ??= this.#healthy ? undefined : this.#gaveUpBecause;
    this.#lastReport = { device: 'cpu', fellBack, gpuHealthy: this.#healthy, ...(gpuError !== undefined ? { gpuError } : {}) };
  }

  /**
   * Runs `work` on the GPU kernels under the same policy as run(): true when it ran there; false
   * when the GPU is not in use or `work` failed (counted, and reported as a fallback), so that the
   * caller does the job on the CPU. Argument errors (RangeError) are rethrown.
   */
  tryGpu(work: (gpu: GpuKernels) => void): boolean {
    if (!this.#useGpu()) {
      const gpuError = this.#healthy ? undefined : this.#gaveUpBecause;
      this.#lastReport = { device: 'cpu', fellBack: false, gpuHealthy: this.#healthy, ...(gpuError !== undefined ? { gpuError } : {}) };
      return false;
    }
    try {
      work(this.#gpu!);
      this.#failures = 0;
      this.#lastReport = { device: 'cuda', fellBack: false, kernelSeconds: this.#gpu!.lastKernelSeconds, gpuHealthy: true };
      return true;
    } catch (err) {
      if (err instanceof RangeError) throw err;
      const gpuError = this.#gpuFailed(err);
      this.#lastReport = { device: 'cpu', fellBack: true, gpuHealthy: this.#healthy, gpuError };
      return false;
    }
  }

  #runOnCpu(layout: FrameLayout, job: EffectJob, src: Frame, dst: Frame): void {
    const cpu = this.#cpu;
    if (src.owner === 'cpu' && dst.owner === 'cpu') return cpu.run(layout, job, src.ptr, dst.ptr);
    const bytes = frameBytes(layout);
    const a = cpu.alloc(bytes);
    const b = cpu.alloc(bytes);
    try {
      // Views are taken after both allocations: an allocation may move the CPU kernels' memory.
      cpu.view(a, bytes).set(this.#viewOf(src, bytes));
      cpu.run(layout, job, a, b);
      this.#viewOf(dst, bytes).set(cpu.view(b, bytes));
    } finally {
      cpu.free(b, bytes);
      cpu.free(a, bytes);
    }
  }

  #viewOf(frame: Frame, bytes: number): Uint8Array {
    return (frame.owner === 'gpu' ? this.#gpu! : this.#cpu).view(frame.ptr, bytes);
  }
}

export interface GpuWorkerKernels {
  readonly kernels: FallbackKernels;
  /** The GPU, when its kernels could be set up. */
  readonly info: CudaDeviceInfo | undefined;
}

/**
 * A worker's CUDA kernels behind the fallback. A GPU that cannot be set up here (the main thread's
 * probe passed, but this thread's context, module or stream failed) leaves the worker on the CPU
 * from the start, reported as given up.
 */
export async function createGpuWorkerKernels(
  cpu: EffectKernels,
  options: CudaKernelsOptions & FallbackOptions = {},
): Promise<GpuWorkerKernels> {
  try {
    const gpu = await createCudaKernels(options);
    return { kernels: new FallbackKernels(gpu, cpu, options), info: gpu.info };
  } catch (err) {
    return { kernels: new FallbackKernels(undefined, cpu, options, `CUDA setup failed: ${message(err)}`), info: undefined };
  }
}
