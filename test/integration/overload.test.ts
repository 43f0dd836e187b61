import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { startServer } from '../helpers-process.ts';

const MAX_QUEUE = 4;
const DURATION_MS = 10_000;

test('10x capacity for 10 s: only 200 and 503, no timeouts, probes fast, admitted latency bounded', async (t) => {
  const server = await startServer({ WORKERS: '1', MAX_QUEUE: String(MAX_QUEUE) });
  t.after(() => server.child.kill('SIGKILL'));
  const url = `${server.baseUrl}/process?pixels=1920x1080&iters=40&effect=blur`;

  // Capacity: one worker, so one job's compute time sets it.
  const probe = (await (await fetch(url)).json()) as { compute_sec: number };
  const capacityPerSecond = 1 / probe.compute_sec;
  const ratePerSecond = Math.min(400, Math.ceil(capacityPerSecond * 10));

  const statuses = new Map<number | string, number>();
  const admittedSeconds: number[] = [];
  const computeSeconds: number[] = [];
  const inflight: Promise<void>[] = [];
  const fire = async () => {
    const t0 = performance.now();
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(5_000) });
      const body = (await res.json()) as { compute_sec?: number };
      statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
      if (res.status === 200) {
        admittedSeconds.push((performance.now() - t0) / 1000);
        computeSeconds.push(body.compute_sec ?? 0);
      }
    } catch (err) {
      const cause = err instanceof Error ? err.name : 'error';
      statuses.set(cause, (statuses.get(cause) ?? 0) + 1);
    }
  };

  const healthMs: number[] = [];
  let running = true;
  const healthLoop = (async () => {
    while (running) {
      const t0 = performance.now();
      const res = await fetch(`${server.baseUrl}/healthz`, { signal: AbortSignal.timeout(5_000) });
      await res.arrayBuffer();
      assert.equal(res.status, 200);
      healthMs.push(performance.now() - t0);
      await sleep(200);
    }
  })();

  // Open loop: requests leave on schedule whether or not earlier ones were answered.
  const start = performance.now();
  let sent = 0;
  while (performance.now() - start < DURATION_MS) {
    const due = Math.floor(((performance.now() - start) / 1000) * ratePerSecond);
    for (; sent < due; sent++) inflight.push(fire());
    await sleep(10);
  }
  await Promise.all(inflight);
  running = false;
  await healthLoop;

  const summary = JSON.stringify(Object.fromEntries(statuses));
  assert.deepEqual([...statuses.keys()].filter((s) => s !== 200 && s !== 503), [], `only 200 and 503: ${summary}`);
  assert.ok((statuses.get(503) ?? 0) > sent / 2, `most of the excess is shed: ${summary}`);
  assert.ok((statuses.get(200) ?? 0) > 0, summary);
  assert.ok(Math.max(...healthMs) < 1000, `healthz max ${Math.max(...healthMs).toFixed(0)} ms`);

  // Admitted requests wait behind at most MAX_QUEUE others, so their latency is bounded by about
  // (MAX_QUEUE + 1) jobs; allow one more job and 0.5 s for scheduling on a busy 2-core machine.
  admittedSeconds.sort((a, b) => a - b);
  const p99 = admittedSeconds[Math.floor(admittedSeconds.length * 0.99)] ?? 0;
  const job = Math.max(...computeSeconds);
  const bound = (MAX_QUEUE + 2) * job + 0.5;
  assert.ok(p99 <= bound, `admitted p99 ${p99.toFixed(3)} s > bound ${bound.toFixed(3)} s`);
  t.diagnostic(`rate ${ratePerSecond}/s vs capacity ${capacityPerSecond.toFixed(1)}/s; ${summary}; admitted p99 ${p99.toFixed(3)} s (bound ${bound.toFixed(3)} s); healthz max ${Math.max(...healthMs).toFixed(0)} ms`);
});
