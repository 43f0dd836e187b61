import assert from 'node:assert/strict';
import { test } from 'node:test';
import { LatestFrameLoop } from '../../src/webrtc/frame-loop.ts';
import { waitUntil } from '../wait.ts';

function deferred() {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}

test('latest frame wins: one in progress, one waiting, the replaced ones dropped', async () => {
  const started: number[] = [];
  const dropped: number[] = [];
  const gates = new Map<number, ReturnType<typeof deferred>>();
  const loop = new LatestFrameLoop<number>({
    run: (frame) => {
      started.push(frame);
      const gate = deferred();
      gates.set(frame, gate);
      return gate.promise;
    },
    onDropped: (frame) => dropped.push(frame),
    onError: () => assert.fail('no error expected'),
  });

  loop.push(1);
  assert.ok(loop.busy);
  for (const f of [2, 3, 4]) loop.push(f);
  assert.deepEqual(started, [1]);
  assert.deepEqual(dropped, [2, 3], 'each newer arrival replaces the waiting frame');

  gates.get(1)!.resolve();
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(started, [1, 4], 'the newest waiting frame runs next');
  gates.get(4)!.resolve();
  await new Promise((r) => setImmediate(r));
  assert.equal(loop.busy, false);

  loop.push(5);
  assert.deepEqual(started, [1, 4, 5], 'an idle loop starts at once');
  gates.get(5)!.resolve();
  await loop.stop();
  loop.push(6);
  assert.deepEqual(started, [1, 4, 5], 'a stopped loop takes nothing');
});

test('a failing frame is reported and the loop goes on', async () => {
  const errors: unknown[] = [];
  const done: number[] = [];
  const loop = new LatestFrameLoop<number>({
    run: async (frame) => {
      await new Promise((r) => setImmediate(r));
      if (frame === 1) throw new Error('boom');
      done.push(frame);
    },
    onDropped: () => undefined,
    onError: (err) => errors.push(err),
  });
  loop.push(1);
  loop.push(2);
  await waitUntil('both frames handled', () => errors.length + done.length >= 2, { timeoutMs: 5000, intervalMs: 5 });
  assert.equal(errors.length, 1);
  assert.deepEqual(done, [2]);
});
