import assert from 'node:assert/strict';
import { test } from 'node:test';
import { WhepViewer } from '../../tools/rtc-load/client/whip.ts';
import type { SessionStats } from '../../src/webrtc/publisher-session.ts';
import { watchPathOf } from '../../src/fleet/session-id.ts';
import { metricValue } from '../helpers.ts';
import { CARD, frameWhere, listeningApp, metricsText, near, publish, u, v, y } from './support.ts';
import { waitUntil } from '../wait.ts';

// VP8 at a few hundred kbit/s moves flat areas by a few levels and smears hard edges a little.
const FLAT = 12;

test('a Node publisher gets its video back processed, and can change the effect mid-session', { timeout: 60_000 }, async (t) => {
  const { ctx, base } = await listeningApp(t);
  const publisher = await publish(t, `${base}/whip?effect=invert`, { controlChannel: true });
  // /whip/<ownerKey>.<sessionRand>.<publisherSecret>
  assert.match(publisher.resourceUrl, /\/whip\/[\w-]+\.[\w-]{22}\.[\w-]{43}$/);
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
  await waitUntil('a control reply', () => replies.length > 0);
  assert.deepEqual(JSON.parse(replies[0]!), { type: 'effect', effect: 'blur', params: {}, iters: 0 });
  const sharpStep = y(bypass, 160, 120) - y(bypass, 157, 120);

  // blur: the same edge gets intermediate values next to it.
  assert.ok(publisher.peer.sendMessage('control', JSON.stringify({ iters: 3 })));
  const blurred = await frameWhere(publisher.peer, 'a softened edge', (f) => y(f, 159, 120) > 70 && y(f, 160, 120) < 170 && near(y(f, 40, 120), 40, FLAT));
  const softStep = y(blurred, 160, 120) - y(blurred, 157, 120);
  assert.ok(softStep < sharpStep - 30, `blur should soften the edge: step ${softStep} vs ${sharpStep} without`);

  // A bad control message is answered on the channel and changes nothing.
  assert.ok(publisher.peer.sendMessage('control', JSON.stringify({ effect: 'sepia' })));
  await waitUntil('an error reply', () => replies.some((r) => JSON.parse(r).type === 'error'));

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
  // Ids and authority are under test, not the pressure guard (a loaded machine trips it), nor the
  // media lane (the test above has it): frames share the one worker.
  const { base } = await listeningApp(t, { maxEventLoopDelayMs: 0, maxEventLoopUtilization: 0, mediaWorkers: 0 });
  const publisher = await publish(t, `${base}/whip?effect=invert`);
  const stop = publisher.startFrames(20, () => CARD);
  t.after(stop);
  const watchPath = watchPathOf(publisher.resourceUrl)!;
  const sessionStats = (await (await fetch(publisher.resourceUrl)).json()) as SessionStats & { watchUrl: string };
  assert.equal(sessionStats.watchUrl, watchPath, 'the publisher learns the watch URL it may share');
  const publisherSecret = publisher.resourceUrl.split('.').pop()!;

  // The publisher's own id is not a watch id: whoever has the watch URL must not learn the secret from it.
  const withSecret = await fetch(`${base}/whep/${publisher.resourceUrl.split('/').pop()}`, {
    method: 'POST',
    headers: { 'content-type': 'application/sdp' },
    body: 'v=0\r\n',
  });
  assert.equal(withSecret.status, 404);

  const viewer = await WhepViewer.view(`${base}${watchPath}`);
  t.after(() => viewer.peer.close());
  assert.match(viewer.resourceUrl, new RegExp(`${watchPath}/[\\w-]{22}\\.[\\w-]{43}$`));
  assert.ok(!viewer.resourceUrl.includes(publisherSecret), 'a viewer never sees the publisher secret');
  await frameWhere(viewer.peer, 'inverted Y', (f) => near(y(f, 40, 120), 215, FLAT) && near(y(f, 280, 120), 55, FLAT));
  assert.equal(((await (await fetch(publisher.resourceUrl)).json()) as SessionStats).viewers, 1);

  // A viewer can only watch and leave: the watch id and its own id open no publisher resource, and a
  // guessed secret (same length) is refused like an unknown session.
  const sessionId = watchPath.split('/').pop()!;
  const viewerSecret = viewer.resourceUrl.split('.').pop()!;
  for (const id of [sessionId, `${sessionId}.${viewerSecret}`, `${sessionId}.${'A'.repeat(43)}`]) {
    for (const method of ['GET', 'DELETE'] as const) assert.equal((await fetch(`${base}/whip/${id}`, { method })).status, 404, `${method} /whip/${id}`);
    const patch = await fetch(`${base}/whip/${id}`, { method: 'PATCH', headers: { 'content-type': 'application/json' }, body: '{"effect":"grayscale"}' });
    assert.equal(patch.status, 404);
  }
  // Nor another viewer's resource with a wrong secret.
  const forgedViewer = viewer.resourceUrl.replace(/\.[\w-]{43}$/, `.${'B'.repeat(43)}`);
  assert.equal((await fetch(forgedViewer, { method: 'DELETE' })).status, 404);
  assert.equal(((await (await fetch(publisher.resourceUrl)).json()) as SessionStats).viewers, 1, 'the viewer is still there');

  assert.equal(await viewer.close(), 200);
  await waitUntil('the viewer to be gone', async () => ((await (await fetch(publisher.resourceUrl)).json()) as SessionStats).viewers === 0);
  assert.equal((await fetch(viewer.resourceUrl, { method: 'DELETE' })).status, 404);
  stop();
  // Viewers never see an unknown session.
  const orphan = await fetch(`${base}/whep/${sessionId.split('.')[0]}.AAAAAAAAAAAAAAAAAAAAAA`, {
    method: 'POST',
    headers: { 'content-type': 'application/sdp' },
    body: 'v=0\r\n',
  });
  assert.equal(orphan.status, 404, await orphan.clone().text());
  assert.equal(await publisher.close(), 200);
});
