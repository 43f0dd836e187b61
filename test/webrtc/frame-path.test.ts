/**
 * The WebRTC frame path through the real engine (worker thread, WASM kernels): a frame the caller
 * gives up moves to the worker instead of being copied, and the result comes back in shared memory.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Engine } from '../../src/engine/engine.ts';
import { frameBytes, type FrameLayout } from '../../src/frames/layout.ts';
import { createMetrics } from '../../src/metrics.ts';

const layout: FrameLayout = { format: 'i420', width: 64, height: 36 };
const bytes = frameBytes(layout);
const invert = { effect: 'invert', params: {}, iters: 1 } as const;

function frame(fill: (i: number) => number): Uint8Array {
  return Uint8Array.from({ length: bytes }, (_, i) => fill(i));
}

test('a moved frame is processed in the worker and detached here; other buffers are copied', async (t) => {
  const engine = new Engine({ device: 'cpu', deviceName: 'cpu', workers: 1, maxQueue: 4, retryAfterSeconds: 1 }, createMetrics({ p95WindowSeconds: 60, queueDepth: () => 0 }));
  t.after(() => engine.close());
  await engine.start();

  const moved = frame((i) => i & 0xff);
  const out = await engine.processFrame(layout, invert, moved, (o) => Uint8Array.from(o), { movePixels: true });
  assert.equal(moved.buffer.byteLength, 0, 'the caller gave the buffer up: it moved to the worker');
  assert.deepEqual(out, frame((i) => 255 - (i & 0xff)), 'inverted by the worker');
  assert.ok(out.every((v, i) => v === 255 - (i & 0xff)));

  const untouched = await engine.processFrame(layout, { ...invert, iters: 0 }, frame((i) => i % 7), (o) => Uint8Array.from(o), { movePixels: true });
  assert.deepEqual(untouched, frame((i) => i % 7), 'iters=0 comes back as it went');

  // A view into a larger buffer cannot move (it is not the caller's whole buffer): copied, kept.
  const larger = new Uint8Array(bytes + 16);
  larger.set(frame((i) => (i * 3) & 0xff));
  const view = larger.subarray(0, bytes);
  const copied = await engine.processFrame(layout, invert, view, (o) => Uint8Array.from(o), { movePixels: true });
  assert.equal(larger.buffer.byteLength, bytes + 16, 'not detached');
  assert.deepEqual(copied, frame((i) => 255 - ((i * 3) & 0xff)));
});
