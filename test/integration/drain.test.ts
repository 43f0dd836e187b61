import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { startServer } from '../helpers-process.ts';
import { waitUntil } from '../wait.ts';

interface Outcome {
  readonly sentAtMs: number;
  readonly status: number | 'error';
}

test('SIGTERM drains under load: readiness fails, accepted work completes, the process exits 0 by itself', async (t) => {
  const server = await startServer({ SHUTDOWN_DELAY_SECONDS: '1' });
  t.after(() => server.child.kill('SIGKILL'));
  const outcomes: Outcome[] = [];
  let stop = false;

  const loop = async () => {
    while (!stop) {
      const sentAtMs = performance.now();
      try {
        const res = await fetch(`${server.baseUrl}/process?pixels=640x360&iters=5`, { signal: AbortSignal.timeout(10_000) });
        await res.arrayBuffer();
        outcomes.push({ sentAtMs, status: res.status });
      } catch {
        // Refused once the listener is closed: the loop is done.
        outcomes.push({ sentAtMs, status: 'error' });
        return;
      }
    }
  };
  const loops = Array.from({ length: 4 }, loop);

  await waitUntil('load flowing: a dozen answers', () => outcomes.length >= 12, { timeoutMs: 15_000 });
  const signalAtMs = performance.now();
  server.child.kill('SIGTERM');
  // At once: well inside the 1 s delay, while the process still serves.
  await waitUntil('readiness to fail', async () => (await fetch(`${server.baseUrl}/readyz`)).status === 503, { timeoutMs: 500, intervalMs: 20 });
  const served = await fetch(`${server.baseUrl}/process?pixels=64x64&iters=1`);
  assert.equal(served.status, 200, 'still serving during the delay');

  const code = await Promise.race([server.exited, sleep(15_000, 'timeout', { ref: false })]);
  stop = true;
  await Promise.all(loops);
  assert.equal(code, 0, server.logs.join(''));

  const before = outcomes.filter((o) => o.sentAtMs < signalAtMs);
  assert.ok(before.length > 10, `only ${before.length} requests before the signal`);
  assert.deepEqual(
    before.filter((o) => o.status !== 200),
    [],
    'every request sent before the signal succeeded',
  );
  const duringDelay = outcomes.filter((o) => o.sentAtMs > signalAtMs && o.sentAtMs < signalAtMs + 800);
  assert.ok(duringDelay.length > 0 && duringDelay.every((o) => o.status === 200), 'served during the delay');
  assert.ok(outcomes.every((o) => o.status === 200 || o.status === 503 || o.status === 'error'));
});
