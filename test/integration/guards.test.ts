import assert from 'node:assert/strict';
import { test } from 'node:test';
import { metricValue, testApp, underStall } from '../helpers.ts';

test('security headers and a CSP on every response; no stack traces in errors', async (t) => {
  const { app } = await testApp(t);
  const res = await app.inject('/healthz');
  const csp = String(res.headers['content-security-policy']);
  assert.match(csp, /default-src 'self'/);
  assert.match(csp, /script-src 'self'/);
  assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval/);
  assert.equal(res.headers['x-content-type-options'], 'nosniff');
  assert.ok(res.headers['strict-transport-security']);
  const bad = await app.inject('/process?pixels=abc');
  assert.doesNotMatch(bad.body, /at .*\.ts:\d+/);
});

test('when the event loop stalls, the API and backdrop uploads shed with 503 while probes and metrics still answer', async (t) => {
  const { app } = await testApp(t, { maxEventLoopDelayMs: 20, retryAfterSeconds: 3 });
  assert.equal((await app.inject('/process?pixels=32x32&iters=1')).statusCode, 200);
  const shed = await underStall(app, 20, () => app.inject('/process?pixels=32x32&iters=1'));
  assert.equal(shed.statusCode, 503, shed.body);
  assert.equal(shed.headers['retry-after'], '3');
  assert.equal(shed.json().error, 'overloaded');
  // A backdrop upload is new work too (decoding an image): no longer exempt.
  const upload = await underStall(app, 20, () =>
    app.inject({ method: 'PUT', url: '/whip/x.y.z/background', headers: { 'content-type': 'image/png' }, payload: Buffer.alloc(64) }),
  );
  assert.equal(upload.statusCode, 503, upload.body);
  assert.equal((await app.inject('/healthz')).statusCode, 200);
  assert.equal((await app.inject('/readyz')).statusCode, 200);
  assert.equal((await app.inject('/metrics')).statusCode, 200);
});

test('METRICS_PORT moves /metrics off the public port', async (t) => {
  const ctx = await testApp(t, { metricsPort: 1 });
  assert.ok(ctx.metricsApp);
  assert.equal((await ctx.app.inject('/metrics')).statusCode, 404);
  await ctx.app.inject('/process?pixels=16x16&iters=1');
  const text = (await ctx.metricsApp.inject('/metrics')).body;
  assert.equal(metricValue(text, 'app_requests_total', { endpoint: '/process', status: '200' }), 1);
});

test('session creation is rate-limited per client address with 429 and Retry-After', async (t) => {
  const { app } = await testApp(t, { sessionRateLimitPerMinute: 2 });
  const offer = () =>
    app.inject({ method: 'POST', url: '/whip?effect=blur', headers: { 'content-type': 'application/sdp' }, payload: 'not sdp' });
  assert.equal((await offer()).statusCode, 400);
  assert.equal((await offer()).statusCode, 400);
  const limited = await offer();
  assert.equal(limited.statusCode, 429);
  assert.equal(limited.json().error, 'rate_limited');
  assert.ok(Number(limited.headers['retry-after']) > 0);
  // Other routes are not limited.
  assert.equal((await app.inject('/process?pixels=16x16&iters=1')).statusCode, 200);
});
