import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import type { EffectJob, EffectKernels } from '../src/effects/index.ts';
import { frameBytes, type FrameLayout } from '../src/frames/layout.ts';
import { packageUrl } from '../src/paths.ts';

// No lib "dom", and @types/node 20 has no WebAssembly namespace (as in src/effects/wasm.ts).
declare const WebAssembly: { validate(bytes: Uint8Array): boolean };

/** The flag Node 20 needs to run the relaxed-SIMD build (Node 22 runs it as it is, and refuses the flag). */
export const RELAXED_SIMD_FLAG = '--experimental-wasm-relaxed-simd';

let relaxedValidates: boolean | undefined;

/** This process runs build/effects-relaxed.wasm (Node 22; Node 20 only with RELAXED_SIMD_FLAG). */
export function relaxedSimdHere(): boolean {
  relaxedValidates ??= WebAssembly.validate(readFileSync(packageUrl('build/effects-relaxed.wasm')));
  return relaxedValidates;
}

/** Runs module `source` (tsx, so it may import .ts) in a child that runs the relaxed-SIMD build; resolves with its stdout. */
export function runWithRelaxedSimd(source: string): Promise<string> {
  const flags = relaxedSimdHere() ? [] : [RELAXED_SIMD_FLAG];
  return new Promise<string>((resolve, reject) => {
    execFile(process.execPath, [...flags, '--import', 'tsx', '--input-type=module', '-e', source], { timeout: 60_000 }, (error, out, err) =>
      error ? reject(new Error(`${error.message}\n${err}`)) : resolve(out),
    );
  });
}

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
