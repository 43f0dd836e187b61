/**
 * What the pod says about refusals and failures (issue 12): each refusal under its true reason,
 * CORS headers on the guard's 503s, no internals in a 500, a refused allocation that leaks nothing,
 * a token check that does not depend on the token's length.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ERRORS } from '../../src/errors.ts';
import { watchPathOf } from '../../src/fleet/session-id.ts';
import { bearerMatches } from '../../src/http/whip-support.ts';
import { Peer, VideoOutput } from '../../src/webrtc/peer.ts';
import { killWorkerMidJob, metricValue, testApp, underStall } from '../helpers.ts';
import { listeningApp, publish } from '../webrtc/support.ts';

test('the pressure guard\'s 503 on WHIP carries CORS headers and is counted as pressure, not queue_full', async (t) => {
  const { app, metrics } = await testApp(t, { maxEventLoopDelayMs: 20, corsOrigins: ['https://app.example'] });
  // A malformed offer that gets through is a 400, not counted.
  const offer = () => app.inject({ method: 'POST', url: '/whip', headers: { origin: 'https://app.example', 'content-type': 'application/sdp' }, payload: 'v=0' });
  const shed = await underStall(app, 20, offer);
  assert.equal(shed.statusCode, 503, shed.body);
  assert.equal(shed.headers['access-control-allow-origin'], 'https://app.example');
  assert.match(String(shed.headers['access-control-expose-headers']), /Retry-After/);
  const text = await metrics.registry.metrics();
  assert.equal(metricValue(text, 'app_rejected_total', { reason: 'pressure' }), 1);
  assert.equal(metricValue(text, 'app_rejected_total', { reason: 'queue_full' }), 0, 'exported at 0, never counted');
});

test('a worker that dies answers worker_failed with a fixed detail: nothing from inside the worker', async (t) => {
  const { app, engine } = await testApp(t, { workers: 1, maxJobSeconds: 60 });
  const res = await killWorkerMidJob(engine, () => app.inject('/process?pixels=1920x1080&iters=60&effect=gaussian&sigma=8'));
  assert.equal(res.statusCode, 500);
  assert.deepEqual(res.json(), { error: 'worker_failed', detail: ERRORS.worker_failed.message });
});

test('a job refused by the worker\'s memory budget leaks nothing: a job that fits exactly still runs after it', async (t) => {
  const MiB = 1024 * 1024;
  // 1400x1400 RGBA is 7.84 MB: source and result fit in 16 MiB, a third frame (scratch for iters >= 2) does not.
  const { app, metrics } = await testApp(t, { workers: 1, workerMemoryBytes: 16 * MiB, testCardCacheBytes: 0, maxEventLoopDelayMs: 0, maxEventLoopUtilization: 0 });
  const frame = Buffer.alloc(1400 * 1400 * 4, 9);
  const post = (iters: number) =>
    app.inject({ method: 'POST', url: `/process?pixels=1400x1400&iters=${iters}`, headers: { 'content-type': 'application/octet-stream' }, payload: frame });
  for (let i = 0; i < 3; i++) {
    const refused = await post(3);
    assert.equal(refused.statusCode, 413, refused.body);
    assert.match(refused.json().detail, /WORKER_MEMORY_BYTES/);
    const fits = await post(1);
    assert.equal(fits.statusCode, 200, `a block leaked on refusal ${i}: ${fits.body.slice(0, 200)}`);
  }
  assert.equal(metricValue(await metrics.registry.metrics(), 'app_rejected_total', { reason: 'memory' }), 3);
});

test('the token check compares digests: right token only, whatever the length of the wrong one', () => {
  const token = 's3cret-token';
  assert.equal(bearerMatches(`Bearer ${token}`, token), true);
  assert.equal(bearerMatches(`bearer ${token}`, token), true);
  for (const wrong of ['', 's', 's3cret-toke', 's3cret-tokenX', 'x'.repeat(4096)]) assert.equal(bearerMatches(`Bearer ${wrong}`, token), false, wrong);
  assert.equal(bearerMatches(undefined, token), false);
  assert.equal(bearerMatches(token, token), false, 'the scheme is required');
});

test('a viewer that offers to send video gets a receive-only answer on our side: its video is never decoded', async (t) => {
  const { base } = await listeningApp(t);
  const publisher = await publish(t, `${base}/whip?effect=invert`);
  // Viewers use the watch URL (the publisher's own id carries its secret).
  const watchPath = watchPathOf(publisher.resourceUrl)!;
  const peer = new Peer({ iceServers: [], gatherTimeoutMs: 500, onListenerError: () => undefined });
  const output = new VideoOutput();
  t.after(() => {
    peer.close();
    output.close();
  });
  const offer = await peer.offer({ send: output, receive: true });
  const res = await fetch(`${base}${watchPath}`, { method: 'POST', headers: { 'content-type': 'application/sdp' }, body: offer });
  const answer = await res.text();
  assert.equal(res.status, 201, answer);
  const video = answer.split(/\r?\nm=/).find((s) => s.startsWith('video '))!;
  assert.match(video, /^a=sendonly\r?$/m, 'the server only sends on the viewer\'s section');
});
