/**
 * Surges against the real compiled server, one effect worker. A storm of impatient clients (hey
 * -c 200: each retries the moment it is answered and ignores Retry-After): the pod keeps serving
 * near its capacity, holds its refusals so the storm slows down instead of spinning, keeps served
 * latency bounded and still admits a WHIP offer. An open loop at 10x capacity (requests on a
 * schedule, answered or not): only 200s and 503s, probes fast, admitted latency bounded. Ratios and
 * bounds, not times: bench/overload.ts measures the figures (docs/overload.md).
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { WhipPublisher } from '../../tools/rtc-load/client/whip.ts';
import { configWith } from '../../src/config.ts';
import { metricValue } from '../helpers.ts';
import { startServer, type ServerProcess } from '../helpers-process.ts';
import { hey } from '../hey.ts';
import { haveTool } from '../tools.ts';
import { waitUntil } from '../wait.ts';

const PATH = '/process?pixels=1920x1080&iters=15';
const HOLD_SECONDS = 1;
const STORM_CLIENTS = 200;
const STORM_SECONDS = 5;
const OPEN_LOOP_SECONDS = 4;

describe('surges: clients that retry at once, and an open loop at 10x capacity', { timeout: 120_000 }, () => {
  let server: ServerProcess;
  /** Served /process per second with a few clients (the first test measures it). */
  let capacity = 0;
  before(async () => {
    // One effect worker: the other core is the load's, as a pod's clients are elsewhere.
    // The stall guard at its default, as a pod runs it: a storm must not trip it.
    const stallGuardMs = String(configWith({}).maxEventLoopDelayMs);
    server = await startServer({ WORKERS: '1', REFUSAL_HOLD_SECONDS: String(HOLD_SECONDS), MAX_EVENT_LOOP_DELAY_MS: stallGuardMs }, 20_000, true);
  });
  after(() => server?.child.kill('SIGKILL'));

  const scrape = async () => (await fetch(`${server.baseUrl}/metrics`)).text();
  /** From one scrape: /process requests served so far, and the worker's compute seconds and jobs for them (blur). */
  const counts = (text: string) => {
    const labels = { effect: 'blur', device: 'cpu' };
    return {
      served: metricValue(text, 'app_requests_total', { endpoint: '/process', status: '200' }) ?? 0,
      seconds: metricValue(text, 'app_effect_duration_seconds_sum', labels) ?? 0,
      jobs: metricValue(text, 'app_effect_duration_seconds_count', labels) ?? 0,
    };
  };
  const served = async () => counts(await scrape()).served;

  test('c=200 closed loop: goodput near capacity, the storm slowed by held refusals, served latency bounded, a WHIP offer admitted', async (t) => {
    if (!haveTool(t, 'hey')) return;
    const url = `${server.baseUrl}${PATH}`;
    await hey(url, 2, 1); // warm-up: JIT, the test card, admission's pace
    const before = await served();
    const capacityRun = await hey(url, 3, 3);
    capacity = ((await served()) - before) / capacityRun.seconds;

    const beforeStorm = counts(await scrape());
    const storm = hey(url, STORM_CLIENTS, STORM_SECONDS);
    // A publisher arriving mid-storm: media has its own budget, so it is admitted.
    const rejected = async () => [...(await scrape()).matchAll(/^app_rejected_total\{[^}]*\} (\S+)$/gm)].reduce((n, m) => n + Number(m[1]), 0);
    const rejectedBefore = await rejected();
    await waitUntil('the storm to be refused', async () => (await rejected()) - rejectedBefore >= 100, { timeoutMs: STORM_SECONDS * 1000 });
    const publisher = await WhipPublisher.publish(`${server.baseUrl}/whip?effect=invert`);
    assert.equal(await publisher.close(), 200);
    const result = await storm;
    const text = await scrape();
    const afterStorm = counts(text);
    const servedInStorm = afterStorm.served - beforeStorm.served;
    const goodput = servedInStorm / result.seconds;
    const busy = (afterStorm.seconds - beforeStorm.seconds) / result.seconds;
    const jobs = afterStorm.jobs - beforeStorm.jobs;

    const answered = Object.values(result.statuses).reduce((a, b) => a + b, 0);
    const summary = `capacity ${capacity.toFixed(1)}/s, storm goodput ${goodput.toFixed(1)}/s (${(goodput / capacity).toFixed(2)}x), the worker computing ${(100 * busy).toFixed(0)} % of the storm, ${jobs} jobs for ${servedInStorm} served, ${JSON.stringify(result.statuses)} in ${result.seconds} s`;
    t.diagnostic(summary);
    assert.deepEqual(Object.keys(result.statuses).filter((s) => s !== '200' && s !== '503'), [], `only 200 and 503: ${summary}`);
    // Without held refusals the same loop sent thousands a second and the pod served 0.02x. The
    // worker's own clock says it directly: it computed through the storm, for requests that were
    // then served (not for clients gone by then). Against the capacity measured before, the ratio
    // also carries this machine's drift (36-55/s over minutes on the shared 2-core VM).
    assert.ok(busy >= 0.75, `the worker kept computing: ${summary}`);
    assert.ok(servedInStorm >= 0.9 * jobs, `what it computed was served: ${summary}`);
    assert.ok(goodput >= 0.5 * capacity, `goodput holds: ${summary}`);
    assert.ok(answered / result.seconds <= (STORM_CLIENTS / HOLD_SECONDS) * 1.5 + 2 * capacity, `the storm was slowed to about one request per hold per client: ${summary}`);
    // Served requests kept a short wait: most within twice the 0.25 s SLO (the server's histogram).
    const within = metricValue(text, 'app_request_latency_seconds_bucket', { le: '0.5' }) ?? 0;
    const all = metricValue(text, 'app_request_latency_seconds_count') ?? 1;
    assert.ok(within / all >= 0.9, `served within 0.5 s: ${within} of ${all}`);
    assert.ok((metricValue(text, 'app_request_refusal_ratio') ?? 0) > 0.3, 'the refusal ratio shows the surge');
    assert.ok((metricValue(text, 'app_rejected_total', { reason: 'queue_timeout' }) ?? 0) > 0);
    assert.equal(metricValue(text, 'app_rejected_total', { reason: 'pressure' }), 0, 'no guard refused because of the refusals');
  });

  test('an open loop at 10x capacity: only 200 and 503, probes fast, admitted latency bounded', async (t) => {
    if (!haveTool(t, 'hey')) return;
    assert.ok(capacity > 0, 'the storm test measured the capacity');
    const url = `${server.baseUrl}${PATH}`;
    const ratePerSecond = Math.min(400, Math.ceil(capacity * 10));
    const statuses = new Map<number | string, number>();
    const admittedSeconds: number[] = [];
    const inflight: Promise<void>[] = [];
    const fire = async () => {
      const t0 = performance.now();
      try {
        const res = await fetch(url, { signal: AbortSignal.timeout(10_000) });
        await res.arrayBuffer();
        statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
        if (res.status === 200) admittedSeconds.push((performance.now() - t0) / 1000);
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
        await new Promise((r) => setTimeout(r, 200));
      }
    })();
    // Open loop: requests leave on schedule whether or not earlier ones were answered.
    const start = performance.now();
    let sent = 0;
    while (performance.now() - start < OPEN_LOOP_SECONDS * 1000) {
      const due = Math.floor(((performance.now() - start) / 1000) * ratePerSecond);
      for (; sent < due; sent++) inflight.push(fire());
      await new Promise((r) => setTimeout(r, 10));
    }
    await Promise.all(inflight);
    running = false;
    await healthLoop;

    const summary = `${ratePerSecond}/s against ${capacity.toFixed(1)}/s: ${JSON.stringify(Object.fromEntries(statuses))}; healthz max ${Math.max(...healthMs).toFixed(0)} ms`;
    t.diagnostic(summary);
    assert.deepEqual([...statuses.keys()].filter((s) => s !== 200 && s !== 503), [], `only 200 and 503: ${summary}`);
    assert.ok((statuses.get(503) ?? 0) > sent / 2, `most of the excess is shed: ${summary}`);
    assert.ok((statuses.get(200) ?? 0) > 0, summary);
    assert.ok(Math.max(...healthMs) < 1000, `healthz stays fast: ${summary}`);
    // An admitted job waited at most MAX_QUEUE_WAIT_SECONDS (0.5 s): allow a second of scheduling
    // on a busy 2-core machine whose client shares it.
    admittedSeconds.sort((a, b) => a - b);
    const p99 = admittedSeconds[Math.floor(admittedSeconds.length * 0.99)] ?? 0;
    assert.ok(p99 <= 1.5, `admitted p99 ${p99.toFixed(3)} s: ${summary}`);
  });
});
