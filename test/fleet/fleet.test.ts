/**
 * Three replicas behind HAProxy round-robin: every call of a session, wherever it lands, reaches the
 * replica that owns the session. Real processes, real WebRTC (a Node publisher and headless Chromium),
 * a real balancer; the owner drains and a non-owner dies while a session runs; forged ids reach no one.
 */
import assert from 'node:assert/strict';
import net from 'node:net';
import { test } from 'node:test';
import type { Page } from 'playwright-core';
import { addressOfOwnerKey, mintSession, ownerKeyOf, publisherResourceId, watchPathOf } from '../../src/fleet/session-id.ts';
import { WhepViewer } from '../../tools/rtc-load/client/whip.ts';
import type { I420Frame } from '../../src/webrtc/peer-types.ts';
import { metricValue, sseText } from '../helpers.ts';
import { CARD, frameWhere, near, publish, u, v, y } from '../webrtc/support.ts';
import { haveHaproxy, startFleet, type Fleet, type Replica } from './haproxy-fleet.ts';
import { waitUntil } from '../wait.ts';
import { launchChromium } from '../browser.ts';
import { captionsAvailable } from '../../src/speech/availability.ts';
import { requireOrSkip } from '../tools.ts';

// VP8 at a few hundred kbit/s moves flat areas by a few levels.
const FLAT = 12;

const inverted = (f: I420Frame): boolean => near(y(f, 40, 120), 215, FLAT) && near(y(f, 280, 120), 55, FLAT);
const gray = (f: I420Frame): boolean => near(u(f, 20, 60), 128, 4) && near(v(f, 20, 60), 128, 4) && near(y(f, 40, 120), 40, FLAT);

const metricsOf = async (replica: Replica): Promise<string> => (await fetch(`${replica.url}/metrics`)).text();
const sumOver = async (replicas: readonly Replica[], name: string, labels: Record<string, string> = {}): Promise<number> =>
  (await Promise.all(replicas.map(async (r) => metricValue(await metricsOf(r), name, labels) ?? 0))).reduce((a, b) => a + b, 0);

/** The replica a session resource names as its owner. */
function ownerOf(fleet: Fleet, resourceUrl: string): Replica {
  const key = new URL(resourceUrl).pathname.split('/')[2]!.split('.')[0]!;
  const address = addressOfOwnerKey(key);
  const owner = fleet.replicas.find((r) => `127.0.0.1:${r.port}` === address);
  assert.ok(owner, `the id names a replica of the fleet (${address})`);
  return owner;
}

const FLEET_ENV = {
  // The shared test machine's load must not turn calls into 503s: routing is under test here.
  MAX_EVENT_LOOP_DELAY_MS: '0',
  MAX_EVENT_LOOP_UTILIZATION: '0',
  SLO_ADMISSION: 'false',
  SESSION_DRAIN_SECONDS: '30',
  SHUTDOWN_DELAY_SECONDS: '1',
  LOG_LEVEL: 'info',
};

test('three replicas behind HAProxy round-robin: every call reaches its session', { timeout: 360_000 }, async (t) => {
  if (!haveHaproxy(t)) return;
  const fleet = await startFleet({ replicas: 3, env: FLEET_ENV, spareSlots: 0 });
  t.after(() => fleet.close());

  await t.test('a Node publisher: mixed GET and PATCH, trickle ICE, a WHEP viewer and the DELETE, all through the balancer', async (t) => {
    const publisher = await publish(t, `${fleet.url}/whip?effect=invert`);
    const stop = publisher.startFrames(15, () => CARD);
    t.after(stop);
    await frameWhere(publisher.peer, 'inverted Y', inverted, 15_000);

    const forwardedBefore = await sumOver(fleet.replicas, 'app_forwarded_requests_total', { outcome: 'answered' });
    let expected = 'invert';
    for (let i = 0; i < 6; i++) {
      const stats = await fetch(publisher.resourceUrl);
      assert.equal(stats.status, 200, `GET ${i}: ${await stats.clone().text()}`);
      assert.equal(((await stats.json()) as { effect: string }).effect, expected, `GET ${i}`);
      expected = i % 2 === 0 ? 'grayscale' : 'invert';
      const patched = await fetch(publisher.resourceUrl, {
        method: 'PATCH',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ effect: expected }),
      });
      assert.equal(patched.status, 200, `PATCH ${i}: ${await patched.clone().text()}`);
      assert.equal(((await patched.json()) as { effect: string }).effect, expected);
      // The change is in the pixels that come back.
      await frameWhere(publisher.peer, expected, expected === 'grayscale' ? gray : inverted, 10_000);
    }
    const forwarded = (await sumOver(fleet.replicas, 'app_forwarded_requests_total', { outcome: 'answered' })) - forwardedBefore;
    assert.ok(forwarded >= 4, `round-robin sent calls to replicas that do not own the session (${forwarded} forwarded of 12)`);

    // Trickle ICE (RFC 9725 §4.3) with the session's ETag.
    const candidate = 'a=candidate:1 1 udp 2122260223 127.0.0.1 50000 typ host generation 0';
    for (let i = 0; i < 3; i++) {
      const trickle = await fetch(publisher.resourceUrl, {
        method: 'PATCH',
        headers: { 'content-type': 'application/trickle-ice-sdpfrag', 'if-match': publisher.etag! },
        body: `a=mid:0\r\n${candidate}\r\n`,
      });
      assert.equal(trickle.status, 204, await trickle.text());
    }

    // A viewer through the balancer, wherever its POST lands, watches the owner's output.
    const watchPath = watchPathOf(publisher.resourceUrl)!;
    const viewer = await WhepViewer.view(`${fleet.url}${watchPath}`);
    t.after(() => viewer.peer.close());
    await frameWhere(viewer.peer, 'inverted frames for the viewer', inverted, 15_000);
    assert.equal(await viewer.close(), 200);

    stop();
    assert.equal(await publisher.close(), 200);
    assert.equal((await fetch(publisher.resourceUrl)).status, 404);
    await waitUntil('every replica to report 0 sessions', async () => (await sumOver(fleet.replicas, 'app_webrtc_sessions_active')) === 0, { timeoutMs: 10_000 });
  });

  await t.test('headless Chromium publishes from the demo page through the balancer', async (t) => {
    const browser = await launchChromium(t);
    if (!browser) return;
    const page: Page = await browser.newPage();
    await page.goto(`${fleet.url}/`);
    await page.waitForSelector('#effect:not([disabled])', { timeout: 15_000 });
    await page.selectOption('#effect', 'grayscale');
    await page.click('#start');
    let sessionUrl = '';
    await waitUntil('the WHIP session to start', async () => (sessionUrl = String((await page.evaluate('document.body.dataset.session ?? ""')) as string)) !== '', { timeoutMs: 20_000 });
    assert.ok(sessionUrl.startsWith(`${fleet.url}/whip/`), sessionUrl);
    // The page's stats poll (GET through the balancer) shows the owner's frame latency.
    await waitUntil('server frame latency on the page', async () => /ms/.test(String(await page.evaluate(`document.getElementById('stat-latency').textContent`))), { timeoutMs: 20_000 });
    for (let i = 0; i < 4; i++) {
      const stats = await fetch(sessionUrl);
      assert.equal(stats.status, 200);
      assert.equal(((await stats.json()) as { effect: string }).effect, 'grayscale');
    }
    await page.click('#stop');
    await waitUntil('the browser session to end on its owner', async () => (await sumOver(fleet.replicas, 'app_webrtc_sessions_active')) === 0, { timeoutMs: 10_000 });
    assert.equal((await fetch(sessionUrl)).status, 404);
  });

  await t.test('forged ids naming non-members get 404 through the balancer; a listener there receives nothing', async (t) => {
    let connections = 0;
    const listener = net.createServer((socket) => {
      connections++;
      socket.destroy();
    });
    await new Promise<void>((resolve) => listener.listen(0, '127.0.0.1', resolve));
    t.after(() => listener.close());
    const owners = [`127.0.0.1:${(listener.address() as net.AddressInfo).port}`, '169.254.169.254:80', '127.0.0.1:22'];
    for (const owner of owners) {
      const { sessionId, publisherSecret } = mintSession(owner);
      for (let i = 0; i < 3; i++) {
        const get = await fetch(`${fleet.url}/whip/${publisherResourceId(sessionId, publisherSecret)}`);
        assert.equal(get.status, 404);
        assert.equal(((await get.json()) as { error: string }).error, 'session_gone');
        const view = await fetch(`${fleet.url}/whep/${sessionId}`, { method: 'POST', headers: { 'content-type': 'application/sdp' }, body: 'v=0\r\n' });
        assert.equal(view.status, 404);
      }
    }
    // A client's own hop header does not stop its call from reaching the owner's members either.
    const fake = await fetch(`${fleet.url}/whip/${ownerKeyOf(owners[0]!)}.x.y`, { headers: { 'x-rtc-scale-forwarded-by': owners[0]! } });
    assert.equal(fake.status, 404);
    assert.equal(connections, 0);
    assert.ok((await sumOver(fleet.replicas, 'app_forwarded_requests_total', { outcome: 'non_member' })) >= 18);
  });

  await t.test("a captioned session's SSE stream through the balancer and through each replica: the owner's stream, relayed; it ends with the session", async (t) => {
    const missing = requireOrSkip(captionsAvailable().available, 'PocketSphinx (libpocketsphinx3, pocketsphinx-en-us)', 'apt-get install libpocketsphinx3 pocketsphinx-en-us');
    if (missing !== false) return t.skip(missing);
    const publisher = await publish(t, `${fleet.url}/whip?iters=0&captions=en`, { audio: true });
    const owner = ownerOf(fleet, publisher.resourceUrl);
    const stats = await fetch(publisher.resourceUrl);
    assert.equal(stats.status, 200);
    const watchId = ((await stats.json()) as { watchUrl: string }).watchUrl.split('/').pop()!;
    const streamedBefore = await sumOver(fleet.replicas, 'app_forwarded_requests_total', { outcome: 'streamed' });
    // Three through the balancer (round-robin: most land on a non-owner), one straight to each replica.
    const urls = [
      ...[0, 1, 2].map(() => `${fleet.url}/whip/${watchId}/captions`),
      ...fleet.replicas.map((r) => `${r.url}/whip/${r === owner ? watchId : publisher.resourceUrl.split('/').pop()!}/captions`),
    ];
    const streams = urls.map((url) => sseText(url));
    t.after(() => streams.forEach((s) => s.abort()));
    for (const [i, stream] of streams.entries()) {
      const res = await stream.answer;
      assert.equal(res.status, 200, urls[i]);
      assert.equal(res.headers.get('content-type'), 'text/event-stream; charset=utf-8', urls[i]);
      assert.equal(res.headers.get('cache-control'), 'no-store', urls[i]);
      // The owner's opening: EventSource's reconnect delay, then the latest caption if there is one.
      await waitUntil(`the stream's opening from ${urls[i]}`, () => stream.text().startsWith('retry: 2000\n\n'), { detail: () => stream.text() });
    }
    const streamed = (await sumOver(fleet.replicas, 'app_forwarded_requests_total', { outcome: 'streamed' })) - streamedBefore;
    assert.ok(streamed >= 3 && streamed <= 5, `the two non-owners relayed their direct streams and those the balancer gave them (${streamed})`);

    // An unknown session of a member: the owner's 404, relayed; an id naming no member: 404 without a connection.
    const unknown = mintSession(`127.0.0.1:${owner.port}`);
    const missingSession = await fetch(`${fleet.url}/whip/${unknown.sessionId}/captions`);
    assert.equal(missingSession.status, 404);
    const listener = net.createServer((socket) => socket.destroy());
    let connections = 0;
    listener.on('connection', () => connections++);
    await new Promise<void>((resolve) => listener.listen(0, '127.0.0.1', resolve));
    t.after(() => listener.close());
    const forged = mintSession(`127.0.0.1:${(listener.address() as net.AddressInfo).port}`);
    const refused = await fetch(`${fleet.url}/whip/${forged.sessionId}/captions`);
    assert.equal(refused.status, 404);
    assert.equal(((await refused.json()) as { error: string }).error, 'session_gone');
    assert.equal(connections, 0);

    assert.equal(await publisher.close(), 200);
    for (const [i, stream] of streams.entries()) {
      await waitUntil(`the stream from ${urls[i]} to end with the session`, () => stream.ended(), { timeoutMs: 15_000 });
      assert.ok(stream.text().endsWith('event: end\ndata: {"reason":"session_ended"}\n\n'), `${urls[i]}: ${stream.text()}`);
    }
  });

  await t.test('killing a non-owner does not disturb the session; the owner, draining after SIGTERM, keeps answering', async (t) => {
    const publisher = await publish(t, `${fleet.url}/whip?effect=invert`);
    const stop = publisher.startFrames(15, () => CARD);
    t.after(stop);
    await frameWhere(publisher.peer, 'inverted Y', inverted, 15_000);
    const owner = ownerOf(fleet, publisher.resourceUrl);
    const others = fleet.replicas.filter((r) => r !== owner);

    assert.equal(await others[0]!.stop('SIGKILL'), 'SIGKILL');
    for (let i = 0; i < 6; i++) assert.equal((await fetch(publisher.resourceUrl)).status, 200, `GET ${i} after a non-owner died`);
    await frameWhere(publisher.peer, 'frames still flowing', inverted, 5000);

    // SIGTERM: the owner fails readiness (HAProxy stops sending it calls), but the session runs on
    // until it ends; its calls reach it through the surviving replica.
    owner.child.kill('SIGTERM');
    await waitUntil('the owner to fail readiness', async () => (await fetch(`${owner.url}/readyz`)).status === 503, { timeoutMs: 5000 });
    const forwardedBefore = metricValue(await metricsOf(others[1]!), 'app_forwarded_requests_total', { outcome: 'answered' }) ?? 0;
    for (let i = 0; i < 6; i++) {
      assert.equal((await fetch(publisher.resourceUrl)).status, 200, `GET ${i} while the owner drains`);
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    const patched = await fetch(publisher.resourceUrl, { method: 'PATCH', headers: { 'content-type': 'application/json' }, body: '{"effect":"grayscale"}' });
    assert.equal(patched.status, 200);
    await frameWhere(publisher.peer, 'grayscale from the draining owner', gray, 10_000);
    const forwarded = (metricValue(await metricsOf(others[1]!), 'app_forwarded_requests_total', { outcome: 'answered' }) ?? 0) - forwardedBefore;
    assert.ok(forwarded >= 1, 'the surviving replica forwarded calls to the draining owner');
    assert.equal(owner.child.exitCode, null, 'the owner is still there while its session runs');

    stop();
    assert.equal(await publisher.close(), 200);
    // Its last session ended: the owner finishes its shutdown.
    assert.equal(await owner.exited, 0);
    // Its ids now name a replica that is gone: a clear 404.
    const gone = await fetch(publisher.resourceUrl);
    assert.equal(gone.status, 404);
    assert.equal(((await gone.json()) as { error: string }).error, 'session_gone');
  });
});
