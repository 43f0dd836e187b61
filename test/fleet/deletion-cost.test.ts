/**
 * The pod-deletion-cost updater against a local stand-in for the Kubernetes API that checks each
 * request as the API server would see it: method, path, patch type, bearer token, body. (Not a live
 * cluster: docs/kubernetes.md says so.)
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import type net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { test, type TestContext } from 'node:test';
import pino from 'pino';
import { configWith } from '../../src/config.ts';
import { DELETION_COST_ANNOTATION, DeletionCostUpdater, deletionCostUpdater } from '../../src/fleet/deletion-cost.ts';
import { createMetrics } from '../../src/metrics.ts';
import { metricValue } from '../helpers.ts';
import { waitUntil } from '../wait.ts';

interface Seen {
  method: string;
  url: string;
  authorization: string | undefined;
  contentType: string | undefined;
  body: unknown;
}

async function fakeApi(t: TestContext, status: () => number) {
  const seen: Seen[] = [];
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      seen.push({ method: req.method!, url: req.url!, authorization: req.headers.authorization, contentType: req.headers['content-type'], body: JSON.parse(body || 'null') });
      res.writeHead(status(), { 'content-type': 'application/json' });
      res.end(JSON.stringify({ kind: 'Pod', metadata: { name: 'gpu-media-7d9f-abcde' } }));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => server.close());
  return { url: `http://127.0.0.1:${(server.address() as net.AddressInfo).port}`, seen };
}

function serviceAccountDir(t: TestContext, token: string): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sa-'));
  fs.writeFileSync(path.join(dir, 'token'), `${token}\n`);
  fs.writeFileSync(path.join(dir, 'namespace'), 'rtc');
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

const silent = pino({ level: 'silent' });

test('the annotation follows the live count: one strategic-merge PATCH of the own pod per change, with the current token', async (t) => {
  let status = 200;
  const api = await fakeApi(t, () => status);
  const dir = serviceAccountDir(t, 'token-1');
  const metrics = createMetrics({ p95WindowSeconds: 60, queueDepth: () => 0 });
  let count = 0;
  const updater = new DeletionCostUpdater({
    apiUrl: api.url,
    namespace: 'rtc',
    podName: 'gpu-media-7d9f-abcde',
    serviceAccountDir: dir,
    intervalMs: 60_000,
    count: () => count,
    log: silent,
    metrics,
  });
  t.after(() => updater.stop());

  await updater.tick();
  assert.equal(api.seen.length, 1);
  assert.deepEqual(api.seen[0], {
    method: 'PATCH',
    url: '/api/v1/namespaces/rtc/pods/gpu-media-7d9f-abcde',
    authorization: 'Bearer token-1',
    contentType: 'application/strategic-merge-patch+json',
    body: { metadata: { annotations: { [DELETION_COST_ANNOTATION]: '0' } } },
  });
  assert.equal(updater.patchedCost, 0);

  // Unchanged count: no request at all.
  await updater.tick();
  await updater.tick();
  assert.equal(api.seen.length, 1);

  // A change, after the token was rotated: the new token is used.
  count = 3;
  fs.writeFileSync(path.join(dir, 'token'), 'token-2');
  await updater.tick();
  assert.equal(api.seen.length, 2);
  assert.equal(api.seen[1]?.authorization, 'Bearer token-2');
  assert.deepEqual(api.seen[1]?.body, { metadata: { annotations: { [DELETION_COST_ANNOTATION]: '3' } } });

  // Refused (no RBAC): counted, and retried on the next tick until it succeeds.
  count = 1;
  status = 403;
  await updater.tick();
  await updater.tick();
  assert.equal(updater.patchedCost, 3);
  status = 200;
  await updater.tick();
  assert.equal(updater.patchedCost, 1);
  assert.equal(api.seen.length, 5);
  const text = await metrics.registry.metrics();
  assert.equal(metricValue(text, 'app_pod_deletion_cost_patches_total', { result: 'ok' }), 3);
  assert.equal(metricValue(text, 'app_pod_deletion_cost_patches_total', { result: 'failed' }), 2);
});

test('on a timer: at most one PATCH per interval, however often the count moves', async (t) => {
  const api = await fakeApi(t, () => 200);
  const dir = serviceAccountDir(t, 'tok');
  let count = 0;
  const updater = new DeletionCostUpdater({
    apiUrl: api.url,
    namespace: 'rtc',
    podName: 'p',
    serviceAccountDir: dir,
    intervalMs: 300,
    count: () => count,
    log: silent,
    metrics: createMetrics({ p95WindowSeconds: 60, queueDepth: () => 0 }),
  });
  updater.start();
  t.after(() => updater.stop());
  const started = performance.now();
  const mover = setInterval(() => count++, 10);
  // The count moves every 10 ms; the patches follow at most one per interval.
  await waitUntil('three patches', () => api.seen.length >= 3, { timeoutMs: 5000, intervalMs: 10 });
  clearInterval(mover);
  const elapsedMs = performance.now() - started;
  await updater.stop();
  assert.ok(api.seen.length >= 3, `patched ${api.seen.length} times`);
  assert.ok(api.seen.length <= Math.floor(elapsedMs / 300) + 1, `${api.seen.length} patches in ${elapsedMs.toFixed(0)} ms`);
});

test('POD_DELETION_COST=true without the pod name or an API address stops the start-up, naming what is missing', (t) => {
  const deps = { count: () => 0, log: silent, metrics: createMetrics({ p95WindowSeconds: 60, queueDepth: () => 0 }) };
  assert.equal(deletionCostUpdater(configWith({}), deps), undefined, 'off by default');
  assert.throws(() => deletionCostUpdater(configWith({ podDeletionCost: true, serviceAccountDir: '/nonexistent' }), deps), /POD_NAME, POD_NAMESPACE, KUBERNETES_API_URL/);
  const dir = serviceAccountDir(t, 'tok');
  const updater = deletionCostUpdater(
    configWith({ podDeletionCost: true, podName: 'p', serviceAccountDir: dir, kubernetesServiceHost: '10.96.0.1', kubernetesServicePort: 443 }),
    deps,
  );
  assert.ok(updater instanceof DeletionCostUpdater, 'the namespace comes from the service-account mount');
});
