import assert from 'node:assert/strict';
import { test } from 'node:test';
import { RollingQuantile } from '../../src/stats/rolling-quantile.ts';

test('p95 of the samples inside the window; 0 when the window is empty', () => {
  let now = 0;
  const q = new RollingQuantile({ windowSeconds: 60, nowMs: () => now });
  assert.equal(q.quantileSeconds(0.95), 0);
  for (let i = 1; i <= 100; i++) q.recordSeconds(i / 1000);
  const p95 = q.quantileSeconds(0.95);
  assert.ok(Math.abs(p95 - 0.095) < 0.001, `p95 ${p95}`);
  assert.equal(q.count(), 100);

  // Later, slower samples; the first batch ages out after the window.
  now = 30_000;
  for (let i = 0; i < 100; i++) q.recordSeconds(0.5);
  assert.ok(q.quantileSeconds(0.95) >= 0.49);
  now = 65_000;
  assert.equal(q.count(), 100);
  assert.ok(Math.abs(q.quantileSeconds(0.5) - 0.5) < 0.005);
  now = 200_000;
  assert.equal(q.quantileSeconds(0.95), 0);
});
