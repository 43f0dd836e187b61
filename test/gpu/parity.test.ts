/**
 * CPU vs GPU parity on a real CUDA device (`npm run test:gpu`): every effect and parameter, RGBA
 * and I420, awkward sizes up to 1920x1080 and beyond, iterations 0, 1 and 3, random frames.
 *
 * Without a CUDA device these tests are skipped with the probe's reason, unless DEVICE=cuda is
 * set: then a missing device is a failure, so a GPU CI job cannot pass by skipping.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { createCudaKernels, type CudaKernels } from '../../src/cuda/cuda-kernels.ts';
import { probeCuda } from '../../src/cuda/probe.ts';
import { createWasmKernels, FILTER_EFFECT_NAMES, resolveParams, type EffectKernels } from '../../src/effects/index.ts';
import { checkParity, FORMATS, ITERS, maxAbsDiff, randomFrame, runKernels, smallCases } from './parity-cases.ts';

const found = probeCuda();
const required = process.env.DEVICE === 'cuda';
const skip = found.ok ? false : `no CUDA device: ${found.reason}`;

if (required) {
  test('a CUDA device is present (DEVICE=cuda)', () => {
    assert.ok(found.ok, `DEVICE=cuda but ${skip}`);
  });
}

describe('CUDA parity with the CPU', { skip: required ? false : skip }, () => {
  let gpu: CudaKernels;
  let wasm: EffectKernels;

  before(async () => {
    gpu = await createCudaKernels();
    wasm = await createWasmKernels();
  });
  after(() => gpu?.close());

  test('every effect, parameter, format, small awkward size and iteration count (vs reference and WASM)', () => {
    for (const c of smallCases()) checkParity({ gpu, wasm }, c.layout, c.job, c.seed, true);
  });

  test('large and odd frames up to 3840x2160 (vs WASM)', () => {
    const sizes = [[1001, 3], [257, 129], [1279, 719], [1920, 1080], [1919, 1081]] as const;
    let seed = 1000;
    for (const [width, height] of sizes) {
      for (const format of FORMATS) {
        for (const effect of FILTER_EFFECT_NAMES) {
          const params = effect === 'gaussian' ? [{ sigma: 8 }, { sigma: 32 }] : effect === 'pixelate' ? [{ block: 2 }, { block: 16 }, { block: 256 }] : [{}];
          for (const p of params) {
            for (const iters of ITERS) {
              checkParity({ gpu, wasm }, { format, width, height }, { effect, params: resolveParams(effect, p), iters }, seed++, false);
            }
          }
        }
      }
    }
    const uhd = { format: 'rgba', width: 3840, height: 2160 } as const;
    const job = { effect: 'blur', params: {}, iters: 10 } as const;
    const src = randomFrame(uhd, 4096);
    assert.ok(maxAbsDiff(runKernels(gpu, uhd, job, src), runKernels(wasm, uhd, job, src)).max <= 1);
  });

  test('kernel time comes from CUDA events (1080p gaussian sigma 8, figure only)', (t) => {
    const layout = { format: 'rgba', width: 1920, height: 1080 } as const;
    const job = { effect: 'gaussian', params: { sigma: 8 }, iters: 1 } as const;
    const src = randomFrame(layout, 8);
    const ms: number[] = [];
    for (let i = 0; i < 20; i++) {
      runKernels(gpu, layout, job, src);
      ms.push(gpu.lastKernelSeconds * 1000);
    }
    ms.sort((a, b) => a - b);
    assert.ok((ms[0] ?? 0) > 0);
    t.diagnostic(`${gpu.info.name}: 1080p gaussian sigma 8, median ${ms[ms.length >> 1]?.toFixed(3)} ms in the kernels`);
  });
});
