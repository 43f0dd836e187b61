import assert from 'node:assert/strict';
import test from 'node:test';
import { desiredReplicas } from '../../tools/rtc-load/core/autoscaler.ts';
import { runRtcLoad, startServer } from './fixtures.ts';

test('the HPA rule: ceil(current × metric / target), unchanged within the tolerance', () => {
  assert.equal(desiredReplicas(1, 500, 250, 0.1), 2);
  assert.equal(desiredReplicas(3, 412, 250, 0.1), 5); // 4.94 → 5
  assert.equal(desiredReplicas(4, 270, 250, 0.1), 4); // ratio 1.08: within tolerance
  assert.equal(desiredReplicas(4, 100, 250, 0.1), 2); // 1.6 → 2: scale down
  assert.equal(desiredReplicas(2, 0, 250, 0.1), 1); // never below one
});

interface Report {
  autoscaler: { targetP95Ms: number; points: { tSeconds: number; replicas: number; p95Ms: number; source: string; desiredReplicas: number }[] };
}

function parse(stdout: string): Report {
  return JSON.parse(stdout) as Report;
}

test('without Prometheus: one replica and the run’s own p95 (a server that takes 80 ms, target 40 ms → 2 pods)', async (t) => {
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
  assert.ok(last.p95Ms >= 79, `p95 ${last.p95Ms}`);
  assert.equal(last.desiredReplicas, Math.ceil(last.p95Ms / 40));

  const table = await runRtcLoad([`${server.baseUrl}/`, '-n', '20', '-c', '4', '--hpa-target-p95', '40ms']);
  assert.match(table.stdout, /Autoscaler\s+1 replica, p95 [\d.]+ ms \(client\) vs target 40 ms: the HPA asks for \d+ now/);
});

test('with Prometheus: its replicas and server p95 (3 pods at 412 ms, target 250 ms → 5)', async (t) => {
  const server = await startServer((_request, response) => response.end('ok'));
  t.after(() => server.close());
  const prometheus = await startServer((request, response) => {
    const query = new URL(request.url ?? '/', 'http://localhost').searchParams.get('query') ?? '';
    const value = query.includes('kube_deployment_status_replicas') ? '3' : '0.412';
    response.setHeader('content-type', 'application/json');
    response.end(JSON.stringify({ status: 'success', data: { resultType: 'vector', result: [{ metric: {}, value: [Date.now() / 1000, value] }] } }));
  });
  t.after(() => prometheus.close());
  const result = await runRtcLoad([`${server.baseUrl}/`, '--rate', '20', '--duration', '2s', '--prometheus', prometheus.baseUrl, '--prometheus-interval', '200ms', '--json']);
  assert.equal(result.code, 0, result.stderr);
  const last = parse(result.stdout).autoscaler.points.at(-1);
  assert.deepEqual(last && { replicas: last.replicas, p95Ms: last.p95Ms, source: last.source, desired: last.desiredReplicas }, { replicas: 3, p95Ms: 412, source: 'prometheus', desired: 5 });
});
