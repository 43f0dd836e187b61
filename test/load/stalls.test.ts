import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseReport, runRtcLoad, startServer } from './fixtures.ts';

const STALL_PERIOD_MS = 1000;
// A long stall (40% of each period) keeps the open/closed gap far above scheduling noise
// on a busy machine.
const STALL_LENGTH_MS = 400;
/** Stalls start half a period in, away from connection set-up at the start of a run. */
const STALL_PHASE_MS = 500;
const BASE_DELAY_MS = 2;

test('open loop sees periodic stalls that closed loop under-reports (coordinated omission)', async (t) => {
  const startedAtMs = performance.now();
  const server = await startServer((_request, response) => {
    const phaseMs = (performance.now() - startedAtMs + STALL_PHASE_MS) % STALL_PERIOD_MS;
    // During a stall, hold every response until the stall ends.
    const waitMs = phaseMs < STALL_LENGTH_MS ? STALL_LENGTH_MS - phaseMs : BASE_DELAY_MS;
    setTimeout(() => response.end('ok'), waitMs);
  });
  t.after(() => server.close());

  // Closed loop: two connections, each stuck once per stall, then hundreds of fast requests.
  const closed = parseReport(await runRtcLoad([`${server.baseUrl}/`, '-c', '2', '--duration', '2s', '--json']));
  // Open loop: 40% of the sends fall in a stall and wait, from their intended time, for it to end.
  const open = parseReport(await runRtcLoad([`${server.baseUrl}/`, '--rate', '200', '--duration', '2s', '--json']));

  const closedLatency = closed.latency;
  const openLatency = open.latency;
  t.diagnostic(
    `closed p50 ${closedLatency.p50} p99 ${closedLatency.p99} max ${closedLatency.max}; ` +
      `open p50 ${openLatency.p50} p90 ${openLatency.p90} p99 ${openLatency.p99} max ${openLatency.max}`,
  );
  assert.equal(open.requests, 400);
  // About 10% of the open loop's requests waited more than 300 ms and 1% more than 390 ms.
  assert.ok(openLatency.p99! >= STALL_LENGTH_MS / 2, `open-loop p99 ${openLatency.p99} should show the ${STALL_LENGTH_MS} ms stalls`);
  assert.ok(closedLatency.p50! < 50, `closed-loop p50 ${closedLatency.p50} stays low`);
  assert.ok(closedLatency.p99! * 2 < openLatency.p99!, `closed p99 ${closedLatency.p99} under-reports against open p99 ${openLatency.p99}`);
  // The closed loop did live through the stalls: its worst case is one.
  assert.ok(closedLatency.max! >= STALL_LENGTH_MS / 2, `closed max ${closedLatency.max}`);
});
