/**
 * Backend selection and the driver loader, as they behave on a machine without a GPU (CI, laptops):
 * DEVICE=auto falls back to CPU and says so, DEVICE=cuda refuses to start, and a missing or
 * foreign driver library is reported as "unavailable", never a crash. The tests that assume no GPU
 * skip themselves on a machine that has one.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { test } from 'node:test';
import { probeCuda, ptxRequirement, readPtx } from '../../src/cuda/probe.ts';
import type { CudaProbe } from '../../src/protocol/cuda-types.ts';
import { CudaError, CudaUnavailableError, loadCudaDriver } from '../../src/cuda/driver.ts';
import { ConfigError } from '../../src/config.ts';
import { chooseDevice, DeviceUnavailableError } from '../../src/engine/device.ts';
import { nodeArgsFor } from '../../src/engine/compiled-current.mjs';
import { startServer } from '../helpers-process.ts';
import { metricValue } from '../helpers.ts';

const realProbe = probeCuda();
const noGpu = realProbe.ok ? 'this machine has a CUDA device' : false;

const gpuFound: CudaProbe = {
  ok: true,
  info: { name: 'NVIDIA H100 80GB HBM3', totalMemoryBytes: 85_520_809_984, computeCapability: '9.0', driverCudaVersion: '13.0' },
};
const noDevice: CudaProbe = { ok: false, reason: 'libcuda.so.1 could not be loaded' };

test('DEVICE=auto uses a CUDA device when the probe finds one', () => {
  const choice = chooseDevice({ device: 'auto', cudaWanted: true }, () => gpuFound);
  assert.equal(choice.device, 'cuda');
  assert.equal(choice.name, 'NVIDIA H100 80GB HBM3');
  assert.equal(choice.gpu?.totalMemoryBytes, 85_520_809_984);
});

test('DEVICE=auto without a device runs on CPU and says why', () => {
  const choice = chooseDevice({ device: 'auto', cudaWanted: true }, () => noDevice);
  assert.equal(choice.device, 'cpu');
  assert.match(choice.reason, /^DEVICE=auto: no usable CUDA device \(libcuda\.so\.1 could not be loaded\), using CPU$/);
});

test('DEVICE=cuda without a device refuses to start, naming the cause and the way out', () => {
  assert.throws(
    () => chooseDevice({ device: 'cuda', cudaWanted: true }, () => noDevice),
    (err: unknown) =>
      err instanceof DeviceUnavailableError &&
      err instanceof ConfigError &&
      /DEVICE=cuda, but there is no usable CUDA device: libcuda\.so\.1 could not be loaded\. Use DEVICE=auto/.test(err.message),
  );
  assert.equal(chooseDevice({ device: 'cuda', cudaWanted: true }, () => gpuFound).device, 'cuda');
});

test('DEVICE=cpu and CUDA_WANTED=false never probe', () => {
  const probe = () => assert.fail('probed');
  assert.equal(chooseDevice({ device: 'cpu', cudaWanted: true }, probe).reason, 'DEVICE=cpu');
  assert.equal(chooseDevice({ device: 'auto', cudaWanted: false }, probe).reason, 'CUDA_WANTED=false');
});

test('the driver loader reports a missing library as unavailable', () => {
  assert.throws(() => loadCudaDriver('/nonexistent/libcuda.so.1'), (err: unknown) => err instanceof CudaUnavailableError && /\/nonexistent\/libcuda\.so\.1 could not be loaded/.test(err.message));
  const probe = probeCuda({ libraryPath: '/nonexistent/libcuda.so.1' });
  assert.equal(probe.ok, false);
});

test('a library that is not a CUDA driver is unavailable, not a crash', () => {
  assert.throws(() => loadCudaDriver('libc.so.6'), (err: unknown) => err instanceof CudaUnavailableError && /libc\.so\.6 does not export cuGetErrorName/.test(err.message));
});

test('without a GPU the real probe says libcuda.so.1 is missing', { skip: noGpu }, () => {
  assert.equal(realProbe.ok, false);
  assert.match(!realProbe.ok ? realProbe.reason : '', /libcuda\.so\.1 could not be loaded.*no NVIDIA driver mounted/);
  assert.throws(() => loadCudaDriver(), CudaUnavailableError);
});

test('CUDA errors say which call failed and whether the context survived', () => {
  const sticky = new CudaError('cuLaunchKernel', 700, 'CUDA_ERROR_ILLEGAL_ADDRESS', 'an illegal memory access was encountered');
  assert.equal(sticky.sticky, true);
  assert.equal(sticky.message, 'cuLaunchKernel: CUDA_ERROR_ILLEGAL_ADDRESS (700): an illegal memory access was encountered');
  assert.equal(new CudaError('cuMemAlloc_v2', 2, 'CUDA_ERROR_OUT_OF_MEMORY', 'out of memory').sticky, false);
});

test('the PTX requirement names the CUDA release a driver must support', () => {
  const { isa } = readPtx();
  assert.equal(isa, '8.0');
  assert.equal(ptxRequirement(isa), 'the kernels are PTX ISA 8.0: they need a driver for CUDA 12.0 or newer');
});

// The compiled twin when the build is current (no transpiling of the whole graph), else the sources.
const serverArgs = nodeArgsFor('src/server.ts');

test('DEVICE=cuda without a GPU: the server stops at start-up with a clear message', { skip: noGpu }, async () => {
  const child = spawn(process.execPath, serverArgs, {
    env: { ...process.env, DEVICE: 'cuda', HOST: '127.0.0.1', PORT: '0', WORKERS: '1' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const [code] = (await once(child, 'exit')) as [number | null];
  assert.equal(code, 2);
  assert.match(stderr, /DEVICE=cuda, but there is no usable CUDA device: libcuda\.so\.1 could not be loaded/);
  assert.doesNotMatch(stderr, /at .*\.ts:\d+/, 'a message, not a stack trace');
});

test('DEVICE=auto without a GPU: CPU, said in the log, /healthz and app_device_info', { skip: noGpu }, async (t) => {
  const server = await startServer({ DEVICE: 'auto' });
  t.after(async () => {
    server.child.kill('SIGTERM');
    await server.exited;
  });
  const log = server.logs.join('');
  assert.match(log, /"device":"cpu".*"reason":"DEVICE=auto: no usable CUDA device \(libcuda\.so\.1 could not be loaded.*using CPU".*"msg":"effect backend chosen"/);
  const health = (await (await fetch(`${server.baseUrl}/healthz`)).json()) as Record<string, unknown>;
  assert.equal(health.device, 'cpu');
  assert.equal(health.degraded, false);
  assert.equal(health.gpu, undefined);
  const metrics = await (await fetch(`${server.baseUrl}/metrics`)).text();
  assert.equal(metricValue(metrics, 'app_device_info', { device: 'cpu' }), 1);
  assert.equal(metricValue(metrics, 'app_device_info', { device: 'cuda' }), undefined);
  assert.equal(metricValue(metrics, 'app_gpu_fallback_total'), 0);
});
