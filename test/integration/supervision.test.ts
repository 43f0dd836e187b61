import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { testApp } from '../helpers.ts';

test('a worker that dies mid-request fails that request with JSON 500; the pool replaces it', async (t) => {
  const { app, engine } = await testApp(t, { workers: 1, maxJobSeconds: 60 });
  const slow = app.inject('/process?pixels=1920x1080&iters=100&effect=gaussian&sigma=8');
  // Let the job reach the worker, then kill the thread under it.
  while (engine.pool.threads.length === 0) await sleep(5);
  await sleep(150);
  await engine.pool.threads[0]!.terminate();
  const res = await slow;
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
