/**
 * The engine on a real GPU (`npm run test:gpu`): several CUDA workers, each with its own stream,
 * serving concurrent jobs with the right pixels, GPU kernel time under device="cuda", the GPU in
 * /healthz, no fallbacks. Skipped without a CUDA device unless DEVICE=cuda (then it fails).
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import Fastify from 'fastify';
import { probeCuda } from '../../src/cuda/probe.ts';
import { referenceApply, type EffectJob } from '../../src/effects/index.ts';
import { Engine } from '../../src/engine/engine.ts';
import type { FrameLayout } from '../../src/frames/layout.ts';
import { healthRoutes } from '../../src/http/routes/health.ts';
import { createMetrics } from '../../src/metrics.ts';
import { metricValue } from '../helpers.ts';
import { maxAbsDiff, randomFrame } from './parity-cases.ts';

const found = probeCuda();
const required = process.env.DEVICE === 'cuda';
const skip = found.ok ? false : `no CUDA device: ${found.reason}`;

describe('the engine on CUDA workers', { skip: required ? false : skip }, () => {
  test('concurrent jobs on four workers: right pixels, GPU timings, GPU in /healthz', async (t) => {
    assert.ok(found.ok, `DEVICE=cuda but ${skip}`);
    const metrics = createMetrics({ p95WindowSeconds: 60, queueDepth: () => 0 });
    const warnings: unknown[] = [];
    const log = { warn: (f: object) => warnings.push(f), error: (f: object) => warnings.push(f) };
    const engine = new Engine({ device: 'cuda', deviceName: found.info.name, workers: 4, maxQueue: 64, retryAfterSeconds: 1, log }, metrics);
    t.after(() => engine.close());
    await engine.start();

    const layout: FrameLayout = { format: 'i420', width: 641, height: 359 };
    const jobs = Array.from({ length: 40 }, (_, i) => {
      const job: EffectJob = i % 2 ? { effect: 'gaussian', params: { sigma: 4 }, iters: 3 } : { effect: 'pixelate', params: { block: 12 }, iters: 2 };
      const src = randomFrame(layout, i);
      return engine.processFrame(layout, job, src, (out, timings) => {
        assert.equal(timings.device, 'cuda');
        assert.ok((timings.kernelSeconds ?? 0) > 0);
        assert.ok(maxAbsDiff(out, referenceApply(layout, job, src)).max <= (job.effect === 'gaussian' ? 1 : 0));
      });
    });
    await Promise.all(jobs);

    const text = await metrics.registry.metrics();
    assert.equal(metricValue(text, 'app_effect_duration_seconds_count', { effect: 'gaussian', device: 'cuda' }), 20);
    assert.equal(metricValue(text, 'app_gpu_fallback_total'), 0);
    assert.deepEqual(warnings, []);

    const app = Fastify({ logger: false });
    t.after(() => app.close());
    await app.register(healthRoutes, { engine, version: '0.0.0', isDraining: () => false });
    const health = (await app.inject('/healthz')).json();
    assert.equal(health.device, 'cuda');
    assert.equal(health.degraded, false);
    assert.equal(health.gpu.name, found.info.name);
    assert.equal(health.gpu.totalMemoryBytes, found.info.totalMemoryBytes);
  });
});
