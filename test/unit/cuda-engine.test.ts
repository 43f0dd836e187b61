/**
 * The engine on CUDA workers, end to end through the worker threads, on the emulated driver:
 * GPU timings under device="cuda", /healthz with the GPU, and the fault path: a CUDA error during
 * a request is redone on the CPU, counted in app_gpu_fallback_total and logged (rate-limited), the
 * request succeeds with the right pixels, and after repeated or context-corrupting failures the
 * engine reports itself degraded and runs on the CPU.
 */
import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, test } from 'node:test';
import Fastify from 'fastify';
import { emulatorControl } from '../../src/cuda/driver.ts';
import { buildCudaEmulator, hostCompilerAvailable } from '../../src/cuda/emulator/build.ts';
import { referenceApply } from '../../src/effects/index.ts';
import { Engine, type EngineLog } from '../../src/engine/engine.ts';
import type { FrameLayout } from '../../src/frames/layout.ts';
import { healthRoutes } from '../../src/http/routes/health.ts';
import { cpuName } from '../../src/host.ts';
import { createMetrics, type Metrics } from '../../src/metrics.ts';
import { metricValue } from '../helpers.ts';
import { randomFrame } from '../gpu/parity-cases.ts';
import { requireOrSkip } from '../tools.ts';

const compiler = hostCompilerAvailable();
const skip = requireOrSkip(compiler, 'a host C++ compiler (g++) for the CUDA emulator', 'apt-get install g++');

class CapturedLog implements EngineLog {
  readonly lines: Array<{ level: string; fields: Record<string, unknown>; message: string }> = [];
  warn(fields: object, message: string): void {
    this.lines.push({ level: 'warn', fields: fields as Record<string, unknown>, message });
  }
  error(fields: object, message: string): void {
    this.lines.push({ level: 'error', fields: fields as Record<string, unknown>, message });
  }
}

const layout: FrameLayout = { format: 'rgba', width: 48, height: 20 };
const job = { effect: 'sharpen', params: {}, iters: 3 } as const;

describe('the engine on CUDA workers (emulated driver)', { skip }, () => {
  let lib: string;
  let control: (command: string) => number;

  before(() => {
    lib = buildCudaEmulator();
    control = emulatorControl(lib);
  });
  beforeEach(() => control('reset'));
  // The emulator is process-wide: leave it with no failure armed for the files that share the process.
  after(() => control('reset'));

  async function cudaEngine(t: { after(fn: () => Promise<void>): void }, maxConsecutiveGpuFailures?: number, workers = 2) {
    const metrics: Metrics = createMetrics({ p95WindowSeconds: 60, queueDepth: () => 0 });
    const log = new CapturedLog();
    const engine = new Engine(
      { device: 'cuda', deviceName: 'Emulated CUDA device (CPU)', workers, maxQueue: 8, retryAfterSeconds: 1, cudaLibraryPath: lib, maxConsecutiveGpuFailures, log },
      metrics,
    );
    t.after(() => engine.close());
    await engine.start();
    return { engine, metrics, log };
  }

  async function processRandom(engine: Engine, seed: number): Promise<{ output: Uint8Array; expected: Uint8Array; device: string | undefined; fellBack: boolean | undefined }> {
    const src = randomFrame(layout, seed);
    return engine.processFrame(layout, job, src, (output, timings) => ({
      output: output.slice(),
      expected: referenceApply(layout, job, src),
      device: timings.device,
      fellBack: timings.fellBack,
    }));
  }

  // The first two tests share one engine (each worker costs about half a CPU-second to start): the
  // first leaves no fallback, warning or CPU job behind, so the second's counts are its own.
  let healthy: ReturnType<typeof cudaEngine> | undefined;
  const closeHealthy: Array<() => Promise<void>> = [];
  after(async () => {
    for (const close of closeHealthy) await close();
  });
  const healthyEngine = () => (healthy ??= cudaEngine({ after: (fn) => closeHealthy.push(fn) }, 100));

  test('jobs run on the GPU; effect time from CUDA events under device="cuda"; /healthz shows the GPU', async (t) => {
    const { engine, metrics } = await healthyEngine();
    const r = await processRandom(engine, 1);
    assert.deepEqual(r.output, r.expected);
    assert.equal(r.device, 'cuda');
    const timings = await engine.processSynthetic({ format: 'i420', width: 64, height: 36 }, { effect: 'gaussian', params: { sigma: 3 }, iters: 2 });
    assert.equal(timings.device, 'cuda');
    assert.ok((timings.kernelSeconds ?? 0) > 0);

    const text = await metrics.registry.metrics();
    assert.equal(metricValue(text, 'app_effect_duration_seconds_count', { effect: 'sharpen', device: 'cuda' }), 1);
    assert.equal(metricValue(text, 'app_effect_duration_seconds_count', { effect: 'gaussian', device: 'cuda' }), 1);
    assert.equal(metricValue(text, 'app_device_info', { device: 'cuda', name: 'Emulated CUDA device (CPU)' }), 1);
    assert.equal(metricValue(text, 'app_gpu_fallback_total'), 0);

    const app = Fastify({ logger: false });
    t.after(() => app.close());
    await app.register(healthRoutes, { engine, version: '0.0.0', isDraining: () => false });
    const health = (await app.inject('/healthz')).json();
    assert.equal(health.device, 'cuda');
    assert.equal(health.degraded, false);
    assert.deepEqual(health.gpu, { name: 'Emulated CUDA device (CPU)', totalMemoryBytes: 2 ** 30, computeCapability: '7.5', driverCudaVersion: '13.0' });
    assert.equal((await app.inject('/readyz')).statusCode, 200);
  });

  test('a CUDA error: the request is redone on CPU, counted, logged once per interval, and succeeds', async () => {
    const { engine, metrics, log } = await healthyEngine();
    control('fault cuLaunchKernel 2 0 4'); // out of memory, four times: not sticky
    for (let i = 0; i < 4; i++) {
      const r = await processRandom(engine, 10 + i);
      assert.deepEqual(r.output, r.expected, 'the CPU redid it correctly');
      assert.equal(r.device, 'cpu');
      assert.equal(r.fellBack, true);
    }
    const back = await processRandom(engine, 20);
    assert.equal(back.device, 'cuda', 'the GPU serves again once the errors stop');
    assert.deepEqual(back.output, back.expected);

    const text = await metrics.registry.metrics();
    assert.equal(metricValue(text, 'app_gpu_fallback_total'), 4);
    assert.equal(metricValue(text, 'app_effect_duration_seconds_count', { effect: 'sharpen', device: 'cpu' }), 4);
    const warnings = log.lines.filter((l) => l.level === 'warn');
    assert.equal(warnings.length, 1, 'rate-limited');
    assert.equal(warnings[0]?.message, 'CUDA error: job redone on CPU');
    assert.match(String(warnings[0]?.fields.error), /cuLaunchKernel: CUDA_ERROR_OUT_OF_MEMORY/);
    assert.equal(engine.degraded, false);
    assert.equal(engine.device, 'cuda');
  });

  test('a context-corrupting error: the engine degrades to CPU, says so everywhere, and keeps serving', async (t) => {
    const { engine, metrics, log } = await cudaEngine(t);
    control('fault cuLaunchKernel 700 0 1'); // illegal address: every later CUDA call fails too
    const r = await processRandom(engine, 30);
    assert.deepEqual(r.output, r.expected);
    assert.equal(r.fellBack, true);
    assert.equal(engine.degraded, true);
    assert.equal(engine.device, 'cpu');
    assert.ok(log.lines.some((l) => l.level === 'error' && l.message === 'GPU given up: effects run on CPU until the process restarts'));

    // Every worker now gets its jobs on the CPU, without counting them as fallbacks.
    for (let i = 0; i < 6; i++) {
      const next = await processRandom(engine, 31 + i);
      assert.deepEqual(next.output, next.expected);
      assert.equal(next.device, 'cpu');
      assert.equal(next.fellBack, false);
    }
    const text = await metrics.registry.metrics();
    assert.equal(metricValue(text, 'app_gpu_fallback_total'), 1);
    assert.equal(metricValue(text, 'app_device_info', { device: 'cpu', name: cpuName() }), 1);
    assert.equal(metricValue(text, 'app_device_info', { device: 'cuda' }), undefined);

    const app = Fastify({ logger: false });
    t.after(() => app.close());
    await app.register(healthRoutes, { engine, version: '0.0.0', isDraining: () => false });
    const health = (await app.inject('/healthz')).json();
    assert.equal(health.device, 'cpu');
    assert.equal(health.degraded, true);
    assert.equal(health.gpu.name, 'Emulated CUDA device (CPU)');
    assert.equal((await app.inject('/readyz')).statusCode, 200, 'still serving correct results, so still ready');
  });

  test('repeated non-fatal errors give the GPU up after the configured count', async (t) => {
    // One worker: its two failures in a row give the GPU up.
    const { engine } = await cudaEngine(t, 2, 1);
    control('fault cuMemcpyHtoDAsync_v2 999 0 -1');
    const seen: Array<string | undefined> = [];
    for (let i = 0; i < 6 && !engine.degraded; i++) {
      const r = await processRandom(engine, 40 + i);
      assert.deepEqual(r.output, r.expected);
      seen.push(r.device);
    }
    assert.equal(engine.degraded, true, 'two failures in a row in one worker');
    assert.ok(seen.every((d) => d === 'cpu'));
  });

  test('a worker that cannot set CUDA up starts on the CPU and the engine reports degraded', async (t) => {
    control('fault cuModuleLoadData 218 0 -1'); // CUDA_ERROR_INVALID_PTX in every worker
    const { engine, log } = await cudaEngine(t, undefined, 1);
    assert.equal(engine.degraded, true);
    assert.equal(engine.device, 'cpu');
    assert.match(String(log.lines.find((l) => l.level === 'error')?.fields.error), /CUDA setup failed: cuModuleLoadData: CUDA_ERROR_INVALID_PTX/);
    const r = await processRandom(engine, 50);
    assert.deepEqual(r.output, r.expected);
  });
});

