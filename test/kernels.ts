import assert from 'node:assert/strict';
import type { EffectJob, EffectKernels } from '../src/effects/index.ts';
import { frameBytes, type FrameLayout } from '../src/frames/layout.ts';

/** Runs `kernels` on `src`, checks that src is left untouched, returns the output. */
export function runKernels(kernels: EffectKernels, layout: FrameLayout, job: EffectJob, src: Uint8Array): Uint8Array {
  const bytes = frameBytes(layout);
  const srcPtr = kernels.alloc(bytes);
  const dstPtr = kernels.alloc(bytes);
  try {
    kernels.view(srcPtr, bytes).set(src);
    kernels.view(dstPtr, bytes).fill(0xa5);
    kernels.run(layout, job, srcPtr, dstPtr);
    assert.deepEqual(kernels.view(srcPtr, bytes), src, 'srcPtr must be left untouched');
    return kernels.view(dstPtr, bytes).slice();
  } finally {
    kernels.free(dstPtr, bytes);
    kernels.free(srcPtr, bytes);
  }
}

/** mulberry32: small, seeded, good enough for test frames. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function randomFrame(layout: FrameLayout, seed: number): Uint8Array {
  const next = prng(seed);
  const out = new Uint8Array(frameBytes(layout));
  for (let i = 0; i < out.length; i++) out[i] = Math.floor(next() * 256);
  return out;
}
