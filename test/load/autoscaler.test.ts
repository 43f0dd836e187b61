import assert from 'node:assert/strict';
import test from 'node:test';
import fc from 'fast-check';
import {
  autoscalerPoint,
  autoscalerWish,
  desiredForRefusals,
  desiredReplicas,
  scaleUpLimit,
} from '../../tools/rtc-load/core/autoscaler.ts';
import { LoadRecorder } from '../../tools/rtc-load/core/recorder.ts';
import { runRtcLoad, startServer } from './fixtures.ts';

const SETTINGS = { targetP95Ms: 250, tolerance: 0.1 };

test('the HPA rule: ceil(current × metric / target), unchanged within the tolerance', () => {
  assert.equal(desiredReplicas(1, 500, 250, 0.1), 2);
  assert.equal(desiredReplicas(3, 412, 250, 0.1), 5); // 4.94 → 5
  assert.equal(desiredReplicas(4, 270, 250, 0.1), 4); // ratio 1.08: within tolerance
  assert.equal(desiredReplicas(4, 100, 250, 0.1), 2); // 1.6 → 2: scale down
  assert.equal(desiredReplicas(2, 0, 250, 0.1), 1); // never below one
});

test('refusals: the HPA rule on offered / served against 1.1, silent (0) at or under it, capped at 10, as the manifests', () => {
  assert.equal(desiredForRefusals(3, 0, 0.1), 0);
  assert.equal(desiredForRefusals(3, 0.05, 0.1), 0); // offered/served 1.05
  assert.equal(desiredForRefusals(3, 0.09, 0.1), 0); // 1.099: silent
  assert.equal(desiredForRefusals(3, 0.1, 0.1), 3); // 1.111 / 1.1 = 1.01: within the tolerance, holds
  assert.equal(desiredForRefusals(1, 0.5, 0.1), 2); // 2 / 1.1 → 1.82 → 2
  assert.equal(desiredForRefusals(2, 0.75, 0.1), 8); // 4 / 1.1 × 2 = 7.3 → 8
  // Nothing served reads the cap: 10 / 1.1 per pod (the scale-up step limits it in autoscalerWish).
  assert.equal(desiredForRefusals(1, 1, 0.1), 10);
  assert.equal(desiredForRefusals(2, 0.95, 0.1), 19);
  assert.deepEqual([1, 2, 4, 10].map(scaleUpLimit), [5, 6, 8, 20]);
});

test('a silent refusal term never holds pods the latency term lets go', () => {
  assert.equal(autoscalerWish(SETTINGS, 4, 100, 0.02).desiredReplicas, 2, 'p95 well under the target, 2 % refused: scale down');
  assert.equal(autoscalerWish(SETTINGS, 4, 100, 0).desiredReplicas, 2);
});

test('the wish is the larger term, capped at one HPA step; a missing p95 leaves latency out', () => {
  assert.deepEqual(autoscalerWish(SETTINGS, 2, 100, 0.6), { desiredByLatency: 1, desiredByRefusals: 5, desiredReplicas: 5 });
  assert.deepEqual(autoscalerWish(SETTINGS, 2, 500, 0), { desiredByLatency: 4, desiredByRefusals: 0, desiredReplicas: 4 });
  assert.deepEqual(autoscalerWish(SETTINGS, 1, 5000, 0), { desiredByLatency: 20, desiredByRefusals: 0, desiredReplicas: 5 });
  assert.deepEqual(autoscalerWish(SETTINGS, 3, null, 0.5), { desiredByLatency: 3, desiredByRefusals: 6, desiredReplicas: 6 });
});

/** One client-side second: `served` answers at `servedMs`, `refused` 503s at `refusedMs`. */
function recorderWith(seconds: number, served: number, servedMs: number, refused: number, refusedMs: number): LoadRecorder {
  const recorder = new LoadRecorder(0);
  for (let s = 0; s < seconds; s++) {
    for (let i = 0; i < served; i++) recorder.recordResponse(200, servedMs, s * 1000 + 10, -1);
    for (let i = 0; i < refused; i++) recorder.recordResponse(503, refusedMs, s * 1000 + 20, -1);
  }
  return recorder;
}

test('fast refusals neither dilute the p95 the rule reads nor lower its wish', () => {
  // 20 served at 400 ms and 1000 refused at 1 ms a second: over all answers the p95 would be 1 ms.
  const diluted = recorderWith(10, 20, 400, 1000, 1);
  const point = autoscalerPoint(SETTINGS, diluted.timeline, [], 10);
  assert.ok(point);
  assert.ok(point.p95Ms !== null && point.p95Ms >= 395 && point.p95Ms <= 405, `served p95 ${point.p95Ms}`);
  assert.ok(point.refusalRatio > 0.97);
  assert.equal(point.desiredByLatency, 2);
  assert.equal(point.desiredReplicas, 5);

  // For any traffic, adding refusals (at any latency) never lowers what the rule asks for.
  fc.assert(
    fc.property(
      fc.integer({ min: 1, max: 50 }),
      fc.integer({ min: 1, max: 2000 }),
      fc.integer({ min: 0, max: 50 }),
      fc.integer({ min: 1, max: 500 }),
      fc.integer({ min: 1, max: 2000 }),
      (served, servedMs, baseRefused, extraRefused, refusedMs) => {
        const before = autoscalerPoint(SETTINGS, recorderWith(3, served, servedMs, baseRefused, refusedMs).timeline, [], 3);
        const after = autoscalerPoint(SETTINGS, recorderWith(3, served, servedMs, baseRefused + extraRefused, refusedMs).timeline, [], 3);
        assert.ok(before && after);
        assert.equal(after.p95Ms, before.p95Ms, 'refusals are not in the served p95');
        assert.ok(after.desiredReplicas >= before.desiredReplicas, `${before.desiredReplicas} -> ${after.desiredReplicas}`);
      },
    ),
    { numRuns: 200 },
  );
});

interface Report {
  latency: { p95: number };
  autoscaler: {
    targetP95Ms: number;
    points: { tSeconds: number; replicas: number; p95Ms: number | null; refusalRatio: number; source: string; desiredByLatency: number; desiredByRefusals: number; desiredReplicas: number }[];
  };
}

function parse(stdout: string): Report {
  return JSON.parse(stdout) as Report;
}

test('without Prometheus: one replica and the run’s own served p95 (a server that takes 80 ms, target 40 ms → 2 pods)', async (t) => {
  const server = await startServer((_request, response) => setTimeout(() => response.end('ok'), 80));
  t.after(() => server.close());
  const result = await runRtcLoad([`${server.baseUrl}/`, '--rate', '40', '--duration', '2s', '--hpa-target-p95', '40ms', '--json']);
  assert.equal(result.code, 0, result.stderr);
  const { autoscaler } = parse(result.stdout);
  assert.equal(autoscaler.targetP95Ms, 40);
  const last = autoscaler.points.at(-1);
  assert.ok(last, 'points');
  assert.equal(last.source, 'client');
  assert.equal(last.replicas, 1);
  assert.equal(last.refusalRatio, 0);
  assert.ok(last.p95Ms !== null && last.p95Ms >= 79, `p95 ${last.p95Ms}`);
  assert.equal(last.desiredReplicas, Math.min(5, Math.ceil(last.p95Ms / 40)));

  const table = await runRtcLoad([`${server.baseUrl}/`, '-n', '20', '-c', '4', '--hpa-target-p95', '40ms']);
  assert.match(table.stdout, /Autoscaler\s+1 replica, served p95 [\d.]+ ms vs target 40 ms, refused 0% \(client\): the HPA asks for \d+ now \(\d+ by latency, 0 by refusals\)/);
});

test('a storm of fast 503s: the report’s p95 is the served one and the HPA asks for more pods, not fewer', async (t) => {
  // Four in five answers are 503 at once; the rest are served after 300 ms.
  const server = await startServer((_request, response, index) => {
    if (index % 5 !== 0) {
      response.statusCode = 503;
      response.setHeader('retry-after', '1');
      response.end();
      return;
    }
    setTimeout(() => response.end('ok'), 300);
  });
  t.after(() => server.close());
  const result = await runRtcLoad([`${server.baseUrl}/`, '-c', '10', '--duration', '2s', '--retry-immediately', '--json']);
  assert.equal(result.code, 0, result.stderr);
  const report = parse(result.stdout);
  assert.ok(report.latency.p95 >= 295, `served p95 ${report.latency.p95}`);
  const last = report.autoscaler.points.at(-1);
  assert.ok(last && last.p95Ms !== null);
  assert.ok(last.p95Ms >= 295, `the rule's p95 ${last.p95Ms}`);
  assert.ok(last.refusalRatio > 0.5, `refused ${last.refusalRatio}`);
  assert.equal(last.desiredByLatency, 2);
  assert.ok(last.desiredReplicas >= 2, `asks for ${last.desiredReplicas}`);
});

test('with Prometheus: its replicas, served p95 and refusal ratio (3 pods at 412 ms → 5; half refused → 6)', async (t) => {
  const server = await startServer((_request, response) => response.end('ok'));
  t.after(() => server.close());
  let refusalRatio = '0';
  const queries = new Set<string>();
  const prometheus = await startServer((request, response) => {
    const query = new URL(request.url ?? '/', 'http://localhost').searchParams.get('query') ?? '';
    queries.add(query);
    const value = query.includes('kube_deployment_status_replicas') ? '3' : query.includes('status="503"') ? refusalRatio : '0.412';
    response.setHeader('content-type', 'application/json');
    response.end(JSON.stringify({ status: 'success', data: { resultType: 'vector', result: [{ metric: {}, value: [Date.now() / 1000, value] }] } }));
  });
  t.after(() => prometheus.close());
  const args = [`${server.baseUrl}/`, '--rate', '20', '--duration', '2s', '--prometheus', prometheus.baseUrl, '--prometheus-interval', '200ms', '--json'];
  const result = await runRtcLoad(args);
  assert.equal(result.code, 0, result.stderr);
  const last = parse(result.stdout).autoscaler.points.at(-1);
  assert.deepEqual(last && { replicas: last.replicas, p95Ms: last.p95Ms, refused: last.refusalRatio, source: last.source, desired: last.desiredReplicas }, {
    replicas: 3,
    p95Ms: 412,
    refused: 0,
    source: 'prometheus',
    desired: 5,
  });
  assert.ok([...queries].some((q) => q.includes('app_requests_total{endpoint="/process",status="503"}')), 'the default refusal query');

  refusalRatio = '0.5';
  const refusing = parse((await runRtcLoad(args)).stdout).autoscaler.points.at(-1);
  assert.deepEqual(refusing && { refused: refusing.refusalRatio, byLatency: refusing.desiredByLatency, byRefusals: refusing.desiredByRefusals, desired: refusing.desiredReplicas }, {
    refused: 0.5,
    byLatency: 5,
    byRefusals: 6,
    desired: 6,
  });
});
