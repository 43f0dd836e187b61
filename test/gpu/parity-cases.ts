/**
 * The CUDA parity cases, shared by the tests on a real GPU (test/gpu) and on the emulated driver
 * (test/unit/cuda-emulated.test.ts): every effect with its parameters at min, default and max,
 * RGBA and I420, awkward sizes, iterations 0, 1 and 3, random frames.
 *
 * Oracles: the reference (the definition) where it is fast enough, the WASM kernels always.
 * Against the reference the integer effects must be exact and gaussian within 1 (float against
 * f64: they part only where the exact value sits on a .5); against the WASM kernels every effect
 * must be within 1 (their gaussian is fixed point, also within 1 of the reference).
 */
import assert from 'node:assert/strict';
import { FILTER_EFFECT_NAMES, EFFECTS, GAUSSIAN_RECURSIVE_MIN_SIGMA, referenceApply, resolveParams, type EffectJob, type EffectKernels, type EffectName, type EffectParams } from '../../src/effects/index.ts';
import type { FrameLayout, PixelFormat } from '../../src/frames/layout.ts';

export const FORMATS: readonly PixelFormat[] = ['rgba', 'i420'];
export const ITERS = [0, 1, 3] as const;

/** 1x1, thin, odd, around the 32x8 pixel blocks and the 128-wide gaussian tile. */
export const SMALL_SIZES: ReadonlyArray<readonly [number, number]> = [
  [1, 1], [1, 2], [2, 1], [3, 3], [5, 7], [17, 9], [33, 31], [64, 48], [129, 3], [130, 17],
];


/** min, default and max of each parameter (one at a time), or `{}` for parameterless effects. */
export function paramSets(effect: EffectName): EffectParams[] {
  const specs = Object.entries(EFFECTS[effect].params as Record<string, { min: number; max: number; default: number }>);
  if (specs.length === 0) return [{}];
  const sets: EffectParams[] = [];
  for (const [name, spec] of specs) {
    for (const v of [spec.min, spec.default, spec.max]) sets.push(resolveParams(effect, { [name]: v }));
  }
  return sets;
}

/**
 * Values where the CUDA backend switches kernels (pixelate: one thread per tile up to 8; gaussian:
 * the recursive filter from GAUSSIAN_RECURSIVE_MIN_SIGMA on), and sigma 8.
 */
const BOUNDARY_PARAMS: Partial<Record<EffectName, EffectParams[]>> = {
  pixelate: [{ block: 8 }, { block: 9 }, { block: 17 }],
  gaussian: [{ sigma: GAUSSIAN_RECURSIVE_MIN_SIGMA - 0.01 }, { sigma: GAUSSIAN_RECURSIVE_MIN_SIGMA }, { sigma: 8 }],
};

export function referenceTolerance(effect: EffectName): number {
  return effect === 'gaussian' ? 1 : 0;
}

export function maxAbsDiff(a: Uint8Array, b: Uint8Array): { max: number; at: number } {
  assert.equal(a.length, b.length);
  let max = 0;
  let at = -1;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs((a[i] ?? 0) - (b[i] ?? 0));
    if (d > max) {
      max = d;
      at = i;
    }
  }
  return { max, at };
}

import { prng, randomFrame, runKernels } from '../kernels.ts';

export { prng, randomFrame, runKernels };

export interface ParityOracles {
  readonly gpu: EffectKernels;
  readonly wasm: EffectKernels;
}

/** One case: GPU against the reference (when `withReference`) and against WASM. */
export function checkParity(o: ParityOracles, layout: FrameLayout, job: EffectJob, seed: number, withReference: boolean): void {
  const src = randomFrame(layout, seed);
  const gpu = runKernels(o.gpu, layout, job, src);
  const what = `${job.effect} ${JSON.stringify(job.params)} ${layout.format} ${layout.width}x${layout.height} iters=${job.iters}`;
  if (withReference) {
    const { max, at } = maxAbsDiff(gpu, referenceApply(layout, job, src));
    assert.ok(max <= referenceTolerance(job.effect), `${what}: GPU vs reference differ by ${max} at byte ${at}`);
  }
  const { max, at } = maxAbsDiff(gpu, runKernels(o.wasm, layout, job, src));
  assert.ok(max <= 1, `${what}: GPU vs WASM differ by ${max} at byte ${at}`);
}

/** Every effect, parameter set, format, small size and iteration count. */
export function* smallCases(): Generator<{ layout: FrameLayout; job: EffectJob; seed: number }> {
  let seed = 1;
  for (const effect of FILTER_EFFECT_NAMES) {
    for (const params of [...paramSets(effect), ...(BOUNDARY_PARAMS[effect] ?? [])]) {
      for (const format of FORMATS) {
        for (const [width, height] of SMALL_SIZES) {
          for (const iters of ITERS) yield { layout: { format, width, height }, job: { effect, params, iters }, seed: seed++ };
        }
      }
    }
  }
}
