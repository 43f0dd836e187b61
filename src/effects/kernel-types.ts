import type { FrameLayout } from '../frames/layout.ts';
import type { EffectJob } from './catalog.ts';

/**
 * The two builds of the WASM kernels (scripts/build-wasm.mjs): `simd` (build/effects.wasm) and
 * `relaxed-simd` (build/effects-relaxed.wasm, the relaxed-SIMD proposal: fused multiply-adds).
 */
export type KernelBuild = 'simd' | 'relaxed-simd';

/**
 * A CPU effects backend whose frames live in its own linear memory (WASM), addressed by offsets so
 * that a memory growth never leaves a caller with a stale pointer. Views are cheap and valid until
 * the next `alloc`.
 */
export interface FrameMemory {
  /** Reserves `bytes` and returns its offset; reuses freed blocks of the same size first. */
  alloc(bytes: number): number;
  free(ptr: number, bytes: number): void;
  /** A view over [ptr, ptr + bytes). Invalidated by the next alloc (memory may grow). */
  view(ptr: number, bytes: number): Uint8Array;
}

export interface EffectKernels extends FrameMemory {
  /**
   * Applies `job.iters` passes of `job.effect` to the frame at `srcPtr` and leaves the result at
   * `dstPtr`. `srcPtr` is left untouched (so a cached source frame can be reused); both hold
   * `frameBytes(layout)` bytes. Intermediate passes use scratch memory owned by the kernels.
   * `shouldStop` is asked between passes; when it says true the run throws JobCancelledError
   * (backends that cannot stop mid-job may ignore it).
   */
  run(layout: FrameLayout, job: EffectJob, srcPtr: number, dstPtr: number, shouldStop?: () => boolean): void;
  /** Frees scratch the kernels keep between runs (memory is short); the next run takes it again. */
  releaseScratch?(): void;
}
