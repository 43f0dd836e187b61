/**
 * The WASM SIMD kernels against the reference implementation, pixel for pixel.
 * Exact (max abs diff 0): blur, sharpen, edge, pixelate, grayscale, invert (integer arithmetic on
 * both sides). Within 1: gaussian (fixed point or f32 in the kernel, f64 in the reference; they
 * can only part where the exact value sits on a rounding boundary). How close gaussian is to the
 * exact Gaussian: gaussian-accuracy.test.ts.
 */
import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';
import fc from 'fast-check';
import { frameBytes, type FrameLayout, type PixelFormat } from '../../src/frames/layout.ts';
import {
  createWasmKernels,
  FILTER_EFFECT_NAMES,
  GAUSSIAN_RECURSIVE_MIN_SIGMA,
  EFFECTS,
  referenceApply,
  resolveParams,
  type EffectJob,
  type EffectKernels,
  type EffectName,
  type EffectParams,
} from '../../src/effects/index.ts';
import { randomFrame, runKernels } from '../kernels.ts';

const FORMATS: readonly PixelFormat[] = ['rgba', 'i420'];
/** Tiny (scalar paths), exact and non-multiples of the 16-byte SIMD width, odd chroma sizes. */
const SIZES: ReadonlyArray<readonly [number, number]> = [
  [1, 1], [1, 2], [2, 1], [3, 3], [4, 4], [5, 7], [16, 3], [17, 9], [33, 31], [64, 48],
];
const ITERS = [0, 1, 3] as const;

function tolerance(effect: EffectName): number {
  return effect === 'gaussian' ? 1 : 0;
}

/** min, default and max of each parameter (one at a time), or `{}` for parameterless effects. */
function paramSets(effect: EffectName): EffectParams[] {
  const specs = Object.entries(EFFECTS[effect].params as Record<string, { min: number; max: number; default: number }>);
  if (specs.length === 0) return [{}];
  const sets: EffectParams[] = [];
  for (const [name, spec] of specs) {
    for (const v of [spec.min, spec.default, spec.max]) sets.push(resolveParams(effect, { [name]: v }));
  }
  return sets;
}

let kernels: EffectKernels;
before(async () => {
  kernels = await createWasmKernels();
});

/** Runs the WASM kernels on `src`, checks src is untouched, returns the output. */
function runWasm(layout: FrameLayout, job: EffectJob, src: Uint8Array): Uint8Array {
  return runKernels(kernels, layout, job, src);
}

/** Asserts max |a - b| <= tol, naming the first offending sample. */
function assertClose(actual: Uint8Array, expected: Uint8Array, tol: number, what: string): void {
  assert.equal(actual.length, expected.length, `${what}: length`);
  for (let i = 0; i < actual.length; i++) {
    const a = actual[i] ?? -1;
    const e = expected[i] ?? -1;
    if (Math.abs(a - e) > tol) assert.fail(`${what}: byte ${i} is ${a}, reference ${e} (tolerance ${tol})`);
  }
}

function check(layout: FrameLayout, job: EffectJob, src: Uint8Array): void {
  const what = `${job.effect} ${JSON.stringify(job.params)} x${job.iters} ${layout.format} ${layout.width}x${layout.height}`;
  assertClose(runWasm(layout, job, src), referenceApply(layout, job, src), tolerance(job.effect), what);
}

describe('wasm kernels match the reference on random frames', () => {
  for (const effect of FILTER_EFFECT_NAMES) {
    for (const format of FORMATS) {
      test(`${effect} ${format}: every size, iters 0/1/3, params min/default/max`, () => {
        let seed = 1;
        for (const params of paramSets(effect)) {
          for (const [width, height] of SIZES) {
            for (const iters of ITERS) {
              const layout: FrameLayout = { format, width, height };
              check(layout, { effect, params, iters }, randomFrame(layout, seed++));
            }
          }
        }
      });
    }
  }
});

describe('gaussian at larger radii', () => {
  for (const format of FORMATS) {
    test(`sigma 0.5, 5.5 and 32 on bigger ${format} frames`, () => {
      for (const [sigma, width, height] of [[0.5, 130, 70], [5.5, 96, 80], [32, 150, 110]] as const) {
        const layout: FrameLayout = { format, width, height };
        check(layout, { effect: 'gaussian', params: { sigma }, iters: 1 }, randomFrame(layout, sigma * 100));
      }
    });
  }
});

test('gaussian on both sides of the recursive filter\'s threshold, once and in place three times', () => {
  const exports = (kernels as unknown as { exports: { gaussianRecursiveMinSigma(): number } }).exports;
  assert.equal(exports.gaussianRecursiveMinSigma(), GAUSSIAN_RECURSIVE_MIN_SIGMA, 'assembly/gaussian-iir.ts and src/effects/reference.ts agree');
  const below = GAUSSIAN_RECURSIVE_MIN_SIGMA - 0.01;
  for (const format of FORMATS) {
    for (const [width, height] of [[70, 53], [16, 17], [3, 40]] as const) {
      const layout: FrameLayout = { format, width, height };
      for (const sigma of [below, GAUSSIAN_RECURSIVE_MIN_SIGMA]) {
        for (const iters of [1, 3]) check(layout, { effect: 'gaussian', params: { sigma }, iters }, randomFrame(layout, width + iters + sigma));
      }
    }
  }
});

test('gaussian across the sigma range on high-contrast frames (worst case for fixed point)', () => {
  const layout: FrameLayout = { format: 'rgba', width: 45, height: 26 };
  for (const sigma of [0.5, 0.7, 1, 1.3, 2.2, 3.7, 6, 10.3, 16, 24.9, 32]) {
    const src = randomFrame(layout, Math.round(sigma * 10)).map((v) => (v & 1 ? 255 : 0));
    check(layout, { effect: 'gaussian', params: { sigma }, iters: 1 }, src);
  }
});

describe('structured frames', () => {
  const layout: FrameLayout = { format: 'rgba', width: 37, height: 21 };
  const bytes = frameBytes(layout);

  test('opaque frames stay opaque under the alpha-filtering effects', () => {
    const src = randomFrame(layout, 7);
    for (let i = 3; i < bytes; i += 4) src[i] = 255;
    for (const effect of ['blur', 'gaussian', 'pixelate', 'sharpen'] as const) {
      const out = runWasm(layout, { effect, params: resolveParams(effect, {}), iters: 2 }, src);
      for (let i = 3; i < bytes; i += 4) assert.equal(out[i], 255, `${effect}: alpha at ${i}`);
    }
  });

  test('constant frames are fixed points of the smoothing effects (no fixed-point overflow)', () => {
    for (const value of [0, 1, 128, 254, 255]) {
      const src = new Uint8Array(bytes).fill(value);
      const jobs: EffectJob[] = [
        { effect: 'blur', params: {}, iters: 1 },
        { effect: 'sharpen', params: {}, iters: 1 },
        { effect: 'pixelate', params: { block: 5 }, iters: 1 },
        ...[0.5, 2, 7.7, 32].map((sigma): EffectJob => ({ effect: 'gaussian', params: { sigma }, iters: 1 })),
      ];
      for (const job of jobs) {
        const out = runWasm(layout, job, src);
        assert.ok(out.every((v) => v === value), `${job.effect} ${JSON.stringify(job.params)} keeps ${value}`);
      }
    }
  });

  test('alpha is kept by grayscale, edge and invert', () => {
    const src = randomFrame(layout, 8);
    for (const effect of ['grayscale', 'edge', 'invert'] as const) {
      const out = runWasm(layout, { effect, params: {}, iters: 1 }, src);
      for (let i = 3; i < bytes; i += 4) assert.equal(out[i], src[i], `${effect}: alpha at ${i}`);
    }
  });

  test('hard edges saturate Sobel and sharpen both ways', () => {
    // Vertical stripes 0/255 of width 1 give |gx| up to 1020 and sharpen values below 0 and above 255.
    const src = new Uint8Array(bytes);
    for (let y = 0; y < layout.height; y++) {
      for (let x = 0; x < layout.width; x++) {
        const v = (x + (y >> 2)) % 2 === 0 ? 255 : 0;
        src.fill(v, (y * layout.width + x) * 4, (y * layout.width + x) * 4 + 3);
        src[(y * layout.width + x) * 4 + 3] = 255;
      }
    }
    for (const effect of ['edge', 'sharpen', 'blur'] as const) {
      const job = { effect, params: {}, iters: 1 };
      const out = runWasm(layout, job, src);
      assertClose(out, referenceApply(layout, job, src), 0, effect);
      if (effect !== 'blur') assert.ok(out.includes(255) && out.includes(0), `${effect} reaches both ends`);
    }
  });

  test('known values: blur of a single bright pixel, invert, grayscale', () => {
    const one: FrameLayout = { format: 'i420', width: 3, height: 3 };
    const src = new Uint8Array(frameBytes(one));
    src[4] = 90; // centre of Y
    const blurred = runWasm(one, { effect: 'blur', params: {}, iters: 1 }, src);
    assert.deepEqual([...blurred.subarray(0, 9)], [10, 10, 10, 10, 10, 10, 10, 10, 10]);
    const inverted = runWasm(one, { effect: 'invert', params: {}, iters: 1 }, src);
    assert.equal(inverted[4], 165);
    assert.equal(inverted[9], 255);
    const px: FrameLayout = { format: 'rgba', width: 1, height: 1 };
    assert.deepEqual([...runWasm(px, { effect: 'grayscale', params: {}, iters: 1 }, Uint8Array.of(255, 0, 0, 7))], [77, 77, 77, 7]);
  });
});

test('the blur divisor 3641 / 2^15 rounds exactly like (sum + 4) / 9 for every 3x3 sum', () => {
  for (let s = 0; s <= 9 * 255; s++) assert.equal((s * 3641 + (1 << 14)) >> 15, Math.floor((s + 4) / 9), `sum ${s}`);
});

test('property: random sizes, formats, effects, params and iterations', () => {
  const job = fc.constantFrom(...FILTER_EFFECT_NAMES).chain((effect) =>
    fc.record({
      effect: fc.constant(effect),
      iters: fc.integer({ min: 0, max: 2 }),
      params: fc.record({
        sigma: fc.double({ min: 0.5, max: 4, noNaN: true }),
        block: fc.integer({ min: EFFECTS.pixelate.params.block.min, max: 40 }),
      }),
    }),
  );
  fc.assert(
    fc.property(
      fc.constantFrom(...FORMATS),
      fc.integer({ min: 1, max: 40 }),
      fc.integer({ min: 1, max: 40 }),
      job,
      fc.integer(),
      (format, width, height, j, seed) => {
        const layout: FrameLayout = { format, width, height };
        check(layout, j, randomFrame(layout, seed));
      },
    ),
    { numRuns: 150, seed: 0x5eed },
  );
});
