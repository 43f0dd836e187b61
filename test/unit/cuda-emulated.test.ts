/**
 * The CUDA backend end to end on the emulated driver (src/cuda/emulator): the koffi declarations,
 * the memory pools, the launch parameters and the kernels' own source, compiled as host code,
 * against the reference. What it cannot show is nvcc's device code and GPU timing: test/gpu does
 * that on a GPU machine.
 *
 * Needs a host C++ compiler: skipped without one, except in CI where that is a failure.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { createCudaKernels, type CudaKernels } from '../../src/cuda/cuda-kernels.ts';
import { probeCuda } from '../../src/cuda/probe.ts';
import { CudaError, emulatorControl } from '../../src/cuda/driver.ts';
import { buildCudaEmulator, hostCompilerAvailable } from '../../src/cuda/emulator/build.ts';
import { FallbackKernels } from '../../src/cuda/fallback.ts';
import { createWasmKernels, referenceApply, type EffectJob, type EffectKernels } from '../../src/effects/index.ts';
import { frameBytes, type FrameLayout } from '../../src/frames/layout.ts';
import { checkParity, maxAbsDiff, randomFrame, runKernels, smallCases } from '../gpu/parity-cases.ts';
import { requireOrSkip } from '../tools.ts';

const compiler = hostCompilerAvailable();
const skip = requireOrSkip(compiler, 'a host C++ compiler (g++) for the CUDA emulator', 'apt-get install g++');

describe('CUDA backend on the emulated driver', { skip }, () => {
  let lib: string;
  let control: (command: string) => number;
  let gpu: CudaKernels;
  let wasm: EffectKernels;

  before(async () => {
    lib = buildCudaEmulator();
    control = emulatorControl(lib);
    gpu = await createCudaKernels({ libraryPath: lib });
    wasm = await createWasmKernels();
  });
  after(() => gpu?.close());

  test('the probe reports the device, and no device when there is none', () => {
    const found = probeCuda({ libraryPath: lib });
    assert.ok(found.ok, JSON.stringify(found));
    assert.equal(found.info.name, 'Emulated CUDA device (CPU)');
    assert.equal(found.info.totalMemoryBytes, 2 ** 30);
    assert.equal(found.info.computeCapability, '7.5');
    assert.equal(found.info.driverCudaVersion, '13.0');
    control('devices 0');
    try {
      const none = probeCuda({ libraryPath: lib });
      assert.equal(none.ok, false);
      assert.match(!none.ok ? none.reason : '', /no CUDA device.*CUDA_ERROR_NO_DEVICE/);
    } finally {
      control('reset');
      probeCuda({ libraryPath: lib }); // initialises the driver again for the tests below
    }
  });

  test('every effect, parameter, format, awkward size and iteration count matches the reference and WASM', () => {
    let cases = 0;
    for (const c of smallCases()) {
      checkParity({ gpu, wasm }, c.layout, c.job, c.seed, true);
      cases++;
    }
    assert.ok(cases > 600, `${cases} cases`);
  });

  test('1920x1080 frames match the WASM kernels', () => {
    for (const format of ['rgba', 'i420'] as const) {
      const layout = { format, width: 1920, height: 1080 };
      const jobs: EffectJob[] = [
        { effect: 'blur', params: {}, iters: 2 },
        { effect: 'invert', params: {}, iters: 1 },
        { effect: 'grayscale', params: {}, iters: 1 },
        { effect: 'edge', params: {}, iters: 1 },
        { effect: 'pixelate', params: { block: 5 }, iters: 1 },
      ];
      // One frame per format (8 MB of RGBA is a tenth of a second to make); runKernels copies it in.
      const src = randomFrame(layout, 1080);
      for (const job of jobs) {
        const { max, at } = maxAbsDiff(runKernels(gpu, layout, job, src), runKernels(wasm, layout, job, src));
        assert.ok(max <= 1, `${job.effect} ${format}: ${max} at ${at}`);
      }
    }
  });

  test('one upload and one download per job, every iteration on the device, buffers reused', () => {
    const layout: FrameLayout = { format: 'rgba', width: 40, height: 30 };
    const job = { effect: 'gaussian', params: { sigma: 1 }, iters: 10 } as const;
    runKernels(gpu, layout, job, randomFrame(layout, 1)); // warm the pools for this size
    control('reset');
    for (let i = 0; i < 5; i++) runKernels(gpu, layout, job, randomFrame(layout, i));
    assert.equal(control('count cuMemcpyHtoDAsync_v2'), 5);
    assert.equal(control('count cuMemcpyDtoHAsync_v2'), 5);
    assert.equal(control('count cuLaunchKernel'), 5 * 10 * 2, 'two passes per gaussian iteration');
    assert.equal(control('count cuMemAlloc_v2'), 0, 'device buffers come from the pool');
    assert.equal(control('count cuMemHostAlloc'), 0, 'pinned host blocks come from the pool');
    assert.equal(control('count cuEventSynchronize'), 5, 'one wait per job');
    assert.equal(control('count cuStreamSynchronize'), 0);
    assert.ok(gpu.lastKernelSeconds > 0, 'kernel time from CUDA events');
  });

  test('iters=0 copies on the host; the pools stay within their budget', async () => {
    const small = await createCudaKernels({ libraryPath: lib, maxIdleHostBytes: 64 * 1024, maxIdleDeviceBytes: 64 * 1024 });
    try {
      const before = { device: control('live device-bytes'), host: control('live host-bytes') };
      for (const width of [10, 20, 30, 40, 50, 60]) {
        const layout: FrameLayout = { format: 'rgba', width, height: 100 };
        const src = randomFrame(layout, width);
        assert.deepEqual(runKernels(small, layout, { effect: 'blur', params: {}, iters: 0 }, src), src);
        assert.deepEqual(runKernels(small, layout, { effect: 'blur', params: {}, iters: 1 }, src), referenceApply(layout, { effect: 'blur', params: {}, iters: 1 }, src));
      }
      assert.ok(control('live device-bytes') - before.device <= 64 * 1024, 'idle device buffers beyond the budget are freed');
      assert.ok(control('live host-bytes') - before.host <= 64 * 1024, 'idle pinned blocks beyond the budget are freed');
    } finally {
      small.close();
    }
  });

  test('bad jobs are refused like the CPU kernels refuse them', () => {
    const layout: FrameLayout = { format: 'rgba', width: 4, height: 4 };
    const bytes = frameBytes(layout);
    const a = gpu.alloc(bytes);
    const b = gpu.alloc(bytes);
    try {
      assert.throws(() => gpu.run(layout, { effect: 'gaussian', params: { sigma: 33 }, iters: 1 }, a, b), RangeError);
      assert.throws(() => gpu.run(layout, { effect: 'pixelate', params: { block: 0 }, iters: 1 }, a, b), RangeError);
      assert.throws(() => gpu.run(layout, { effect: 'blur', params: {}, iters: -1 }, a, b), RangeError);
      assert.throws(() => gpu.run(layout, { effect: 'blur', params: {}, iters: 1 }, a, a), /overlap/);
      assert.throws(() => gpu.run({ ...layout, width: 400 }, { effect: 'blur', params: {}, iters: 1 }, a, b), RangeError);
      assert.throws(() => gpu.free(a + 1, bytes), RangeError);
    } finally {
      gpu.free(b, bytes);
      gpu.free(a, bytes);
    }
  });

  test('a failing launch is a CudaError; a sticky one makes the fallback give the GPU up at once', async () => {
    const layout: FrameLayout = { format: 'i420', width: 31, height: 17 };
    const job = { effect: 'sharpen', params: {}, iters: 3 } as const;
    const src = randomFrame(layout, 7);
    const expected = referenceApply(layout, job, src);

    control('reset');
    control('fault cuLaunchKernel 2 1 1');
    assert.throws(() => runKernels(gpu, layout, job, src), (err: unknown) => err instanceof CudaError && err.errorName === 'CUDA_ERROR_OUT_OF_MEMORY' && !err.sticky);
    assert.deepEqual(runKernels(gpu, layout, job, src), expected, 'a non-sticky error leaves the backend usable');

    const own = await createCudaKernels({ libraryPath: lib });
    const safe = new FallbackKernels(own, wasm);
    control('fault cuLaunchKernel 700 2 1');
    assert.deepEqual(runKernels(safe, layout, job, src), expected, 'redone on the CPU');
    assert.equal(safe.lastReport.fellBack, true);
    assert.equal(safe.lastReport.device, 'cpu');
    assert.equal(safe.gpuHealthy, false, 'CUDA_ERROR_ILLEGAL_ADDRESS corrupts the context');
    assert.match(safe.lastReport.gpuError ?? '', /CUDA_ERROR_ILLEGAL_ADDRESS/);
    // Every later CUDA call fails now (as on a GPU); jobs keep succeeding on the CPU.
    assert.deepEqual(runKernels(safe, layout, job, src), expected);
    assert.equal(safe.lastReport.fellBack, false);
    assert.equal(safe.lastReport.device, 'cpu');
    control('reset');
    own.close();
  });
});
