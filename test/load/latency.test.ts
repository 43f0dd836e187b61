import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseReport, runRtcLoad, startServer } from './fixtures.ts';

const DELAY_MS = 50;

// Timers may fire up to a millisecond before the nominal delay as seen by the client
// (the server's clock reading is taken at the start of its event-loop turn), hence - 1.
const LOWER_BOUND_MS = DELAY_MS - 1;
const UPPER_BOUND_MS = DELAY_MS + 15;
/** A starved CPU only ever adds latency, so the upper bound gets one more try; the lower never does. */
const ATTEMPTS = 2;

type Report = ReturnType<typeof parseReport>;

async function measureUntilWithinBounds(args: string[], check: (report: Report) => void): Promise<Report> {
  let report: Report | undefined;
  for (let attempt = 1; attempt <= ATTEMPTS; attempt += 1) {
    report = parseReport(await runRtcLoad(args));
    check(report);
    const p50 = report.latency.p50 ?? Number.NaN;
    assert.ok(p50 >= LOWER_BOUND_MS, `p50 ${p50} below the server's fixed delay`);
    assert.ok((report.latency.min ?? 0) >= LOWER_BOUND_MS, `min ${report.latency.min} below the server's fixed delay`);
    if (p50 <= UPPER_BOUND_MS) return report;
  }
  assert.fail(`p50 ${report?.latency.p50} above ${UPPER_BOUND_MS} ms in ${ATTEMPTS} runs`);
}

test('percentiles match a server with a known latency (closed and open loop)', async (t) => {
  const server = await startServer((_request, response) => {
    setTimeout(() => response.end('ok'), DELAY_MS);
  });
  t.after(() => server.close());

  const closed = await measureUntilWithinBounds([`${server.baseUrl}/fixed`, '-c', '5', '-n', '60', '--json'], (report) => {
    assert.equal(report.mode, 'closed');
    assert.equal(report.requests, 60);
    assert.deepEqual(report.statusCounts, { '200': 60 });
  });
  const l = closed.latency;
  assert.ok(l.min! <= l.p50! && l.p50! <= l.p90! && l.p90! <= l.p95! && l.p95! <= l.p99! && l.p99! <= l.p999! && l.p999! <= l.max!);
  assert.ok(l.mean! >= l.min! && l.mean! <= l.max!);
  // 60 requests, 5 at a time, 50 ms each: about 0.6 s, so no more than about 100 req/s.
  assert.ok((closed.throughputPerSecond as number) <= 105, `throughput ${closed.throughputPerSecond}`);

  const open = await measureUntilWithinBounds([`${server.baseUrl}/fixed`, '--rate', '40', '--duration', '1500ms', '--json'], (report) => {
    assert.equal(report.mode, 'open');
    assert.equal(report.requests, 60);
  });
  assert.ok(open.latency.p50! <= open.latency.p99!);
});
