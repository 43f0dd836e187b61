import assert from 'node:assert/strict';
import { test } from 'node:test';
import { SharedBufferPool } from '../../src/frames/buffer-pool.ts';

test('released buffers are reused by size, and idle memory stays under its cap', () => {
  const pool = new SharedBufferPool(300);
  const a = pool.acquire(100);
  const b = pool.acquire(100);
  const c = pool.acquire(200);
  assert.notEqual(a, b);
  pool.release(a);
  pool.release(c);
  assert.equal(pool.idleBytes, 300);
  // Over the cap: dropped, not kept.
  pool.release(b);
  assert.equal(pool.idleBytes, 300);
  assert.equal(pool.acquire(100), a);
  assert.equal(pool.acquire(200), c);
  assert.equal(pool.idleBytes, 0);
  assert.notEqual(pool.acquire(100), b, 'a dropped buffer is not handed out again');
});
