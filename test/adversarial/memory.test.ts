/**
 * Memory attacks against the real server (issue 12): many distinct 4K test-card sizes, then a burst
 * of concurrent 4K PNG uploads. Before the byte bounds these took the server from about 200 MB to
 * 4-6 GB; now the RSS must stay within the budgets set here, an ordinary client must keep getting
 * 200 within a bounded time, and no answer may be a 5xx other than a 503 with Retry-After.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import sharp from 'sharp';
import { metricValue } from '../helpers.ts';
import { hostileServer, metricsText, MiB, onlyExpectedStatuses, ordinaryClient, rssBytes, tally, watchRss } from './support.ts';

const MEMORY_BUDGET_BYTES = 256 * MiB;
const TEST_CARD_CACHE_BYTES = 48 * MiB;
const MAX_PIXELS = 3840 * 2160;
// One 4K job: source, result and two scratch frames, plus the card cache and slack for the row buffers.
const WORKER_MEMORY_BYTES = 4 * MAX_PIXELS * 4 + TEST_CARD_CACHE_BYTES + 16 * MiB;
/** Allocator slack, garbage not yet collected, libvips' own buffers. */
const SLACK_BYTES = 128 * MiB;
const CARD_SIZES = 40;
// Two workers: the attacker's one request at a time leaves the other to the ordinary client.
const WORKERS = 2;
const UPLOADS = 48;

test('distinct 4K card sizes and concurrent 4K PNG uploads: RSS stays within the budgets; an ordinary client keeps getting 200', async (t) => {
  const server = await hostileServer(t, {
    WORKERS: String(WORKERS),
    MEMORY_BUDGET_BYTES: String(MEMORY_BUDGET_BYTES),
    TEST_CARD_CACHE_BYTES: String(TEST_CARD_CACHE_BYTES),
    WORKER_MEMORY_BYTES: String(WORKER_MEMORY_BYTES),
    MAX_PIXELS: String(MAX_PIXELS),
    // This test is about memory: a busy shared machine must not turn it into a test of the stall guard.
    MAX_EVENT_LOOP_DELAY_MS: '0',
    MAX_EVENT_LOOP_UTILIZATION: '0',
  });
  const pid = server.child.pid!;
  // Warm: the worker's first 4K job sizes its scratch; the baseline is the server at rest after it.
  await (await fetch(`${server.baseUrl}/process?pixels=1280x720&iters=2`)).arrayBuffer();
  const baseline = rssBytes(pid);
  const bound = baseline + MEMORY_BUDGET_BYTES + WORKERS * WORKER_MEMORY_BYTES + SLACK_BYTES;
  const rss = watchRss(pid);
  const ordinary = ordinaryClient(`${server.baseUrl}/process?pixels=320x240&iters=2`);

  const attacker: (number | string)[] = [];
  let slowestCardMs = 0;
  for (let i = 0; i < CARD_SIZES; i++) {
    const t0 = performance.now();
    const res = await fetch(`${server.baseUrl}/process?pixels=3840x${2160 - i}&iters=0`);
    await res.arrayBuffer();
    slowestCardMs = Math.max(slowestCardMs, performance.now() - t0);
    attacker.push(res.status);
  }
  const afterCards = rss.peak;

  const png = await sharp({ create: { width: 3840, height: 2160, channels: 4, background: '#336699' } }).png().toBuffer();
  const uploads = await Promise.all(
    Array.from({ length: UPLOADS }, async () => {
      try {
        const res = await fetch(`${server.baseUrl}/process?iters=1`, { method: 'POST', body: png, headers: { 'content-type': 'image/png' } });
        await res.arrayBuffer();
        if (res.status === 503) assert.ok(res.headers.get('retry-after'), 'a 503 says when to retry');
        return res.status;
      } catch (err) {
        return err instanceof Error ? err.name : 'error';
      }
    }),
  );
  attacker.push(...uploads);
  const peak = rss.stop();
  const { statuses, latenciesMs } = await ordinary.stop();
  const metrics = await metricsText(server.baseUrl);

  const summary = `baseline ${(baseline / MiB).toFixed(0)} MiB, peak after cards ${(afterCards / MiB).toFixed(0)} MiB, peak ${(peak / MiB).toFixed(0)} MiB, bound ${(bound / MiB).toFixed(0)} MiB; attacker ${JSON.stringify(tally(attacker))}; ordinary ${JSON.stringify(tally(statuses))}, max ${Math.max(...latenciesMs).toFixed(0)} ms`;
  t.diagnostic(summary);
  assert.ok(peak <= bound, `RSS stays within the budgets: ${summary}`);
  assert.ok(onlyExpectedStatuses(attacker), `attacker answers: ${summary}`);
  assert.ok(uploads.filter((s) => s === 200).length >= 1, `some uploads are served: ${summary}`);
  assert.ok(uploads.filter((s) => s === 503).length >= 1, `the excess is refused: ${summary}`);
  assert.ok(statuses.length >= 5 && statuses.every((s) => s === 200), `the ordinary client is always served: ${summary}`);
  // Its job is tiny: what bounds it is at most one 4K job ahead of it (making a 4K card takes
  // seconds on a busy shared machine), and scheduling.
  const boundMs = Math.max(3000, 2 * slowestCardMs + 1000);
  assert.ok(Math.max(...latenciesMs) < boundMs, `ordinary latency bounded by ${boundMs.toFixed(0)} ms: ${summary}`);
  assert.ok((metricValue(metrics, 'app_rejected_total', { reason: 'memory' }) ?? 0) >= 1, 'refusals are counted as memory');
  assert.equal(metricValue(metrics, 'app_memory_inflight_bytes'), 0, 'every reservation was given back');
});

test('a body declared over the budget is refused before it is read, and the connection closes', async (t) => {
  const server = await hostileServer(t, { WORKERS: '1', MEMORY_BUDGET_BYTES: String(8 * MiB) });
  const { request } = await import('node:http');
  const url = new URL(`${server.baseUrl}/process?pixels=3840x2160`);
  // Declares 33 MB but sends only the headers: the answer must come without the body.
  const answer = await new Promise<{ status: number; connection: string | undefined; body: string }>((resolve, reject) => {
    const req = request(url, { method: 'POST', headers: { 'content-type': 'application/octet-stream', 'content-length': String(3840 * 2160 * 4) } }, (res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, connection: res.headers.connection, body }));
    });
    req.on('error', reject);
    req.flushHeaders();
  });
  assert.equal(answer.status, 503, answer.body);
  assert.equal(answer.connection, 'close');
  assert.equal(JSON.parse(answer.body).error, 'overloaded');
  const metrics = await metricsText(server.baseUrl);
  assert.equal(metricValue(metrics, 'app_rejected_total', { reason: 'memory' }), 1);
  assert.equal(metricValue(metrics, 'app_inflight_requests'), 0);
});

test('slow uploads from one address hold at most MEMORY_CLIENT_SHARE of the budget: another address is still served', async (t) => {
  const server = await hostileServer(t, {
    WORKERS: '1',
    MEMORY_BUDGET_BYTES: String(128 * MiB),
    MEMORY_CLIENT_SHARE: '0.5',
    TRUST_PROXY: '127.0.0.1',
    MAX_EVENT_LOOP_DELAY_MS: '0',
    MAX_EVENT_LOOP_UTILIZATION: '0',
  });
  const { request } = await import('node:http');
  const url = new URL(`${server.baseUrl}/process?effect=invert`);
  // Three uploads that declare 30 MB each and never send it: the first two hold the address's share.
  const held: import('node:http').ClientRequest[] = [];
  const statuses = await Promise.all(
    Array.from({ length: 3 }, (_, i) =>
      new Promise<number>((resolve) => {
        const req = request(url, {
          method: 'POST',
          headers: { 'content-type': 'image/png', 'content-length': String(30 * MiB), 'x-forwarded-for': '203.0.113.9' },
        }, (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        });
        req.on('error', () => resolve(-1));
        req.flushHeaders();
        held.push(req);
        // Those still waiting for a body do not answer: count them as held after a moment.
        setTimeout(() => resolve(0), 1500 + i * 10);
      }),
    ),
  );
  t.after(() => held.forEach((r) => r.destroy()));
  assert.deepEqual([...statuses].sort(), [0, 0, 503], 'two held, the third refused');
  const png = await sharp({ create: { width: 640, height: 480, channels: 4, background: '#808080' } }).png().toBuffer();
  const other = await fetch(url, { method: 'POST', body: png, headers: { 'content-type': 'image/png', 'x-forwarded-for': '198.51.100.7' } });
  await other.arrayBuffer();
  assert.equal(other.status, 200, 'another address is served while the slow uploads hang');
});
