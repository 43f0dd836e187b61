import assert from 'node:assert/strict';
import { test } from 'node:test';
import { killWorkerMidJob, testApp } from '../helpers.ts';

test('a worker that dies mid-request fails that request with JSON 500; the pool replaces it', async (t) => {
  const { app, engine } = await testApp(t, { workers: 1, maxJobSeconds: 60 });
  const res = await killWorkerMidJob(engine, () => app.inject('/process?pixels=1920x1080&iters=100&effect=gaussian&sigma=8'));
  assert.equal(res.statusCode, 500);
  assert.deepEqual(Object.keys(res.json()).sort(), ['detail', 'error']);
  assert.equal(res.json().error, 'worker_failed');

  // The queue keeps flowing on a fresh worker.
  for (let i = 0; i < 3; i++) {
    const ok = await app.inject('/process?pixels=320x240&iters=2');
    assert.equal(ok.statusCode, 200, ok.body);
  }
  assert.equal(engine.pool.threads.length, 1);
});
