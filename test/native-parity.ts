/**
 * The native kernels against the WASM kernels they stand beside: every gaussian, grayscale and invert byte, over sizes
 * and sigmas that reach every path of both (test/unit/native-kernels.test.ts runs it in process,
 * and in a child where the runtime needs a flag for the relaxed-SIMD build).
 */
import { resolveParams, type EffectJob } from '../src/effects/catalog.ts';
import type { KernelBuild } from '../src/effects/kernel-types.ts';
import { nativeKernels, type NativeIsa } from '../src/effects/native.ts';
import { createWasmKernels } from '../src/effects/wasm.ts';
import type { FrameLayout } from '../src/frames/layout.ts';
import { randomFrame, runKernels } from './kernels.ts';

// Vector multiples, odd widths and heights (the FIR's overlapping last chunk and one-row sweep, the
// recursive filter's partial last lines), rows a little past a multiple of the vector width, one row, planes one vector wide, narrower ones (the FIR
// declines them, the recursive filter serves them), I420's one-channel planes down to a 3x2 chroma.
export const PARITY_LAYOUTS: readonly FrameLayout[] = [
  { format: 'rgba', width: 1280, height: 720 },
  { format: 'rgba', width: 97, height: 61 },
  { format: 'rgba', width: 16, height: 5 },
  { format: 'rgba', width: 9, height: 3 },
  { format: 'rgba', width: 641, height: 1 },
  { format: 'rgba', width: 3, height: 2 },
  { format: 'rgba', width: 516, height: 9 },
  { format: 'i420', width: 2080, height: 6 },
  { format: 'i420', width: 6, height: 4 },
  { format: 'i420', width: 642, height: 362 },
  { format: 'i420', width: 130, height: 33 },
];
export const PARITY_SIGMAS: readonly number[] = [0.5, 1, 2, 3.3, 4.99, 5, 8, 24];

/** Jobs per layout: the gaussian at each sigma, grayscale and invert. */
export const PARITY_JOBS_PER_LAYOUT = PARITY_SIGMAS.length + 2;

/** Cases run and those whose output differs from the WASM kernels' (empty: bit-identical). */
export async function nativeParity(build: KernelBuild, isa: NativeIsa): Promise<{ cases: number; differ: string[] }> {
  const wasm = await createWasmKernels({ build });
  const native = await createWasmKernels({ build, native: nativeKernels(isa, build) });
  const differ: string[] = [];
  let cases = 0;
  const jobs: EffectJob[] = [
    ...PARITY_SIGMAS.map((sigma): EffectJob => ({ effect: 'gaussian', params: resolveParams('gaussian', { sigma }), iters: 2 })),
    { effect: 'grayscale', params: resolveParams('grayscale', {}), iters: 1 },
    { effect: 'invert', params: resolveParams('invert', {}), iters: 1 },
  ];
  for (const layout of PARITY_LAYOUTS) {
    const src = randomFrame(layout, layout.width * 31 + layout.height);
    for (const job of jobs) {
      const a = runKernels(wasm, layout, job, src);
      const b = runKernels(native, layout, job, src);
      if (!Buffer.from(a).equals(Buffer.from(b))) differ.push(`${build} ${isa} ${layout.format} ${layout.width}x${layout.height} ${job.effect} ${JSON.stringify(job.params)}`);
      cases++;
    }
  }
  return { cases, differ };
}
