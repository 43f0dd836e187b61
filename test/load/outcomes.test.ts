import assert from 'node:assert/strict';
import test from 'node:test';
import { parseReport, runRtcLoad, startServer } from './fixtures.ts';

interface Point {
  offered: number;
  served: number;
  refused: number;
  throttled: number;
  errors: number;
  offeredPerSecond: number;
  servedPerSecond: number;
  refusedPerSecond: number;
}

const sum = (points: readonly Point[], key: keyof Point): number => points.reduce((total, p) => total + p[key], 0);

test('offered, served, refused, other statuses, errors: counted apart, in total and per second; latency of served only', async (t) => {
  // Of every five requests: served after 60 ms, 503, 429, 404 (all at once), and one connection
  // dropped without an answer.
  const server = await startServer((request, response, index) => {
    const kind = index % 5;
    if (kind === 0) {
      setTimeout(() => response.end('ok'), 60);
      return;
    }
    if (kind === 4) {
      request.socket.destroy();
      return;
    }
    response.statusCode = [0, 503, 429, 404][kind] ?? 500;
    response.setHeader('retry-after', '0');
    response.end();
  });
  t.after(() => server.close());
  const report = parseReport(await runRtcLoad([`${server.baseUrl}/`, '-c', '1', '-n', '50', '--retry-immediately', '--json']));
  assert.equal(report.offered, 50);
  assert.equal(server.requestCount(), 50);
  assert.deepEqual(report.statusCounts, { '200': 10, '404': 10, '429': 10, '503': 10 });
  assert.deepEqual(
    { served: report.served, refused: report.refused, other: report.otherResponses, throttled: report.throttled, refusalRatio: report.refusalRatio },
    { served: 10, refused: 20, other: 10, throttled: 0, refusalRatio: 0.5 },
  );
  assert.deepEqual(report.errors, { socket_closed: 10 });
  assert.equal(report.requests, 50);
  const latency = report.latency;
  const refusalLatency = report.refusalLatency as Record<string, number>;
  assert.ok((latency.min ?? 0) >= 59, `served min ${latency.min}: the fast answers are not in it`);
  assert.ok((refusalLatency.max ?? Infinity) < 59, `refusals' max ${refusalLatency.max}`);
  const durationSeconds = report.durationSeconds as number;
  // Within 1%: the rates come from the unrounded duration.
  const near = (value: unknown, count: number): boolean => Math.abs((value as number) / (count / durationSeconds) - 1) < 0.01;
  assert.ok(near(report.offeredPerSecond, 50) && near(report.servedPerSecond, 10) && near(report.refusedPerSecond, 20), JSON.stringify(report));
  const timeline = report.timeline as Point[];
  assert.deepEqual(
    { offered: sum(timeline, 'offered'), served: sum(timeline, 'served'), refused: sum(timeline, 'refused'), errors: sum(timeline, 'errors') },
    { offered: 50, served: 10, refused: 20, errors: 10 },
  );
  for (const point of timeline) assert.ok(point.offeredPerSecond >= point.offered, 'a second-long bucket or a shorter last one');

  const table = await runRtcLoad([`${server.baseUrl}/`, '-c', '1', '-n', '10', '--retry-immediately']);
  assert.match(table.stdout, /Outcome\s+offered\s+served\s+refused\s+other\s+errors\s+throttled/);
  assert.match(table.stdout, /total\s+10\s+2\s+4\s+2\s+2\s+0/);
  assert.match(table.stdout, /refused 50% of the answers/);
  assert.match(table.stdout, /served\s+[\d.]+/);
  assert.match(table.stdout, /refused\s+[\d.]+\s+[\d.]+/);
});

test('a refusal with `Connection: close` is an answer, not an error: the client reconnects', async (t) => {
  // As the service's overflow refusals: 503 at once, Retry-After, and the connection closed.
  const server = await startServer((_request, response, index) => {
    if (index % 2 === 1) {
      response.writeHead(503, { 'retry-after': '0', connection: 'close' });
      response.end('{"error":"overloaded"}');
      return;
    }
    response.end('ok');
  });
  t.after(() => server.close());
  const report = parseReport(await runRtcLoad([`${server.baseUrl}/process`, '-m', 'POST', '-c', '4', '-n', '200', '--json']));
  assert.deepEqual(report.errors, {});
  assert.deepEqual(report.statusCounts, { '200': 100, '503': 100 });
  assert.ok((report.connectionsOpened as number) >= 100, `reconnected after each close: ${report.connectionsOpened} connections`);
});

test('--adaptive-throttle in open loop: due requests rejected locally are throttled, never sent', async (t) => {
  const server = await startServer((_request, response) => {
    response.statusCode = 503;
    response.setHeader('retry-after', '1');
    response.end();
  });
  t.after(() => server.close());
  const report = parseReport(await runRtcLoad([`${server.baseUrl}/`, '--rate', '100', '--duration', '2s', '--adaptive-throttle', '--json']));
  assert.deepEqual(report.clients, { retry: 'never', adaptiveThrottleK: 2 });
  assert.equal(report.offered + (report.throttled as number), 200, 'every scheduled request is sent or throttled');
  assert.equal(report.offered, server.requestCount());
  // Nothing is accepted, so after n attempts p = n / (n + 1): nearly everything is throttled.
  assert.ok((report.throttled as number) > 150, `throttled ${report.throttled}`);
  assert.equal(sum(report.timeline as Point[], 'throttled'), report.throttled);
});
