/**
 * The real server with DEVICE=cuda, its libcuda.so.1 being the emulated driver (found first on
 * LD_LIBRARY_PATH): start-up probe, workers on CUDA, /process, /healthz and the metrics, through
 * the same code path as on a GPU node; and a GPU fault in the middle of a request.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test, type TestContext } from 'node:test';
import { buildCudaEmulator, hostCompilerAvailable } from '../../src/cuda/emulator/build.ts';
import { startServer, type ServerProcess } from '../helpers-process.ts';
import { metricValue } from '../helpers.ts';
import { requireOrSkip } from '../tools.ts';

const compiler = hostCompilerAvailable();
const skip = requireOrSkip(compiler, 'a host C++ compiler (g++) for the CUDA emulator', 'apt-get install g++');

/** The server on the emulated driver; `fault` as CUDA_EMU_FAULT (see src/cuda/emulator). */
async function startOnEmulatedGpu(t: TestContext, env: Record<string, string>): Promise<ServerProcess> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'rtc-libcuda-'));
  symlinkSync(buildCudaEmulator(), path.join(dir, 'libcuda.so.1'));
  const server = await startServer({ DEVICE: 'cuda', LD_LIBRARY_PATH: dir, ...env });
  t.after(async () => {
    server.child.kill('SIGTERM');
    await server.exited;
    rmSync(dir, { recursive: true, force: true });
  });
  return server;
}

test('DEVICE=cuda on a (emulated) GPU: chosen at start-up, serves on CUDA, reports the GPU', { skip }, async (t) => {
  const server = await startOnEmulatedGpu(t, { WORKERS: '2' });

  assert.match(server.logs.join(''), /"device":"cuda","name":"Emulated CUDA device \(CPU\)","reason":"DEVICE=cuda",("kernelBuild":"[\w-]+",)?("nativeKernels":"\w+",("nativeReason":"[^"]*",)?)?"msg":"effect backend chosen"/);

  const timing = (await (await fetch(`${server.baseUrl}/process?pixels=64x48&iters=2&effect=gaussian&sigma=2`)).json()) as Record<string, unknown>;
  assert.equal(timing.ok, true);
  assert.equal(timing.device, 'cuda');

  const frame = Buffer.from([10, 20, 30, 255, 0, 128, 255, 7, 200, 100, 50, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]);
  const res = await fetch(`${server.baseUrl}/process?pixels=3x2&effect=invert&iters=1`, {
    method: 'POST',
    headers: { 'content-type': 'application/octet-stream' },
    body: frame,
  });
  assert.equal(res.status, 200);
  assert.deepEqual(Buffer.from(await res.arrayBuffer()), Buffer.from(frame.map((v, i) => (i % 4 === 3 ? v : 255 - v))));

  const health = (await (await fetch(`${server.baseUrl}/healthz`)).json()) as { device: string; degraded: boolean; gpu: { name: string; totalMemoryBytes: number } };
  assert.equal(health.device, 'cuda');
  assert.equal(health.degraded, false);
  assert.equal(health.gpu.name, 'Emulated CUDA device (CPU)');
  assert.equal(health.gpu.totalMemoryBytes, 2 ** 30);

  const metrics = await (await fetch(`${server.baseUrl}/metrics`)).text();
  assert.equal(metricValue(metrics, 'app_device_info', { device: 'cuda', name: 'Emulated CUDA device (CPU)' }), 1);
  assert.equal(metricValue(metrics, 'app_effect_duration_seconds_count', { effect: 'gaussian', device: 'cuda' }), 1);
  assert.equal(metricValue(metrics, 'app_effect_duration_seconds_count', { effect: 'invert', device: 'cuda' }), 1);
  assert.equal(metricValue(metrics, 'app_gpu_fallback_total'), 0);
  // A GPU pod exports its effects at 0 on both devices: the CPU is where a failed GPU job is redone.
  assert.equal(metricValue(metrics, 'app_frames_processed_total', { effect: 'blur', device: 'cuda' }), 0);
  assert.equal(metricValue(metrics, 'app_frames_processed_total', { effect: 'blur', device: 'cpu' }), 0);
});

test('a GPU fault during a request: redone on CPU, 200 with the right pixels, counted, logged, degraded', { skip }, async (t) => {
  // One worker: its warm-up job makes the first launch; the first request's first launch fails
  // with CUDA_ERROR_ILLEGAL_ADDRESS, which poisons the (emulated) context from then on.
  const server = await startOnEmulatedGpu(t, { WORKERS: '1', CUDA_EMU_FAULT: 'cuLaunchKernel 700 1 1' });
  const frame = Buffer.from([10, 20, 30, 255, 0, 128, 255, 7, 200, 100, 50, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]);
  const expected = Buffer.from(frame.map((v, i) => (i % 4 === 3 ? v : 255 - v)));
  for (let i = 0; i < 3; i++) {
    const res = await fetch(`${server.baseUrl}/process?pixels=3x2&effect=invert&iters=1`, {
      method: 'POST',
      headers: { 'content-type': 'application/octet-stream' },
      body: frame,
    });
    assert.equal(res.status, 200);
    assert.deepEqual(Buffer.from(await res.arrayBuffer()), expected);
  }

  const metrics = await (await fetch(`${server.baseUrl}/metrics`)).text();
  assert.equal(metricValue(metrics, 'app_gpu_fallback_total'), 1, 'only the job that hit the fault; later ones are sent to the CPU');
  assert.equal(metricValue(metrics, 'app_effect_duration_seconds_count', { effect: 'invert', device: 'cpu' }), 3);
  assert.equal(metricValue(metrics, 'app_device_info', { device: 'cpu' }), 1);
  assert.equal(metricValue(metrics, 'app_device_info', { device: 'cuda' }), undefined);

  const health = (await (await fetch(`${server.baseUrl}/healthz`)).json()) as { device: string; degraded: boolean; gpu: { name: string } };
  assert.equal(health.device, 'cpu');
  assert.equal(health.degraded, true);
  assert.equal(health.gpu.name, 'Emulated CUDA device (CPU)');
  assert.equal((await fetch(`${server.baseUrl}/readyz`)).status, 200);

  const log = server.logs.join('');
  assert.match(log, /"error":"cuLaunchKernel: CUDA_ERROR_ILLEGAL_ADDRESS \(700\)[^"]*","fallbacksNotLogged":0,"msg":"CUDA error: job redone on CPU"/);
  assert.match(log, /"msg":"GPU given up: effects run on CPU until the process restarts"/);
  assert.equal(server.child.exitCode, null, 'the process never crashes on a GPU fault');
});
