/**
 * WebRTC attacks against a real listening server (issues 12 and 19): offers that never finish ICE,
 * one address taking every session slot, frames far larger than a camera's, offers with many
 * sections, effect changes as fast as a client can send them.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { i420Frame } from '../../tools/rtc-load/client/i420.ts';
import { Peer, VideoOutput } from '../../src/webrtc/peer.ts';
import { metricValue } from '../helpers.ts';
import { CARD, listeningApp, metricsText, publish, sharedListeningApp } from '../webrtc/support.ts';

/**
 * One app for the three tests that process no frames and assert nothing exact about sessions (the
 * offer sections, the effect-change rate, the two video sections). No app here starts a media lane
 * (frames share the one worker, still first): the limits are checked before any worker, and each
 * worker thread costs half a CPU-second or more to start.
 */
const shared = sharedListeningApp({ maxOfferSections: 4, effectChangesPerSecond: 2, mediaWorkers: 0 });
import { waitUntil } from '../wait.ts';

/** An offer whose answer is never applied: the server's peer never connects (a half-open session). */
async function halfOpen(url: string, headers: Record<string, string> = {}): Promise<{ status: number; headers: Headers; body: string }> {
  const peer = new Peer({ iceServers: [], gatherTimeoutMs: 500, onListenerError: () => undefined });
  const output = new VideoOutput();
  try {
    const offer = await peer.offer({ send: output, receive: true });
    const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/sdp', ...headers }, body: offer });
    return { status: res.status, headers: res.headers, body: await res.text() };
  } finally {
    peer.close();
    output.close();
  }
}

test('half-open offers: one address holds at most MAX_SESSIONS_PER_CLIENT, and unconnected sessions are released', async (t) => {
  const { ctx, base } = await listeningApp(t, {
    maxSessions: 8,
    maxSessionsPerClient: 2,
    sessionConnectSeconds: 6,
    trustProxy: ['127.0.0.1'],
    // No frame is sent: no media lane to start.
    mediaWorkers: 0,
    // About admission, not about the stall guard of a busy shared machine.
    maxEventLoopDelayMs: 0,
    maxEventLoopUtilization: 0,
  });
  // An IPv6 client with a /64 takes a fresh address for every offer: still one client.
  const attacker = (i: number) => ({ 'x-forwarded-for': `2001:db8:7:7:${(i + 1).toString(16)}::9` });
  const answers = [];
  for (let i = 0; i < 4; i++) answers.push(await halfOpen(`${base}/whip`, attacker(i)));
  // 429, not 503: it is this client's doing, and another pod would refuse it as well.
  assert.deepEqual(answers.map((a) => a.status), [201, 201, 429, 429], 'two slots, then refusals (all within SESSION_CONNECT_SECONDS)');
  assert.equal(answers[2]!.headers.get('retry-after'), '1');
  assert.equal(JSON.parse(answers[3]!.body).error, 'too_many_sessions');
  // Another address (the next /64) still gets a slot.
  assert.equal((await halfOpen(`${base}/whip`, { 'x-forwarded-for': '2001:db8:7:8::9' })).status, 201);
  assert.equal(ctx.sessions.size, 3);
  // Nobody completed ICE: within SESSION_CONNECT_SECONDS (plus a tick) every slot is free again.
  await waitUntil('the half-open sessions to be released', () => ctx.sessions.size === 0, { timeoutMs: 15_000 });
  const metrics = await metricsText(base);
  assert.equal(metricValue(metrics, 'app_webrtc_sessions_total', { outcome: 'connect_timeout' }), 3);
  assert.equal(metricValue(metrics, 'app_rejected_total', { reason: 'sessions_per_client' }), 2);
  assert.equal(metricValue(metrics, 'app_webrtc_sessions_active'), 0);
  assert.equal((await halfOpen(`${base}/whip`, attacker(4))).status, 201, 'the client may publish again');
});

test('an offer with more media sections than MAX_OFFER_SECTIONS is refused before libwebrtc sees it', async () => {
  const { base } = await shared();
  const video = (i: number) => [`m=video 9 UDP/TLS/RTP/SAVPF 96`, 'c=IN IP4 0.0.0.0', `a=mid:${i}`, 'a=sendonly', 'a=rtpmap:96 VP8/90000'];
  const sdp = [
    'v=0',
    'o=- 1 2 IN IP4 127.0.0.1',
    's=-',
    't=0 0',
    'a=ice-ufrag:abcd',
    'a=ice-pwd:abcdefghijklmnopqrstuvwx',
    'a=fingerprint:sha-256 AB:CD',
    ...Array.from({ length: 200 }, (_, i) => video(i)).flat(),
    '',
  ].join('\r\n');
  const res = await fetch(`${base}/whip`, { method: 'POST', headers: { 'content-type': 'application/sdp' }, body: sdp });
  assert.equal(res.status, 400);
  assert.match(((await res.json()) as { detail: string }).detail, /MAX_OFFER_SECTIONS/);
});

test('frames over MAX_FRAME_PIXELS are dropped before the engine, the publisher told once; smaller ones go on; only a session of nothing else ends', async (t) => {
  const { ctx, base } = await listeningApp(t, { maxFramePixels: 320 * 240, sessionIdleSeconds: 3, mediaWorkers: 0 });
  const publisher = await publish(t, `${base}/whip?effect=invert`, { controlChannel: true });
  const told: string[] = [];
  publisher.peer.on('message', (_label, text) => told.push(text));
  const big = i420Frame(640, 480, () => 128);
  let next = big;
  const stop = publisher.startFrames(15, () => next);
  t.after(stop);
  const dropped = async () => metricValue(await metricsText(base), 'app_frames_dropped_total', { reason: 'too_large' }) ?? 0;
  await waitUntil('oversized frames dropped', async () => (await dropped()) >= 5, { timeoutMs: 10_000 });
  await waitUntil('the publisher told why', () => told.length > 0, { timeoutMs: 5000 });
  assert.equal(JSON.parse(told[0]!).error, 'payload_too_large');
  assert.match(JSON.parse(told[0]!).detail, /640x480.*MAX_FRAME_PIXELS/);
  assert.equal(metricValue(await metricsText(base), 'app_frames_processed_total', { effect: 'invert', device: 'cpu' }), 0, 'no oversized frame reached the engine');
  assert.equal(ctx.sessions.size, 1, 'the session goes on');

  // The publisher scales down: its frames are processed at once, on the same connection.
  next = CARD;
  await waitUntil('frames processed', async () => (metricValue(await metricsText(base), 'app_frames_processed_total', { effect: 'invert', device: 'cpu' }) ?? 0) >= 3, { timeoutMs: 10_000 });
  assert.equal(told.filter((m) => /payload_too_large/.test(m)).length, 1, 'told once for that size');

  // Nothing but oversized frames for SESSION_IDLE_SECONDS: the session ends, and says why.
  next = big;
  await waitUntil('the session to end', () => ctx.sessions.size === 0, { timeoutMs: 15_000 });
  stop();
  assert.equal(metricValue(await metricsText(base), 'app_webrtc_sessions_total', { outcome: 'frame_too_large' }), 1);
});

test('effect changes are rate-limited per session: the excess gets 429, the session goes on', async (t) => {
  const { base } = await shared();
  const publisher = await publish(t, `${base}/whip?effect=invert`);
  const statuses: number[] = [];
  for (let i = 0; i < 12; i++) {
    const res = await fetch(publisher.resourceUrl, { method: 'PATCH', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ effect: i % 2 ? 'blur' : 'invert' }) });
    await res.arrayBuffer();
    statuses.push(res.status);
  }
  // A burst of twice the rate, then refusals (a refill of a token or two while the loop runs).
  assert.ok(statuses.slice(0, 4).every((s) => s === 200), JSON.stringify(statuses));
  assert.ok(statuses.filter((s) => s === 429).length >= 6, JSON.stringify(statuses));
  assert.equal((await fetch(publisher.resourceUrl)).status, 200, 'the session is still there');
  assert.ok((metricValue(await metricsText(base), 'app_rejected_total', { reason: 'rate_limited' }) ?? 0) >= 6);
});

test('a session\'s effect is priced per frame (MAX_FRAME_EFFECT_MS): a costly choice gets 422, its frames never reach a worker', async (t) => {
  const { base } = await listeningApp(t, { maxFrameEffectMs: 20, mediaWorkers: 0 });
  // Gaussian sigma 32 x 100 passes is seconds of compute on every 320x240 frame: the publisher asks
  // for it in the WHIP query (no frame size is known yet), and its frames are dropped on arrival.
  const publisher = await publish(t, `${base}/whip?effect=gaussian&sigma=32&iters=100`, { controlChannel: true });
  const told: string[] = [];
  publisher.peer.on('message', (_label, text) => told.push(text));
  const stop = publisher.startFrames(15, () => CARD);
  t.after(stop);
  await waitUntil('frames dropped as too costly', async () => (metricValue(await metricsText(base), 'app_frames_dropped_total', { reason: 'too_costly' }) ?? 0) >= 5, { timeoutMs: 10_000 });
  let metrics = await metricsText(base);
  assert.equal(metricValue(metrics, 'app_frames_processed_total', { effect: 'gaussian', device: 'cpu' }), 0, 'no costly frame reached a worker');
  await waitUntil('the publisher told why', () => told.length > 0, { timeoutMs: 5000 });
  assert.equal(JSON.parse(told[0]!).error, 'too_costly');
  assert.match(JSON.parse(told[0]!).detail, /320x240.*MAX_FRAME_EFFECT_MS/);
  assert.equal(told.filter((m) => /too_costly/.test(m)).length, 1, 'told once for the job and size');

  // An affordable effect is applied; choosing the costly one again, now at a known size, is a 422.
  const patch = (body: object) => fetch(publisher.resourceUrl, { method: 'PATCH', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  assert.equal((await patch({ effect: 'invert', iters: 1 })).status, 200);
  await waitUntil('invert frames processed', async () => (metricValue(await metricsText(base), 'app_frames_processed_total', { effect: 'invert', device: 'cpu' }) ?? 0) >= 3, { timeoutMs: 10_000 });
  const refused = await patch({ effect: 'gaussian', params: { sigma: 32 }, iters: 100 });
  assert.equal(refused.status, 422);
  const body = (await refused.json()) as { error: string; detail: string };
  assert.equal(body.error, 'too_costly');
  assert.match(body.detail, /MAX_FRAME_EFFECT_MS/);
  assert.equal(((await (await fetch(publisher.resourceUrl)).json()) as { effect: string }).effect, 'invert', 'the session keeps its effect');
  metrics = await metricsText(base);
  assert.ok((metricValue(metrics, 'app_rejected_total', { reason: 'cost' }) ?? 0) >= 1);
});

test('an offer with two video sections: only the first is received, the other is answered inactive', async (t) => {
  const { base } = await shared();
  const peer = new Peer({ iceServers: [], gatherTimeoutMs: 500, onListenerError: () => undefined });
  const output = new VideoOutput();
  t.after(() => {
    peer.close();
    output.close();
  });
  // A real offer, with its video section copied under a new mid (bundled, without the SSRCs).
  const offer = await peer.offer({ send: output, receive: true });
  const parts = offer.replace(/(\r\n)+$/, '').split(/\r\nm=/);
  const video = parts.find((p) => p.startsWith('video '))!;
  const mid = /a=mid:(\S+)/.exec(video)![1]!;
  const copy = video
    .replace(`a=mid:${mid}`, 'a=mid:extra')
    .split('\r\n')
    .filter((l) => !l.startsWith('a=ssrc') && !l.startsWith('a=msid'))
    .join('\r\n');
  const sdp = `${[...parts, copy].join('\r\nm=').replace(/a=group:BUNDLE ([^\r]*)/, (_m, group: string) => `a=group:BUNDLE ${group} extra`)}\r\n`;
  const res = await fetch(`${base}/whip`, { method: 'POST', headers: { 'content-type': 'application/sdp' }, body: sdp });
  const answer = await res.text();
  assert.equal(res.status, 201, answer);
  const sections = answer.split(/\r\nm=/).filter((s) => s.startsWith('video '));
  const direction = (s: string) => /^a=(sendrecv|sendonly|recvonly|inactive)\r?$/m.exec(s)?.[1];
  assert.deepEqual(sections.map(direction), ['sendrecv', 'inactive']);
  await fetch(res.headers.get('location')!.startsWith('http') ? res.headers.get('location')! : `${base}${res.headers.get('location')}`, { method: 'DELETE' });
});
