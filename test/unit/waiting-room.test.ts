import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Dispatcher, type WorkerPool } from '../../src/engine/dispatcher.ts';
import { JobStop } from '../../src/engine/job-stop.ts';
import type { ProcessResult } from '../../src/protocol/worker-messages.ts';
import { WaitingRoom } from '../../src/engine/waiting-room.ts';
import { OverloadedError, RequestCancelledError, type RejectReason } from '../../src/errors.ts';

const ROOM = { maxWaiting: 8, maxWaitingPerClient: 4, lifoAfterMs: 100, longJobSeconds: 0.25 };
const none = new Map<string, number>();

test('waiting room: first in, first out while it keeps up; newest first once the oldest waited past lifoAfterMs', () => {
  const room = new WaitingRoom<string>(ROOM);
  room.add('a', 0.01, 'a1', 0);
  room.add('a', 0.01, 'a2', 10);
  room.add('a', 0.01, 'a3', 20);
  assert.equal(room.take(50, none, false)?.value, 'a1');
  assert.equal(room.take(200, none, false)?.value, 'a3', 'the oldest waited 190 ms: newest first');
  assert.equal(room.take(200, none, false)?.value, 'a2');
  assert.equal(room.take(200, none, false), undefined);
  assert.equal(room.size, 0);
});

test('waiting room: the client with the fewest jobs running goes first, whatever it sent', () => {
  const room = new WaitingRoom<string>(ROOM);
  for (let i = 0; i < 4; i++) room.add('storm', 0.01, `storm${i}`, i);
  room.add('polite', 0.01, 'polite', 50);
  const running = new Map([['storm', 2]]);
  assert.equal(room.take(60, running, false)?.value, 'polite', 'FIFO mode, yet the client with nothing running goes first');
  room.add('polite', 0.01, 'polite2', 300);
  assert.equal(room.take(400, new Map([['storm', 1]]), false)?.value, 'polite2', 'LIFO mode too');
  assert.equal(room.take(400, new Map([['storm', 1]]), false)?.value, 'storm3', 'then the storm, newest first');
});

test('waiting room: bounds in count and per client; a long job of a busy client never takes the last free worker', () => {
  const room = new WaitingRoom<string>(ROOM);
  for (let i = 0; i < 4; i++) room.add('a', 1, `a${i}`, i);
  assert.equal(room.refusal('a'), 'client_full');
  for (let i = 0; i < 4; i++) room.add(`c${i}`, 0.01, `c${i}`, 10 + i);
  assert.equal(room.refusal('d'), 'full');
  // 'a' runs a job: the others go first; then only 'a' is left, its jobs long: the last free
  // worker stays for others while 'a' runs one.
  for (let i = 0; i < 4; i++) assert.equal(room.take(20, new Map([['a', 1]]), false)?.value, `c${i}`);
  assert.equal(room.take(20, new Map([['a', 1]]), true), undefined, 'kept for another client');
  assert.equal(room.take(20, new Map([['a', 1]]), false)?.value, 'a0', 'not the last free worker: taken');
  assert.equal(room.take(20, none, true)?.value, 'a1', 'nothing of its own running: taken');
});

test('waiting room: removed waiters are skipped and compacted, so the room stays bounded by its live entries', () => {
  const room = new WaitingRoom<number>({ ...ROOM, maxWaiting: 10_000, maxWaitingPerClient: 10_000 });
  const waiters = Array.from({ length: 1000 }, (_, i) => room.add('a', 0.01, i, i));
  // Remove everything in the middle: the ends stay live.
  for (const w of waiters.slice(1, -1)) assert.ok(room.remove(w));
  assert.equal(room.remove(waiters[5]!), false, 'twice is a no-op');
  assert.equal(room.size, 2);
  assert.equal(room.take(2000, none, false)?.value, 999);
  assert.equal(room.take(2000, none, false)?.value, 0);
  assert.equal(room.size, 0);
  assert.equal(room.oldestEnqueuedAtMs(), undefined);
});

/** A pool whose jobs finish when the test says. */
function manualPool(size: number) {
  const running: { task: { job: { effect: string } }; finish: () => void }[] = [];
  const pool: WorkerPool = {
    size,
    threads: [],
    run: (task) =>
      new Promise<ProcessResult>((resolve) => {
        running.push({ task: task as never, finish: () => resolve({ queueSeconds: 0, computeSeconds: 0.001, checksum: 0 }) });
      }),
    warmUp: async () => [],
    close: async () => undefined,
  };
  return { pool, running };
}

const card = (effect: string) => ({ layout: { format: 'rgba', width: 8, height: 8 } as const, job: { effect, params: {}, iters: 1 } as never, source: { kind: 'synthetic' } as const });

function dispatcher(pools: WorkerPool[], overrides: Partial<ConstructorParameters<typeof Dispatcher>[0]> = {}) {
  const rejected: RejectReason[] = [];
  const queue = [...pools];
  const d = new Dispatcher({
    workers: 1,
    mediaWorkers: pools.length - 1,
    maxQueue: 4,
    clientQueueShare: 1,
    maxQueueWaitSeconds: 0.2,
    lifoAfterSeconds: 10,
    retryAfterSeconds: 1,
    onRejected: (r) => rejected.push(r),
    createPool: () => queue.shift()!,
    ...overrides,
  });
  return { d, rejected };
}

test('dispatcher: a frame goes ahead of waiting /process jobs, on the media worker or the next free /process worker', async () => {
  const proc = manualPool(1);
  const media = manualPool(1);
  const { d } = dispatcher([proc.pool, media.pool]);
  const p1 = d.run(card('p1'), { lane: 'process', client: 'a', predictedSeconds: 0.01 });
  const p2 = d.run(card('p2'), { lane: 'process', client: 'a', predictedSeconds: 0.01 });
  const f1 = d.run(card('f1'), { lane: 'media', predictedSeconds: 0.001 });
  const f2 = d.run(card('f2'), { lane: 'media', predictedSeconds: 0.001 });
  assert.deepEqual(proc.running.map((r) => r.task.job.effect), ['p1']);
  assert.deepEqual(media.running.map((r) => r.task.job.effect), ['f1'], 'the frame did not wait for the /process worker');
  assert.equal(d.queueDepth, 2, 'p2 in the room, f2 in the media lane');
  proc.running[0]!.finish();
  await p1;
  assert.equal(proc.running[1]!.task.job.effect, 'f2', 'the freed /process worker takes the waiting frame before p2');
  media.running[0]!.finish();
  proc.running[1]!.finish();
  await Promise.all([f1, f2]);
  assert.equal(proc.running[2]!.task.job.effect, 'p2');
  proc.running[2]!.finish();
  await p2;
  assert.equal(d.queueDepth, 0);
});

test('dispatcher: over the room at once (queue_full); after the wait (queue_timeout); a cancelled waiter leaves', async () => {
  const proc = manualPool(1);
  const { d, rejected } = dispatcher([proc.pool], { maxQueue: 2 });
  const running = d.run(card('r'), { lane: 'process', client: 'a', predictedSeconds: 0.01 });
  const gone = new JobStop();
  const leaving = d.run(card('w1'), { lane: 'process', client: 'a', predictedSeconds: 0.01, stop: gone });
  const expiring = d.run(card('w2'), { lane: 'process', client: 'a', predictedSeconds: 0.01 });
  await assert.rejects(d.run(card('w3'), { lane: 'process', client: 'b', predictedSeconds: 0.01 }), (err) => {
    assert.ok(err instanceof OverloadedError);
    assert.equal(err.reason, 'queue_full');
    return true;
  });
  gone.stop('client_gone');
  await assert.rejects(leaving, RequestCancelledError);
  const t0 = performance.now();
  await assert.rejects(expiring, (err) => err instanceof OverloadedError && err.reason === 'queue_timeout');
  assert.ok(performance.now() - t0 >= 150, 'held for about MAX_QUEUE_WAIT_SECONDS');
  assert.deepEqual(rejected, ['queue_full', 'queue_timeout']);
  assert.equal(d.queueDepth, 0);
  proc.running[0]!.finish();
  await running;
  assert.equal(proc.running.length, 1, 'nothing that left was started');
});
