import assert from 'node:assert/strict';
import { test } from 'node:test';
import { WhepViewer } from '../../tools/rtc-load/client/index.ts';
import type { SessionStats } from '../../src/webrtc/publisher-session.ts';
import { metricValue } from '../helpers.ts';
import { CARD, eventually, frameWhere, listeningApp, metricsText, near, publish, u, v, y } from './support.ts';

// VP8 at a few hundred kbit/s moves flat areas by a few levels and smears hard edges a little.
const FLAT = 12;

test('a Node publisher gets its video back processed, and can change the effect mid-session', { timeout: 60_000 }, async (t) => {
  const { ctx, base } = await listeningApp(t);
  const publisher = await publish(t, `${base}/whip?effect=invert`, { controlChannel: true });
  assert.match(publisher.resourceUrl, /\/whip\/[0-9a-f-]{36}$/);
  assert.match(publisher.etag ?? '', /^".+"$/);
  const stop = publisher.startFrames(20, () => CARD);
  t.after(stop);

  // invert (from the query): Y' = 255 - Y in the flat halves, chroma mirrored around 128.
  const inverted = await frameWhere(publisher.peer, 'inverted Y', (f) => near(y(f, 40, 120), 215, FLAT) && near(y(f, 280, 120), 55, FLAT));
  assert.ok(near(u(inverted, 20, 60), 255 - 90, FLAT), `U ${u(inverted, 20, 60)}`);
  assert.ok(near(v(inverted, 20, 60), 255 - 170, FLAT), `V ${v(inverted, 20, 60)}`);
  assert.equal(metricValue(await metricsText(base), 'app_webrtc_sessions_active'), 1);

  // grayscale (JSON PATCH): Y kept, chroma neutral.
  const patched = await fetch(publisher.resourceUrl, {
    method: 'PATCH',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ effect: 'grayscale' }),
  });
  assert.equal(patched.status, 200);
  assert.deepEqual(await patched.json(), { effect: 'grayscale', params: {}, iters: 1 });
  const gray = await frameWhere(publisher.peer, 'neutral chroma', (f) => near(u(f, 20, 60), 128, 4) && near(v(f, 20, 60), 128, 4));
  assert.ok(near(y(gray, 40, 120), 40, FLAT) && near(y(gray, 280, 120), 200, FLAT), `Y ${y(gray, 40, 120)}/${y(gray, 280, 120)}`);

  // iters=0 (data channel): the decoded frame goes back untouched; the edge stays hard.
  const replies: string[] = [];
  publisher.peer.on('message', (_label, text) => replies.push(text));
  assert.ok(publisher.peer.sendMessage('control', JSON.stringify({ effect: 'blur', iters: 0 })));
  const bypass = await frameWhere(publisher.peer, 'original colours', (f) => near(u(f, 20, 60), 90, FLAT) && near(y(f, 40, 120), 40, FLAT));
  await eventually('a control reply', () => replies.length > 0);
  assert.deepEqual(JSON.parse(replies[0]!), { type: 'effect', effect: 'blur', params: {}, iters: 0 });
  const sharpStep = y(bypass, 160, 120) - y(bypass, 157, 120);

  // blur: the same edge gets intermediate values next to it.
  assert.ok(publisher.peer.sendMessage('control', JSON.stringify({ iters: 3 })));
  const blurred = await frameWhere(publisher.peer, 'a softened edge', (f) => y(f, 159, 120) > 70 && y(f, 160, 120) < 170 && near(y(f, 40, 120), 40, FLAT));
  const softStep = y(blurred, 160, 120) - y(blurred, 157, 120);
  assert.ok(softStep < sharpStep - 30, `blur should soften the edge: step ${softStep} vs ${sharpStep} without`);

  // A bad control message is answered on the channel and changes nothing.
  assert.ok(publisher.peer.sendMessage('control', JSON.stringify({ effect: 'sepia' })));
  await eventually('an error reply', () => replies.some((r) => JSON.parse(r).type === 'error'));

  const stats = (await (await fetch(publisher.resourceUrl)).json()) as SessionStats;
  assert.equal(stats.effect, 'blur');
  assert.equal(stats.iters, 3);
  assert.equal(stats.state, 'connected');
  assert.ok(stats.framesProcessed >= 4 && stats.framesReceived >= stats.framesProcessed, `frames ${stats.framesReceived} in, ${stats.framesProcessed} processed`);
  assert.equal(typeof stats.frameLatencyP95Ms, 'number');

  const metrics = await metricsText(base);
  assert.ok((metricValue(metrics, 'app_frame_latency_seconds_count') ?? 0) > 0);
  assert.ok(ctx.sessions.frameWindow.count() > 0);

  stop();
  assert.equal(await publisher.close(), 200);
  const after = await metricsText(base);
  assert.equal(metricValue(after, 'app_webrtc_sessions_active'), 0);
  assert.equal(metricValue(after, 'app_webrtc_sessions_total', { outcome: 'closed' }), 1);
  assert.equal((await fetch(publisher.resourceUrl, { method: 'DELETE' })).status, 404);
});

test('a WHEP viewer watches the processed output of a session', { timeout: 60_000 }, async (t) => {
  const { base } = await listeningApp(t);
  const publisher = await publish(t, `${base}/whip?effect=invert`);
  const stop = publisher.startFrames(20, () => CARD);
  t.after(stop);
  const sessionId = publisher.resourceUrl.split('/').pop()!;

  const viewer = await WhepViewer.view(`${base}/whep/${sessionId}`);
  t.after(() => viewer.peer.close());
  assert.match(viewer.resourceUrl, new RegExp(`/whep/${sessionId}/[0-9a-f-]{36}$`));
  await frameWhere(viewer.peer, 'inverted Y', (f) => near(y(f, 40, 120), 215, FLAT) && near(y(f, 280, 120), 55, FLAT));
  assert.equal(((await (await fetch(publisher.resourceUrl)).json()) as SessionStats).viewers, 1);

  assert.equal(await viewer.close(), 200);
  await eventually('the viewer to be gone', async () => ((await (await fetch(publisher.resourceUrl)).json()) as SessionStats).viewers === 0);
  assert.equal((await fetch(viewer.resourceUrl, { method: 'DELETE' })).status, 404);
  // Viewers never see an unknown session.
  const orphan = await fetch(`${base}/whep/00000000-0000-0000-0000-000000000000`, {
    method: 'POST',
    headers: { 'content-type': 'application/sdp' },
    body: 'v=0\r\n',
  });
  assert.equal(orphan.status, 404);

  stop();
  assert.equal(await publisher.close(), 200);
});
