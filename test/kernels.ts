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
