/**
 * The GPU fault policy (src/cuda/fallback.ts) with an injected GPU backend that fails on demand:
 * no GPU, no driver, no emulator. The "GPU" computes with its own WASM instance, so every result
 * can be checked against the reference whichever side produced it.
 */
import assert from 'node:assert/strict';
import { before, test } from 'node:test';
import { CudaError } from '../../src/cuda/driver.ts';
import { FallbackKernels, type GpuKernels } from '../../src/cuda/fallback.ts';
import { createWasmKernels, referenceApply, type EffectJob, type EffectKernels } from '../../src/effects/index.ts';
import type { FrameLayout } from '../../src/frames/layout.ts';
import { randomFrame, runKernels } from '../gpu/parity-cases.ts';

/** A "GPU" that fails while `failWith` is set, and counts what it was asked to do. */
class FlakyGpu implements GpuKernels {
  failWith: (() => Error) | undefined;
  failAlloc = false;
  runs = 0;
  allocs = 0;
  lastKernelSeconds = 0;
  readonly #inner: EffectKernels;

  constructor(inner: EffectKernels) {
    this.#inner = inner;
  }

  alloc(bytes: number): number {
    this.allocs++;
    if (this.failAlloc) throw new CudaError('cuMemHostAlloc', 2, 'CUDA_ERROR_OUT_OF_MEMORY', 'out of memory');
    return this.#inner.alloc(bytes);
  }

  free(ptr: number, bytes: number): void {
    this.#inner.free(ptr, bytes);
  }

  view(ptr: number, bytes: number): Uint8Array {
    return this.#inner.view(ptr, bytes);
  }

  run(layout: FrameLayout, job: EffectJob, srcPtr: number, dstPtr: number): void {
    this.runs++;
    if (this.failWith) {
      // A failure may leave garbage behind in the output, as a half-finished GPU job can.
      this.#inner.view(dstPtr, 4).fill(0x5a);
      throw this.failWith();
    }
    this.#inner.run(layout, job, srcPtr, dstPtr);
    this.lastKernelSeconds = 0.000125;
  }
}

const layout: FrameLayout = { format: 'rgba', width: 19, height: 11 };
const job: EffectJob = { effect: 'gaussian', params: { sigma: 1.5 }, iters: 2 };
const src = randomFrame(layout, 42);
let expected: Uint8Array;
let cpu: EffectKernels;

async function setup(maxConsecutiveFailures?: number): Promise<{ gpu: FlakyGpu; kernels: FallbackKernels }> {
  const gpu = new FlakyGpu(await createWasmKernels());
  return { gpu, kernels: new FallbackKernels(gpu, cpu, { maxConsecutiveFailures }) };
}

before(async () => {
  cpu = await createWasmKernels();
  expected = runKernels(await createWasmKernels(), layout, job, src);
  const ref = referenceApply(layout, job, src);
  assert.ok(expected.every((v, i) => Math.abs(v - (ref[i] ?? 0)) <= 1));
});

test('a healthy GPU computes the job and reports its kernel time', async () => {
  const { gpu, kernels } = await setup();
  assert.deepEqual(runKernels(kernels, layout, job, src), expected);
  assert.equal(gpu.runs, 1);
  assert.deepEqual(kernels.lastReport, { device: 'cuda', fellBack: false, kernelSeconds: 0.000125, gpuHealthy: true });
});

test('a GPU error: the job is redone on the CPU, correctly, and reported as a fallback', async () => {
  const { gpu, kernels } = await setup();
  gpu.failWith = () => new CudaError('cuLaunchKernel', 2, 'CUDA_ERROR_OUT_OF_MEMORY', 'out of memory');
  assert.deepEqual(runKernels(kernels, layout, job, src), expected);
  assert.equal(kernels.lastReport.fellBack, true);
  assert.equal(kernels.lastReport.device, 'cpu');
  assert.equal(kernels.lastReport.gpuHealthy, true, 'one failure is not enough to give the GPU up');
  assert.match(kernels.lastReport.gpuError ?? '', /cuLaunchKernel: CUDA_ERROR_OUT_OF_MEMORY/);
  gpu.failWith = undefined;
  assert.deepEqual(runKernels(kernels, layout, job, src), expected);
  assert.equal(kernels.lastReport.device, 'cuda');
});

test('three failures in a row give the GPU up for good; a success in between resets the count', async () => {
  const { gpu, kernels } = await setup(3);
  const boom = () => new Error('kernel exploded');
  for (const fail of [true, true, false, true, true]) {
    gpu.failWith = fail ? boom : undefined;
    assert.deepEqual(runKernels(kernels, layout, job, src), expected);
    assert.equal(kernels.gpuHealthy, true);
  }
  gpu.failWith = boom;
  assert.deepEqual(runKernels(kernels, layout, job, src), expected);
  assert.equal(kernels.gpuHealthy, false);
  assert.deepEqual({ ...kernels.lastReport, gpuError: undefined }, { device: 'cpu', fellBack: true, gpuHealthy: false, gpuError: undefined });

  // From now on: CPU memory, CPU kernels, no more GPU calls, no more "fallbacks".
  gpu.failWith = undefined;
  const { runs, allocs } = gpu;
  for (let i = 0; i < 3; i++) assert.deepEqual(runKernels(kernels, layout, job, src), expected);
  assert.equal(gpu.runs, runs);
  assert.equal(gpu.allocs, allocs);
  assert.equal(kernels.lastReport.fellBack, false);
  assert.equal(kernels.lastReport.device, 'cpu');
  assert.match(kernels.lastReport.gpuError ?? '', /kernel exploded/, 'the reason it was given up stays visible');
});

test('an error that corrupts the CUDA context gives the GPU up at once', async () => {
  const { gpu, kernels } = await setup(10);
  gpu.failWith = () => new CudaError('cuEventSynchronize', 700, 'CUDA_ERROR_ILLEGAL_ADDRESS', 'an illegal memory access was encountered');
  assert.deepEqual(runKernels(kernels, layout, job, src), expected);
  assert.equal(kernels.gpuHealthy, false);
});

test('frames allocated on the GPU side are still served after it is given up', async () => {
  const { gpu, kernels } = await setup(1);
  const bytes = src.length;
  // A long-lived frame (the worker's cached test card) lives in the GPU backend's memory.
  const card = kernels.alloc(bytes);
  kernels.view(card, bytes).set(src);
  gpu.failWith = () => new Error('device lost');
  const out = kernels.alloc(bytes);
  kernels.run(layout, job, card, out);
  assert.deepEqual(kernels.view(out, bytes), expected);
  assert.equal(kernels.gpuHealthy, false);
  const out2 = kernels.alloc(bytes); // now from CPU memory: a mixed pair is staged through the CPU
  kernels.run(layout, job, card, out2);
  assert.deepEqual(kernels.view(out2, bytes), expected);
  kernels.free(out2, bytes);
  kernels.free(out, bytes);
  kernels.free(card, bytes);
});

test('a failed pinned allocation sends the job to the CPU and counts as a fallback', async () => {
  const { gpu, kernels } = await setup();
  gpu.failAlloc = true;
  assert.deepEqual(runKernels(kernels, layout, job, src), expected);
  assert.equal(gpu.runs, 0);
  assert.equal(kernels.lastReport.fellBack, true);
  assert.match(kernels.lastReport.gpuError ?? '', /cuMemHostAlloc/);
  gpu.failAlloc = false;
  assert.deepEqual(runKernels(kernels, layout, job, src), expected);
  assert.equal(kernels.lastReport.device, 'cuda');
});

test('argument errors are the caller’s: rethrown, not counted against the GPU', async () => {
  const { gpu, kernels } = await setup(1);
  gpu.failWith = () => new RangeError('gaussian: sigma must be in (0, 32]');
  assert.throws(() => runKernels(kernels, layout, job, src), RangeError);
  assert.equal(kernels.gpuHealthy, true);
});

test('preferCpu runs on the CPU without calling it a fallback', async () => {
  const { gpu, kernels } = await setup();
  kernels.preferCpu(true);
  assert.deepEqual(runKernels(kernels, layout, job, src), expected);
  assert.equal(gpu.runs, 0);
  assert.deepEqual(kernels.lastReport, { device: 'cpu', fellBack: false, gpuHealthy: true });
});

test('no GPU at all: everything on the CPU, reported as given up with the reason', async () => {
  const kernels = new FallbackKernels(undefined, cpu, {}, 'CUDA setup failed: cuModuleLoadData: CUDA_ERROR_UNSUPPORTED_PTX_VERSION');
  assert.deepEqual(runKernels(kernels, layout, job, src), expected);
  assert.equal(kernels.gpuHealthy, false);
  assert.equal(kernels.lastReport.fellBack, false);
  assert.match(kernels.lastReport.gpuError ?? '', /UNSUPPORTED_PTX_VERSION/);
});
