import assert from 'node:assert/strict';
import { test } from 'node:test';
import { WhepViewer, WhipHttpError, WhipPublisher } from '../../tools/rtc-load/client/whip.ts';
import { metricValue, testApp } from '../helpers.ts';
import { CARD, frameWhere, listeningApp, metricsText, publish, sharedListeningApp } from './support.ts';

/**
 * One listening app for the tests below but two: the MAX_SESSIONS test has its own (MAX_SESSIONS 1:
 * a session it leaves behind when it fails must not refuse the others), and so has the OPTIONS one
 * (its token would lock the others out). Each test reads the counters it checks from where it began.
 */
// No media lane: the HTTP side is under test; the trickle test's frames share the one worker.
const shared = sharedListeningApp({ mediaWorkers: 0 });

const sdpPost = (body: string, headers: Record<string, string> = {}) => ({
  method: 'POST' as const,
  url: '/whip?effect=grayscale',
  headers: { 'content-type': 'application/sdp', ...headers },
  payload: body,
});

test('MAX_SESSIONS: the next publisher gets 503 with Retry-After, and the refusal is counted', { timeout: 30_000 }, async (t) => {
  const { base } = await listeningApp(t, { maxSessions: 1, retryAfterSeconds: 7, mediaWorkers: 0 });
  const first = await publish(t, `${base}/whip?effect=grayscale`);
  const refused = await WhipPublisher.publish(`${base}/whip?effect=grayscale`).then(
    () => assert.fail('a second session was admitted'),
    (err: unknown) => err,
  );
  assert.ok(refused instanceof WhipHttpError);
  assert.equal(refused.status, 503);
  assert.match(refused.body, /MAX_SESSIONS/);

  const raw = await fetch(`${base}/whip`, { method: 'POST', headers: { 'content-type': 'application/sdp' }, body: validOffer });
  assert.equal(raw.status, 503);
  assert.equal(raw.headers.get('retry-after'), '7');
  const metrics = await metricsText(base);
  assert.equal(metricValue(metrics, 'app_webrtc_sessions_total', { outcome: 'rejected' }), 2);
  assert.equal(metricValue(metrics, 'app_rejected_total', { reason: 'sessions_full' }), 2);

  assert.equal(await first.close(), 200);
  const again = await publish(t, `${base}/whip?effect=grayscale`);
  assert.equal(await again.close(), 200);
});

test('a WHIP offer that sends no video is refused with 400, and counted as failed', { timeout: 30_000 }, async () => {
  const { base } = await shared();
  const failed = async () => metricValue(await metricsText(base), 'app_webrtc_sessions_total', { outcome: 'failed' }) ?? 0;
  const failedBefore = await failed();
  // A WHEP client's offer is receive-only.
  const err = await WhepViewer.view(`${base}/whip?effect=invert`).catch((e: unknown) => e);
  assert.ok(err instanceof WhipHttpError, String(err));
  assert.equal(err.status, 400);
  assert.match(err.body, /must send video/);
  assert.equal((await failed()) - failedBefore, 1);
  assert.equal(metricValue(await metricsText(base), 'app_webrtc_sessions_active'), 0);
});

test('bad requests: malformed SDP 400, wrong content type 415, unknown effect 422, unknown session 404', async () => {
  const { ctx: { app } } = await shared();

  const malformed = await app.inject(sdpPost('hello'));
  assert.equal(malformed.statusCode, 400);
  assert.equal(malformed.json().error, 'bad_request');
  const noVideo = await app.inject(sdpPost('v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\n'));
  assert.equal(noVideo.statusCode, 400);
  assert.match(noVideo.json().detail, /video/);

  for (const type of ['application/json', 'text/plain']) {
    const res = await app.inject({ method: 'POST', url: '/whip', headers: { 'content-type': type }, payload: type === 'text/plain' ? 'v=0' : '{}' });
    assert.equal(res.statusCode, 415, type);
  }
  assert.equal((await app.inject({ method: 'POST', url: '/whip' })).statusCode, 415);

  const unknownEffect = await app.inject({ ...sdpPost('v=0\r\n'), url: '/whip?effect=sepia' });
  assert.equal(unknownEffect.statusCode, 422);
  const outOfRange = await app.inject({ ...sdpPost('v=0\r\n'), url: '/whip?effect=gaussian&sigma=99' });
  assert.equal(outOfRange.statusCode, 422);
  assert.match(outOfRange.json().detail, /sigma/);

  const id = '00000000-0000-0000-0000-000000000000';
  for (const method of ['GET', 'DELETE'] as const) assert.equal((await app.inject({ method, url: `/whip/${id}` })).statusCode, 404, method);
  const patch = await app.inject({ method: 'PATCH', url: `/whip/${id}`, headers: { 'content-type': 'application/json' }, payload: '{"effect":"invert"}' });
  assert.equal(patch.statusCode, 404);
  assert.equal((await app.inject({ method: 'DELETE', url: `/whep/${id}/${id}` })).statusCode, 404);
});

test('OPTIONS lists ICE servers as Link headers; CORS only for allowed origins; bearer token', async (t) => {
  const { app } = await testApp(t, {
    iceServers: [
      { urls: ['stun:stun.example.net:3478'] },
      { urls: ['turn:turn.example.net:3478?transport=udp'], username: 'user', credential: 'se"cret' },
    ],
    corsOrigins: ['https://studio.example'],
    whipToken: 'tok3n',
  });

  const preflight = await app.inject({
    method: 'OPTIONS',
    url: '/whip',
    headers: { origin: 'https://studio.example', 'access-control-request-method': 'POST' },
  });
  assert.equal(preflight.statusCode, 204);
  assert.equal(preflight.headers['access-control-allow-origin'], 'https://studio.example');
  assert.match(String(preflight.headers['access-control-allow-methods']), /PATCH/);
  assert.match(String(preflight.headers['access-control-allow-headers']), /Authorization/);
  assert.match(String(preflight.headers['access-control-expose-headers']), /Location.*ETag.*Link/);
  assert.equal(preflight.headers.link, undefined, 'no TURN credentials without the token');

  const authorized = await app.inject({ method: 'OPTIONS', url: '/whip', headers: { authorization: 'Bearer tok3n' } });
  assert.equal(authorized.headers['accept-post'], 'application/sdp');
  assert.deepEqual(authorized.headers.link, [
    '<stun:stun.example.net:3478>; rel="ice-server"',
    '<turn:turn.example.net:3478?transport=udp>; rel="ice-server"; username="user"; credential="se\\"cret"; credential-type="password"',
  ]);

  const stranger = await app.inject({ method: 'OPTIONS', url: '/whip', headers: { origin: 'https://evil.example' } });
  assert.equal(stranger.headers['access-control-allow-origin'], undefined);

  const noToken = await app.inject({ ...sdpPost('v=0\r\n'), headers: { 'content-type': 'application/sdp', origin: 'https://studio.example' } });
  assert.equal(noToken.statusCode, 401);
  assert.equal(noToken.headers['www-authenticate'], 'Bearer');
  assert.equal(noToken.headers['access-control-allow-origin'], 'https://studio.example', 'errors carry CORS headers too');
  assert.equal((await app.inject(sdpPost('v=0\r\n', { authorization: 'Bearer wrong' }))).statusCode, 401);
  assert.equal((await app.inject(sdpPost('v=0\r\n', { authorization: 'Bearer tok3n' }))).statusCode, 400);
});

test('trickle ICE: candidates 204, stale If-Match 412, ICE restart 200 with a new fragment and ETag', { timeout: 30_000 }, async (t) => {
  const { base } = await shared();
  const publisher = await publish(t, `${base}/whip?effect=grayscale`);
  const stop = publisher.startFrames(20, () => CARD);
  t.after(stop);
  await frameWhere(publisher.peer, 'any frame', () => true);
  const patch = (body: string, headers: Record<string, string>) =>
    fetch(publisher.resourceUrl, { method: 'PATCH', headers: { 'content-type': 'application/trickle-ice-sdpfrag', ...headers }, body });

  const candidate = 'a=candidate:1 1 udp 2122260223 127.0.0.1 50000 typ host generation 0';
  const trickled = await patch(`a=mid:0\r\n${candidate}\r\na=end-of-candidates\r\n`, { 'if-match': publisher.etag! });
  assert.equal(trickled.status, 204, await trickled.text());
  assert.equal((await patch(`a=mid:0\r\n${candidate}\r\n`, { 'if-match': '"stale"' })).status, 412);
  assert.equal((await patch('this is not sdp', {})).status, 400);

  const restart = await patch('a=ice-ufrag:newU\r\na=ice-pwd:newpasswordnewpassword12\r\na=mid:0\r\n', { 'if-match': '*' });
  assert.equal(restart.status, 200);
  assert.equal(restart.headers.get('content-type'), 'application/trickle-ice-sdpfrag');
  const fragment = await restart.text();
  assert.match(fragment, /^a=ice-ufrag:\S+\r\na=ice-pwd:\S+\r\n/);
  assert.match(fragment, /a=candidate:.* typ host/);
  assert.notEqual(restart.headers.get('etag'), publisher.etag);
  stop();
});

// A real offer (the test only needs one that passes validation to reach admission).
const validOffer = [
  'v=0',
  'o=- 4611731400430051336 2 IN IP4 127.0.0.1',
  's=-',
  't=0 0',
  'a=group:BUNDLE 0',
  'm=video 9 UDP/TLS/RTP/SAVPF 96',
  'c=IN IP4 0.0.0.0',
  'a=ice-ufrag:abcd',
  'a=ice-pwd:abcdefghijklmnopqrstuvwx',
  'a=fingerprint:sha-256 00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF:00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF',
  'a=setup:actpass',
  'a=mid:0',
  'a=sendrecv',
  'a=rtcp-mux',
  'a=rtpmap:96 VP8/90000',
  '',
].join('\r\n');
