import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { parseReport, refusedInProcess, refusedPort, runRtcLoad, startServer } from './fixtures.ts';

test('--json: one object with the documented fields; statuses and error causes counted', async (t) => {
  // Every fourth request answers 503.
  const server = await startServer((_request, response, index) => {
    response.statusCode = index % 4 === 3 ? 503 : 200;
    response.end('ok');
  });
  t.after(() => server.close());

  // The storm client, so that the 503s (they carry no Retry-After) do not slow the run down.
  const result = await runRtcLoad([`${server.baseUrl}/process?pixels=64x64&iters=1`, '-c', '2', '-n', '40', '--retry-immediately', '--json']);
  assert.equal(result.code, 0, result.stderr);
  const report = parseReport(result);
  assert.equal(report.url, `${server.baseUrl}/process?pixels=64x64&iters=1`);
  assert.equal(report.mode, 'closed');
  assert.equal(report.requests, 40);
  assert.deepEqual(report.statusCounts, { '200': 30, '503': 10 });
  assert.deepEqual(report.errors, {});
  assert.equal(typeof report.durationSeconds, 'number');
  assert.equal(typeof report.throughputPerSecond, 'number');
  for (const key of ['p50', 'p90', 'p95', 'p99', 'p999', 'max', 'mean', 'min']) {
    assert.equal(typeof report.latency[key], 'number', key);
  }
  const timeline = report.timeline as Array<Record<string, number>>;
  assert.ok(Array.isArray(timeline) && timeline.length >= 1);
  for (const key of ['tSeconds', 'requests', 'throughputPerSecond', 'offered', 'served', 'refused', 'throttled', 'offeredPerSecond', 'servedPerSecond', 'refusedPerSecond', 'p50', 'p95', 'p99']) {
    assert.equal(typeof timeline[0]?.[key], 'number', key);
  }
  assert.equal(
    timeline.reduce((sum, point) => sum + (point.requests ?? 0), 0),
    40,
  );
  assert.equal(report.stages, undefined);
  assert.deepEqual(
    [report.offered, report.served, report.refused, report.otherResponses, report.throttled, report.refusalRatio],
    [40, 30, 10, 0, 0, 0.25],
  );
  for (const key of ['offeredPerSecond', 'servedPerSecond', 'refusedPerSecond', 'throttledPerSecond', 'connectionsOpened']) assert.equal(typeof report[key], 'number', key);
  for (const key of ['p50', 'p95', 'p99', 'max', 'min']) assert.equal(typeof (report.refusalLatency as Record<string, number>)[key], 'number', key);

  const failing = await runRtcLoad([`${server.baseUrl}/`, '-c', '1', '-n', '8', '--retry-immediately', '--json', '--fail-on-errors']);
  assert.equal(failing.code, 1, 'a 503 among the answers fails the run with --fail-on-errors');
});

test('transport errors are counted by cause, apart from HTTP statuses', async (t) => {
  const port = await refusedPort();
  const refused = await runRtcLoad([`http://127.0.0.1:${port}/`, '-c', '2', '-n', '6', '--json']);
  assert.equal(refused.code, 0, refused.stderr);
  const report = parseReport(refused);
  assert.equal(report.requests, 6);
  assert.deepEqual(report.errors, { connection_refused: 6 });
  assert.deepEqual(report.statusCounts, {});
  assert.equal(report.latency.p99, 0);

  const refusedStrict = await runRtcLoad([`http://127.0.0.1:${port}/`, '-n', '1', '--fail-on-errors']);
  assert.equal(refusedStrict.code, 1);
  assert.match(refusedStrict.stdout, /connection_refused: 1/);

  const silent = await startServer(() => {
    // Never answers.
  });
  t.after(() => silent.close());
  const timedOut = parseReport(await runRtcLoad([`${silent.baseUrl}/`, '-c', '2', '-n', '2', '--timeout', '300ms', '--json']));
  assert.deepEqual(timedOut.errors, { timeout: 2 });
});

test('open-loop stages: ramps, per-stage figures, summary table', async (t) => {
  const server = await startServer((_request, response) => response.end('ok'));
  t.after(() => server.close());
  // 0→20 req/s over 0.5 s (5 sends), then 20→40 over 0.5 s (15 sends).
  const report = parseReport(await runRtcLoad([`${server.baseUrl}/`, '--stages', '500ms:20,500ms:40', '--json']));
  assert.equal(report.mode, 'open');
  assert.equal(report.requests, 20);
  const stages = report.stages as Array<Record<string, number>>;
  assert.equal(stages.length, 2);
  assert.deepEqual(
    stages.map((s) => [s.startSeconds, s.durationSeconds, s.fromRatePerSecond, s.targetRatePerSecond, s.requests]),
    [
      [0, 0.5, 0, 20, 5],
      [0.5, 0.5, 20, 40, 15],
    ],
  );

  const table = await runRtcLoad([`${server.baseUrl}/`, '--rate', '20', '--duration', '500ms']);
  assert.equal(table.code, 0);
  assert.match(table.stdout, /open loop, 20 req\/s/);
  assert.match(table.stdout, /Latency \(ms\)/);
  assert.match(table.stdout, /Status codes\s+200: 10/);
  assert.equal(table.stderr, '', 'a run shorter than --progress-interval (5s) prints no progress line off a terminal');
});

test('off a terminal (a pipe, a Job\'s log) plain progress lines: offered, served, refused and the p95 of each interval', async (t) => {
  // Every third request refused, so each line has something in every column.
  const server = await startServer((_request, response, index) => {
    response.statusCode = index % 3 === 2 ? 503 : 200;
    response.end('ok');
  });
  t.after(() => server.close());
  const result = await runRtcLoad([`${server.baseUrl}/`, '--rate', '40', '--duration', '1500ms', '--progress-interval', '300ms', '--json']);
  assert.equal(result.code, 0, result.stderr);
  parseReport(result);
  const lines = result.stderr.split('\n').filter((line) => line !== '');
  assert.ok(lines.length >= 3, `a line every 300 ms: ${result.stderr}`);
  for (const line of lines) {
    assert.match(line, /^\d+\.\ds\/1\.5s {2}offered \d+\.\d\/s served \d+\.\d\/s refused \d+\.\d\/s {2}served p95 (?:-|[\d.]+ms) {2}HPA /, line);
    assert.doesNotMatch(line, /\r|\x1b/, 'no terminal control characters in a log');
  }
  const rates = lines.map((line) => Number(/offered ([\d.]+)\/s/.exec(line)?.[1]));
  assert.ok(rates.some((rate) => rate > 20 && rate < 60), `each line's rate is over its own interval (40/s offered): ${rates.join(', ')}`);
  assert.ok(lines.some((line) => /refused [1-9]/.test(line)), 'refusals shown');

  const quiet = await runRtcLoad([`${server.baseUrl}/`, '--rate', '20', '--duration', '600ms', '--progress-interval', '0']);
  assert.equal(quiet.stderr, '', '--progress-interval 0: none');
  const bad = await refusedInProcess([`${server.baseUrl}/`, '--progress-interval', '10ms']);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /--progress-interval must be 0 \(none\) or at least 100ms/);
});

test('--html writes a self-contained report; Prometheus series are sampled into it', async (t) => {
  const server = await startServer((_request, response) => setTimeout(() => response.end('ok'), 5));
  t.after(() => server.close());
  let queries = 0;
  const prometheus = await startServer((request, response) => {
    const url = new URL(request.url ?? '/', 'http://localhost');
    const query = url.searchParams.get('query') ?? '';
    queries += 1;
    const value = query.includes('kube_deployment_status_replicas') ? String(1 + (queries % 3)) : '0.042';
    response.setHeader('content-type', 'application/json');
    response.end(JSON.stringify({ status: 'success', data: { resultType: 'vector', result: [{ metric: {}, value: [Date.now() / 1000, value] }] } }));
  });
  t.after(() => prometheus.close());

  const directory = await mkdtemp(join(tmpdir(), 'rtc-load-'));
  t.after(() => rm(directory, { recursive: true, force: true }));
  const htmlPath = join(directory, 'report.html');
  const result = await runRtcLoad([
    `${server.baseUrl}/`,
    '--rate',
    '50',
    '--duration',
    '2s',
    '--json',
    '--html',
    htmlPath,
    '--prometheus',
    prometheus.baseUrl,
    // A query may take as long as the interval: 500 ms leaves a busy test machine room to answer.
    '--prometheus-interval',
    '500ms',
  ]);
  assert.equal(result.code, 0, result.stderr);
  const report = parseReport(result);
  const sampled = report.prometheus as { samples: Array<{ tSeconds: number; replicas: number | null; p95Ms: number | null }>; failures: number };
  assert.ok(sampled.samples.length >= 2, `samples ${sampled.samples.length}`);
  assert.equal(sampled.failures, 0);
  assert.equal(sampled.samples[0]?.p95Ms, 42);
  assert.ok(sampled.samples.every((s) => s.replicas !== null && s.replicas >= 1 && s.replicas <= 3));

  const html = await readFile(htmlPath, 'utf8');
  assert.match(html, /^<!DOCTYPE html>/);
  assert.match(html, /<\/html>\s*$/);
  assert.ok((html.match(/<svg[\s>]/g) ?? []).length >= 3, 'latency, throughput and histogram charts');
  assert.equal((html.match(/<svg[\s>]/g) ?? []).length, (html.match(/<\/svg>/g) ?? []).length, 'every <svg> closed');
  assert.doesNotMatch(html, /<script/i);
  assert.doesNotMatch(html, /\b(?:src|href)\s*=\s*["']?\s*(?:https?:)?\/\//i, 'no external resources');
  assert.doesNotMatch(html, /<link\b/i);
  assert.match(html, /replicas/);
  assert.match(html, /server p95 \(Prometheus\)/);
  assert.match(html, /<path d="M/);
  // Loose well-formedness: tags used by the report are balanced.
  for (const tag of ['table', 'figure', 'div', 'text', 'body', 'head']) {
    const opened = (html.match(new RegExp(`<${tag}[\\s>]`, 'g')) ?? []).length;
    const closed = (html.match(new RegExp(`</${tag}>`, 'g')) ?? []).length;
    assert.equal(opened, closed, `<${tag}> balanced`);
  }
});

test('an unreachable Prometheus is a warning, not a failure', async (t) => {
  const server = await startServer((_request, response) => response.end('ok'));
  t.after(() => server.close());
  const port = await refusedPort();
  const result = await runRtcLoad([`${server.baseUrl}/`, '-n', '20', '-c', '2', '--prometheus', `http://127.0.0.1:${port}`, '--json']);
  assert.equal(result.code, 0);
  assert.match(result.stderr, /warning: Prometheus query failed/);
  assert.equal((result.stderr.match(/warning/g) ?? []).length, 1, 'warned once');
  const report = parseReport(result);
  assert.equal(report.requests, 20);
  const sampled = report.prometheus as { samples: unknown[]; failures: number };
  assert.equal(sampled.samples.length, 0);
  assert.ok(sampled.failures >= 1);
});
