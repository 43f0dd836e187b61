/**
 * The p95 the autoscaler and the dashboard read is Prometheus's histogram_quantile over the
 * service's buckets, which interpolates linearly inside a bucket: how close it comes to the p95
 * the callers see depends on the buckets near the SLO. Here a real Prometheus scrapes the
 * service's own histograms (createMetrics, src/metrics.ts) filled with known latencies, and its
 * p95 is compared with the exact p95 of those latencies.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import YAML from 'yaml';
import { createMetrics, FRAME_BUCKETS_SECONDS, LATENCY_BUCKETS_SECONDS } from '../../src/metrics.ts';
import { freePort } from '../ports.ts';
import { haveTool } from '../tools.ts';
import { waitUntil } from '../wait.ts';

const PROCESS_SLO_SECONDS = 0.25;
const FRAME_SLO_SECONDS = 0.02;
/** The seed's buckets, for comparison: the same latencies read through them. */
const SEED_BUCKETS_SECONDS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
const SAMPLES = 2000;

/** Latencies at evenly spaced quantiles of a distribution given by its inverse CDF: the same every run. */
function latencies(inverse: (u: number) => number): number[] {
  return Array.from({ length: SAMPLES }, (_, i) => inverse((i + 0.5) / SAMPLES));
}
const exponential = (u: number): number => -Math.log(1 - u);

interface Case {
  readonly name: string;
  readonly metric: 'app_request_latency_seconds' | 'app_frame_latency_seconds';
  readonly seconds: readonly number[];
}

const CASES: readonly Case[] = [
  // A queue past capacity: service time plus an exponential wait (the client saw 287 ms in the run).
  { name: 'queue past capacity, p95 287 ms', metric: 'app_request_latency_seconds', seconds: latencies((u) => 0.06 + (0.227 / 3) * exponential(u)) },
  { name: 'just under the SLO, p95 240 ms', metric: 'app_request_latency_seconds', seconds: latencies((u) => 0.05 + (0.19 / 3) * exponential(u)) },
  { name: 'light load, p95 110 ms', metric: 'app_request_latency_seconds', seconds: latencies((u) => 0.03 + (0.08 / 3) * exponential(u)) },
  { name: 'Weibull (k 2), p95 260 ms', metric: 'app_request_latency_seconds', seconds: latencies((u) => 0.15 * Math.sqrt(exponential(u))) },
  { name: 'uniform 20-400 ms', metric: 'app_request_latency_seconds', seconds: latencies((u) => 0.02 + 0.38 * u) },
  { name: 'two modes: 80% fast, 20% stalled (p95 in the slow mode)', metric: 'app_request_latency_seconds', seconds: latencies((u) => (u < 0.8 ? 0.02 + 0.01 * exponential(u / 0.8) : 0.3 + (0.22 * (u - 0.8)) / 0.2)) },
  { name: 'frames about the SLO, p95 21.5 ms', metric: 'app_frame_latency_seconds', seconds: latencies((u) => 0.006 + (0.0155 / 3) * exponential(u)) },
  { name: 'frames over the SLO, p95 34 ms', metric: 'app_frame_latency_seconds', seconds: latencies((u) => 0.01 + 0.008 * exponential(u)) },
  { name: 'frames well within, p95 8.3 ms', metric: 'app_frame_latency_seconds', seconds: latencies((u) => 0.003 + (0.0053 / 3) * exponential(u)) },
];

/** The nearest-rank p95: what a client computing it from every latency gets. */
function exactP95(seconds: readonly number[]): number {
  const sorted = [...seconds].sort((a, b) => a - b);
  return sorted[Math.ceil(0.95 * sorted.length) - 1] ?? NaN;
}

/** histogram_quantile's own rule (linear inside the bucket that holds the rank), for buckets Prometheus never sees. */
function interpolatedP95(seconds: readonly number[], bounds: readonly number[]): number {
  const rank = 0.95 * seconds.length;
  let below = 0;
  let lower = 0;
  for (const upper of bounds) {
    const inside = seconds.filter((s) => s > lower && s <= upper).length;
    if (below + inside >= rank) return lower + ((upper - lower) * (rank - below)) / inside;
    below += inside;
    lower = upper;
  }
  return lower;
}

test('bucket steps: at most 1.25x from a fifth of each SLO to four or five times it, the SLO itself a bound', () => {
  const steps = (bounds: readonly number[], from: number, to: number) => {
    const inRange = bounds.filter((b) => b >= from - 1e-12 && b <= to + 1e-12);
    assert.ok(inRange[0] !== undefined && Math.abs(inRange[0] - from) < 1e-12, `a bound at ${from}`);
    assert.ok(Math.abs((inRange.at(-1) ?? 0) - to) < 1e-12, `a bound at ${to}`);
    for (let i = 1; i < inRange.length; i++) {
      const ratio = (inRange[i] ?? 0) / (inRange[i - 1] ?? 1);
      assert.ok(ratio <= 1.25 + 1e-9, `${inRange[i - 1]} -> ${inRange[i]}: ${ratio.toFixed(3)}x`);
    }
  };
  steps(LATENCY_BUCKETS_SECONDS, PROCESS_SLO_SECONDS / 5, PROCESS_SLO_SECONDS * 4);
  steps(FRAME_BUCKETS_SECONDS, FRAME_SLO_SECONDS / 5, FRAME_SLO_SECONDS * 5);
  assert.ok(LATENCY_BUCKETS_SECONDS.includes(PROCESS_SLO_SECONDS), 'the burn-rate SLI counts le="0.25"');
  assert.ok(FRAME_BUCKETS_SECONDS.includes(FRAME_SLO_SECONDS));
  for (const bounds of [LATENCY_BUCKETS_SECONDS, FRAME_BUCKETS_SECONDS]) assert.deepEqual([...bounds].sort((a, b) => a - b), bounds, 'ascending');
});

test('Prometheus\'s p95 over the service\'s histograms is within 10% of the exact p95 (real Prometheus)', { timeout: 90_000 }, async (t) => {
  if (!haveTool(t, 'prometheus')) return;
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'rtc-quantile-'));
  let prometheus: ChildProcess | undefined;
  let log = '';
  const exporter = http.createServer();
  t.after(async () => {
    if (prometheus && prometheus.exitCode === null) {
      const exited = new Promise((resolve) => prometheus?.once('exit', resolve));
      prometheus.kill('SIGTERM');
      await exited;
    }
    await new Promise((resolve) => exporter.close(resolve));
    fs.rmSync(tmp, { recursive: true, force: true });
  });

  // One registry per case, as one pod's /metrics each: the service's own metric definitions.
  const registries = CASES.map((c) => {
    const metrics = createMetrics({ p95WindowSeconds: 60, queueDepth: () => 0 });
    const histogram = c.metric === 'app_request_latency_seconds' ? metrics.requestLatency : metrics.frameLatency;
    for (const s of c.seconds) histogram.observe(s);
    return metrics.registry;
  });
  exporter.on('request', (request, response) => {
    const registry = registries[Number(/^\/case\/(\d+)$/.exec(request.url ?? '')?.[1] ?? -1)];
    if (!registry) return response.writeHead(404).end();
    void registry.metrics().then((text) => response.writeHead(200, { 'content-type': registry.contentType }).end(text));
  });
  const exporterPort = await freePort();
  await new Promise<void>((resolve) => exporter.listen(exporterPort, '127.0.0.1', resolve));

  const config = {
    global: { scrape_interval: '1s', scrape_timeout: '1s' },
    scrape_configs: CASES.map((_, i) => ({ job_name: `case${i}`, metrics_path: `/case/${i}`, static_configs: [{ targets: [`127.0.0.1:${exporterPort}`] }] })),
  };
  fs.writeFileSync(path.join(tmp, 'prometheus.yml'), YAML.stringify(config));
  const promPort = await freePort();
  prometheus = spawn('prometheus', [`--config.file=${path.join(tmp, 'prometheus.yml')}`, `--storage.tsdb.path=${path.join(tmp, 'data')}`, `--web.listen-address=127.0.0.1:${promPort}`, '--log.level=warn'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const keep = (chunk: Buffer) => {
    log = (log + chunk.toString()).slice(-4000);
  };
  prometheus.stdout?.on('data', keep);
  prometheus.stderr?.on('data', keep);

  const query = async (q: string): Promise<{ metric: Record<string, string>; value: [number, string] }[]> => {
    const response = await fetch(`http://127.0.0.1:${promPort}/api/v1/query`, { method: 'POST', body: new URLSearchParams({ query: q }) });
    const body = (await response.json()) as { status: string; error?: string; data: { result: { metric: Record<string, string>; value: [number, string] }[] } };
    assert.equal(body.status, 'success', `${q}: ${body.error}`);
    return body.data.result;
  };
  // Every case scraped once: its count is there. (Prometheus hands new targets to its scrapers
  // a few seconds after it starts.)
  await waitUntil(`Prometheus to scrape all ${CASES.length} cases`, async () => (await query('count by (job) (app_request_latency_seconds_count)')).length === CASES.length, {
    timeoutMs: 60_000,
    intervalMs: 250,
    untilNoError: true,
    detail: () => log,
  });

  const rows: string[] = [];
  for (const [i, c] of CASES.entries()) {
    const [sample] = await query(`histogram_quantile(0.95, sum by (le) (${c.metric}_bucket{job="case${i}"}))`);
    const promql = Number(sample?.value[1]);
    const exact = exactP95(c.seconds);
    const seed = interpolatedP95(c.seconds, SEED_BUCKETS_SECONDS);
    const error = promql / exact - 1;
    rows.push(`${c.name}: exact ${(exact * 1000).toFixed(1)} ms, PromQL ${(promql * 1000).toFixed(1)} ms (${(error * 100).toFixed(1)}%), seed's buckets ${(seed * 1000).toFixed(1)} ms`);
    assert.ok(Math.abs(error) <= 0.1, `${rows.at(-1)}`);
  }
  // The seed's buckets were far off where it matters: past capacity they read well above the
  // callers' p95, enough to ask for pods the load does not need.
  const past = CASES[0];
  assert.ok(past && interpolatedP95(past.seconds, SEED_BUCKETS_SECONDS) / exactP95(past.seconds) > 1.2, rows.join('\n'));
  for (const row of rows) t.diagnostic(row);
});
