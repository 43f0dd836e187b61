import assert from 'node:assert/strict';
import { test } from 'node:test';
import { WhipHttpError, WhipPublisher } from '../../tools/rtc-load/client/whip.ts';
import { metricValue } from '../helpers.ts';
import { CARD, frameWhere, listeningApp, metricsText, publish } from './support.ts';

// The lifecycle under test is the registry's, not the media lane's: frames share the one worker
// (still first), and no app starts a second thread (half a CPU-second each).
const NO_MEDIA_LANE = { mediaWorkers: 0 } as const;
import { waitUntil } from '../wait.ts';

const outcomes = async (base: string, outcome: string) => metricValue(await metricsText(base), 'app_webrtc_sessions_total', { outcome }) ?? 0;

test('a session without frames for SESSION_IDLE_SECONDS is closed as idle', { timeout: 30_000 }, async (t) => {
  const { ctx, base } = await listeningApp(t, { sessionIdleSeconds: 1, ...NO_MEDIA_LANE });
  const publisher = await publish(t, `${base}/whip?effect=invert`);
  const stop = publisher.startFrames(20, () => CARD);
  await frameWhere(publisher.peer, 'any frame', () => true);
  // The publisher vanishes without DELETE.
  stop();
  publisher.abandon();
  await waitUntil('the idle session to be closed', async () => (await outcomes(base, 'idle')) === 1);
  assert.equal(ctx.sessions.size, 0);
  assert.equal(metricValue(await metricsText(base), 'app_webrtc_sessions_active'), 0);
});

test('drain: new sessions are refused, running ones end as drained after the drain period', { timeout: 30_000 }, async (t) => {
  const { ctx, base } = await listeningApp(t, NO_MEDIA_LANE);
  const publisher = await publish(t, `${base}/whip?effect=grayscale`);
  const stop = publisher.startFrames(20, () => CARD);
  t.after(stop);
  await frameWhere(publisher.peer, 'any frame', () => true);

  const started = performance.now();
  const drained = ctx.sessions.drain(1);
  const refused = await WhipPublisher.publish(`${base}/whip`).catch((err: unknown) => err);
  assert.ok(refused instanceof WhipHttpError && refused.status === 503, String(refused));
  assert.equal(ctx.sessions.size, 1, 'the running call keeps going during the drain');
  await drained;
  assert.ok(performance.now() - started >= 900);
  assert.equal(ctx.sessions.size, 0);
  assert.equal(await outcomes(base, 'drained'), 1);
  assert.equal(await outcomes(base, 'rejected'), 1);
  assert.equal((await fetch(publisher.resourceUrl)).status, 404);
});

test('SLO admission: while the frame p95 is above FRAME_SLO_MS new sessions get 503', { timeout: 30_000 }, async (t) => {
  // An objective no frame can meet, so the window's p95 is above it once enough frames were seen.
  const { ctx, base } = await listeningApp(t, { sloAdmission: true, frameSloMs: 0.001, ...NO_MEDIA_LANE });
  const publisher = await publish(t, `${base}/whip?effect=grayscale`);
  const stop = publisher.startFrames(30, () => CARD);
  t.after(stop);
  await waitUntil('60 frames in the window', () => ctx.sessions.frameWindow.count() >= 60, { timeoutMs: 15_000 });
  const res = await fetch(`${base}/whip`, { method: 'POST', headers: { 'content-type': 'application/sdp' }, body: publisher.peer.remoteSdp ?? '' });
  assert.equal(res.status, 503);
  assert.match(((await res.json()) as { detail: string }).detail, /FRAME_SLO_MS/);
  assert.equal(metricValue(await metricsText(base), 'app_rejected_total', { reason: 'frame_slo' }), 1);
  stop();
  assert.equal(await publisher.close(), 200);
});

test('closing the app ends running sessions; ANNOUNCED_IP and the port range shape the answer', { timeout: 30_000 }, async (t) => {
  const { ctx, base } = await listeningApp(t, { announcedIp: '127.0.0.1', rtcPortMin: 42000, rtcPortMax: 42100, ...NO_MEDIA_LANE });
  const publisher = await publish(t, `${base}/whip?effect=grayscale`);
  const stop = publisher.startFrames(20, () => CARD);
  t.after(stop);
  await frameWhere(publisher.peer, 'any frame', () => true);

  const answer = publisher.peer.remoteSdp ?? '';
  const hosts = [...answer.matchAll(/^a=candidate:\S+ \d+ (\S+) \d+ (\S+) (\d+) typ host/gm)];
  assert.ok(hosts.length > 0, answer);
  for (const [, , address, port] of hosts) {
    assert.equal(address, '127.0.0.1');
    assert.ok(Number(port) >= 42000 && Number(port) <= 42100, `port ${port}`);
  }

  await ctx.app.close();
  assert.equal(ctx.sessions.size, 0);
  assert.equal(metricValue(await ctx.metrics.registry.metrics(), 'app_webrtc_sessions_total', { outcome: 'drained' }), 1);
});
