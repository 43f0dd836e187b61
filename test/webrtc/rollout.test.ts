/**
 * Calls survive a pod going away (a rollout, a scale-down): at SIGTERM the pod tells its publishers
 * on the control channel to publish again, they do through the balancer, which sends them to a pod
 * that stays, and the video comes back after a short gap. Real replicas behind HAProxy (as behind a
 * Kubernetes Service), rtc-load's WebRTC publishers as the callers.
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { test, type TestContext } from 'node:test';
import { haveHaproxy, startFleet } from '../fleet/haproxy-fleet.ts';
import { metricValue } from '../helpers.ts';
import { runRtcLoad, parseReport } from '../load/fixtures.ts';
import { waitUntil } from '../wait.ts';
import { listeningApp, publish } from './support.ts';
import { launchChromium } from '../browser.ts';

/** Where `kubectl proxy` serves the gpu-media Service: each request goes through the API server to one of its pods. */
const API_PROXY_PREFIX = '/api/v1/namespaces/rtc/services/gpu-media:http/proxy';

/**
 * `kubectl proxy` and the API server's service proxy, as the presenter's browser meets them: the
 * service under API_PROXY_PREFIX, each request passed on to `target` (the balancer) without it.
 */
async function apiServerProxy(t: TestContext, target: string): Promise<string> {
  const server = http.createServer((request, response) => {
    const path = request.url ?? '/';
    if (!path.startsWith(`${API_PROXY_PREFIX}/`)) return void response.writeHead(404).end();
    const upstream = http.request(`${target}${path.slice(API_PROXY_PREFIX.length)}`, { method: request.method, headers: request.headers }, (answer) => {
      response.writeHead(answer.statusCode ?? 502, answer.headers);
      answer.pipe(response);
    });
    upstream.on('error', () => response.writeHead(502).end());
    request.pipe(upstream);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => new Promise((resolve) => server.close(resolve)));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

test('draining: every publisher hears {type: "drain", seconds, detail} on its control channel', { timeout: 60_000 }, async (t) => {
  const { ctx, base } = await listeningApp(t);
  const publisher = await publish(t, `${base}/whip?effect=invert`, { controlChannel: true });
  const messages: string[] = [];
  publisher.peer.on('message', (_label, text) => messages.push(text));
  // The channel is open both ways once an effect change is answered on it.
  await waitUntil(
    'the control channel to answer',
    () => {
      publisher.peer.sendMessage('control', JSON.stringify({ effect: 'grayscale' }));
      return messages.some((m) => (JSON.parse(m) as { type: string }).type === 'effect');
    },
    { timeoutMs: 20_000, intervalMs: 250 },
  );
  ctx.sessions.announceDrain(7);
  const notice = await waitUntil('the drain notice', () => messages.map((m) => JSON.parse(m) as { type: string; seconds?: number; detail?: string }).find((m) => m.type === 'drain'), { timeoutMs: 5_000 });
  assert.equal(notice.seconds, 7);
  assert.match(notice.detail ?? '', /publish again .*POST the WHIP endpoint/);
});

test('a replica drains: its calls move to the other one through the balancer, the video back within 2 s (rtc-load, then the demo page)', { timeout: 420_000 }, async (t) => {
  if (!haveHaproxy(t)) return;
  const fleet = await startFleet({
    replicas: 2,
    // The demo page's turn: a replica takes the drained one's place.
    spareSlots: 1,
    env: {
      // The shared test machine's load must not refuse calls: the move is under test.
      MAX_EVENT_LOOP_DELAY_MS: '0',
      MAX_EVENT_LOOP_UTILIZATION: '0',
      SLO_ADMISSION: 'false',
      MAX_SESSIONS_PER_CLIENT: '8',
      SHUTDOWN_DELAY_SECONDS: '1',
      SESSION_DRAIN_SECONDS: '30',
      // The fleet knows a replica is up from its "listening" line.
      LOG_LEVEL: 'info',
    },
  });
  t.after(() => fleet.close());
  const [first, second] = fleet.replicas;
  assert.ok(first && second);
  const sessionsOn = async (url: string): Promise<number> => metricValue(await (await fetch(`${url}/metrics`)).text(), 'app_webrtc_sessions_active') ?? 0;

  // Two callers through the balancer (round-robin: one on each replica), for long enough to move (the move
  // takes a second or two from the start; after it the moved call runs on for its gap to be measured).
  const run = runRtcLoad(['webrtc', `${fleet.url}/whip?effect=invert`, '--sessions', '2', '--resolution', '320x240', '--fps', '15', '--duration', '8s', '--json'], 120_000);
  await waitUntil('a call on the first replica', async () => (await sessionsOn(first.url)) >= 1, { timeoutMs: 60_000, intervalMs: 250, untilNoError: true });
  const stopped = first.stop('SIGTERM');

  // The drained replica exits by itself, early: its last session was DELETEd by the publisher that
  // moved, well before SESSION_DRAIN_SECONDS; the moved call runs on the replica that stays.
  const code = await stopped;
  assert.equal(code, 0, first.logs.join(''));
  let onSecond = -1;
  await waitUntil('both calls on the replica that stays', async () => (onSecond = await sessionsOn(second.url)) === 2, {
    timeoutMs: 20_000,
    intervalMs: 250,
    detail: () => `${onSecond} there\n${second.logs.join('').slice(-3000)}`,
  });

  // The demo page's turn is prepared while the rtc-load run ends (the moves are done: the new replica
  // gets no call of that run).
  const preparing = Promise.all([fleet.addReplica(), launchChromium(t)]);
  const result = await run;
  assert.equal(result.code, 0, result.stderr);
  const report = parseReport(result) as unknown as {
    sessions: { established: number; failed: number; withFrames: number };
    moves: { notices: number; moved: number; failed: number; gapMs: { p50: number; max: number } | null };
    perSession: { moveGapsMs?: (number | null)[]; fps: number }[];
  };
  assert.equal(report.sessions.established, 2);
  assert.equal(report.sessions.failed, 0);
  assert.ok(report.moves.notices >= 1, JSON.stringify(report.moves));
  assert.equal(report.moves.moved, report.moves.notices, 'every notice was followed by a move');
  assert.equal(report.moves.failed, 0);
  assert.ok(report.moves.gapMs, 'the video came back after the move');
  assert.ok(report.moves.gapMs.max < 2000, `gap ${report.moves.gapMs.max} ms`);
  t.diagnostic(`move gap: p50 ${report.moves.gapMs.p50} ms, max ${report.moves.gapMs.max} ms (${report.moves.moved} moves)`);

  // The demo page in a browser, as the presenter opens it: through `kubectl proxy` (a path prefix)
  // to the Service (the balancer); a third replica has taken the first's place.
  const [third, browser] = await preparing;
  if (!browser) return;
  const page = await browser.newPage();
  const pageErrors: string[] = [];
  page.on('pageerror', (err) => pageErrors.push(err.message));
  await page.goto(`${await apiServerProxy(t, fleet.url)}${API_PROXY_PREFIX}/`);
  await page.waitForSelector('#start:not([disabled])', { timeout: 30_000 });
  // The move is under test, not the effect: a frame-by-frame one (the default, background blur, makes the new
  // pod's first frames wait for its person detector, which finds nobody in Chromium's fake camera).
  await page.selectOption('#effect', 'invert');
  await page.click('#start');
  await waitUntil('the page\'s call to start', async () => (await page.evaluate('document.body.dataset.session')) !== undefined, { timeoutMs: 30_000, intervalMs: 200 });
  const owner = await waitUntil(
    'the replica holding the page\'s call',
    async () => {
      const counts = await Promise.all([second, third].map((r) => sessionsOn(r.url)));
      // The rtc-load run has ended: the page's call is the only one.
      return counts[0] === 1 && counts[1] === 0 ? second : counts[0] === 0 && counts[1] === 1 ? third : undefined;
    },
    { timeoutMs: 30_000, intervalMs: 250, untilNoError: true },
  );
  const stays = owner === second ? third : second;
  const before = await page.evaluate('document.body.dataset.session');
  assert.equal(await owner.stop('SIGTERM'), 0, owner.logs.join(''));
  // Make before break: the old call's video plays on until the new call's first frame is decoded.
  const gapMs = Number(await waitUntil('the page to move its call', () => page.evaluate('document.body.dataset.moves === "1" && document.body.dataset.moveGapMs'), { timeoutMs: 40_000, intervalMs: 200 }));
  assert.notEqual(await page.evaluate('document.body.dataset.session'), before, 'a new session');
  assert.equal(await sessionsOn(stays.url), 1, 'on the replica that stays');
  const switchMs = Number(await page.evaluate('document.body.dataset.moveSwitchMs'));
  assert.ok(gapMs < 2000, `the page's video paused ${gapMs} ms at the switch (${switchMs} ms after the notice)`);
  assert.match(String(await page.evaluate(`document.getElementById('status').textContent`)), /Moved to another pod/);
  assert.deepEqual(pageErrors, []);
  t.diagnostic(`demo page: switched ${switchMs} ms after the drain notice, video paused ${gapMs} ms`);
  // The page hangs up (DELETE) before the fleet's replicas are stopped: else the last one drains the call for the whole grace period.
  await page.click('#stop');
  await waitUntil('the page\'s call to end', async () => (await sessionsOn(stays.url)) === 0, { timeoutMs: 10_000, intervalMs: 100 });
});
