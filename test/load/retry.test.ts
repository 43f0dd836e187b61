import assert from 'node:assert/strict';
import test from 'node:test';
import fc from 'fast-check';
import { AdaptiveThrottle, THROTTLE_WINDOW_SECONDS } from '../../tools/rtc-load/core/adaptive-throttle.ts';
import { isRefusal, jitteredDelayMs, parseRetryAfterSeconds } from '../../tools/rtc-load/core/retry.ts';
import { parseReport, runRtcLoad, startServer } from './fixtures.ts';

test('Retry-After: delay-seconds or an HTTP-date; anything else is unreadable', () => {
  const nowMs = Date.parse('Sun, 06 Dec 2026 12:00:00 GMT');
  assert.equal(parseRetryAfterSeconds('1', nowMs), 1);
  assert.equal(parseRetryAfterSeconds(' 120 ', nowMs), 120);
  assert.equal(parseRetryAfterSeconds('0', nowMs), 0);
  assert.equal(parseRetryAfterSeconds('Sun, 06 Dec 2026 12:00:30 GMT', nowMs), 30);
  assert.equal(parseRetryAfterSeconds('Sun, 06 Dec 2026 11:00:00 GMT', nowMs), 0, 'a date in the past: no wait');
  for (const bad of ['', 'soon', '-1', '1.5', '5s']) assert.equal(parseRetryAfterSeconds(bad, nowMs), undefined, bad);
  assert.deepEqual([503, 429, 500, 502, 200, 404].map(isRefusal), [true, true, false, false, false, false]);
});

test('jitter: Retry-After × uniform[1 − j, 1 + j], both ends reached', () => {
  assert.equal(jitteredDelayMs(2, 0.5, () => 0), 1000);
  assert.equal(jitteredDelayMs(2, 0.5, () => 0.5), 2000);
  assert.ok(Math.abs(jitteredDelayMs(2, 0.5, () => 0.999999) - 3000) < 0.01);
  assert.equal(jitteredDelayMs(1, 0, () => 0.3), 1000, 'no jitter: exactly Retry-After');
  fc.assert(
    fc.property(fc.integer({ min: 0, max: 3600 }), fc.double({ min: 0, max: 1, noNaN: true }), fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }), (seconds, jitter, u) => {
      const delayMs = jitteredDelayMs(seconds, jitter, () => u);
      assert.ok(delayMs >= seconds * 1000 * (1 - jitter) - 1e-6 && delayMs <= seconds * 1000 * (1 + jitter) + 1e-6, `${seconds} s, j ${jitter}: ${delayMs}`);
    }),
  );
});

test('adaptive throttle: p = max(0, (requests − K·accepts) / (requests + 1)) over the last two minutes', () => {
  const never = (): number => 0.999999;
  const throttle = new AdaptiveThrottle(2, never);
  assert.equal(throttle.rejectProbability(0), 0);
  // 100 attempts, all accepted: nothing rejected.
  for (let i = 0; i < 100; i++) {
    assert.equal(throttle.shouldReject(i * 10), false);
    throttle.accepted(i * 10 + 5);
  }
  assert.equal(throttle.rejectProbability(1000), 0);
  // 100 more attempts, none accepted: 200 requests, 100 accepts → (200 − 200) / 201 = 0 with K = 2 ...
  for (let i = 0; i < 100; i++) throttle.shouldReject(1000 + i);
  assert.equal(throttle.rejectProbability(1100), 0);
  // ... and 100 more: (300 − 200) / 301.
  for (let i = 0; i < 100; i++) throttle.shouldReject(1100 + i);
  assert.ok(Math.abs(throttle.rejectProbability(1200) - 100 / 301) < 1e-12);
  // K = 1.5 on the same history is stricter: (300 − 150) / 301.
  const strict = new AdaptiveThrottle(1.5, never);
  for (let i = 0; i < 300; i++) {
    strict.shouldReject(i);
    if (i < 100) strict.accepted(i);
  }
  assert.ok(Math.abs(strict.rejectProbability(300) - 150 / 301) < 1e-12);
  // Two minutes later the history has left the window.
  assert.equal(throttle.rejectProbability(1200 + THROTTLE_WINDOW_SECONDS * 1000), 0);
  const justBefore = new AdaptiveThrottle(2, never);
  for (let i = 0; i < 10; i++) justBefore.shouldReject(0);
  assert.ok(justBefore.rejectProbability((THROTTLE_WINDOW_SECONDS - 1) * 1000) > 0, 'still inside the window');
  assert.equal(justBefore.rejectProbability(THROTTLE_WINDOW_SECONDS * 1000), 0, 'out of it');
});

test('adaptive throttle: rejects with that probability; the backend then sees about K times what it accepts', () => {
  let seed = 42;
  const random = (): number => {
    seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31;
    return seed / 2 ** 31;
  };
  // A backend that accepts nothing: p = n / (n + 1) after n attempts (throttled ones count), so
  // rejections soon dominate.
  const none = new AdaptiveThrottle(2, random);
  let rejected = 0;
  for (let i = 0; i < 1000; i++) if (none.shouldReject(i)) rejected += 1;
  assert.ok(rejected > 980, `rejected ${rejected} of 1000`);

  // A backend that accepts three in four: K = 2 tolerates up to half refused, so hardly anything is throttled.
  const most = new AdaptiveThrottle(2, random);
  let sent = 0;
  for (let i = 0; i < 20_000; i++) {
    if (most.shouldReject(i)) continue;
    sent += 1;
    if (sent % 4 !== 0) most.accepted(i);
  }
  assert.ok(sent > 19_000, `sent ${sent} of 20,000`);

  // 100 attempts a second against a backend that accepts 20 a second: after the window fills,
  // the client sends about K × 20 = 40 a second and rejects the rest itself.
  const limited = new AdaptiveThrottle(2, random);
  let lateSent = 0;
  let acceptedThisSecond = 0;
  let second = -1;
  for (let tMs = 0; tMs < 600_000; tMs += 10) {
    if (Math.floor(tMs / 1000) !== second) {
      second = Math.floor(tMs / 1000);
      acceptedThisSecond = 0;
    }
    if (limited.shouldReject(tMs)) continue;
    if (acceptedThisSecond < 20) {
      acceptedThisSecond += 1;
      limited.accepted(tMs);
    }
    if (tMs >= 480_000) lateSent += 1;
  }
  const sentPerSecond = lateSent / 120;
  assert.ok(sentPerSecond > 32 && sentPerSecond < 48, `sent ${sentPerSecond.toFixed(1)}/s against 20/s accepted`);
});

/** A server that refuses everything with `Retry-After: 1`; it notes when each request arrived. */
async function refusingServer() {
  const arrivalsMs: number[] = [];
  const server = await startServer((_request, response) => {
    arrivalsMs.push(performance.now());
    response.statusCode = 503;
    response.setHeader('retry-after', '1');
    response.setHeader('content-type', 'application/json');
    response.end('{"error":"overloaded"}');
  });
  return { server, arrivalsMs };
}

test('polite clients wait Retry-After × [0.5, 1.5] between attempts; the storm does not wait', { timeout: 60_000 }, async (t) => {
  const { server, arrivalsMs } = await refusingServer();
  t.after(() => server.close());
  const clients = 4;
  const polite = parseReport(await runRtcLoad([`${server.baseUrl}/`, '-c', String(clients), '--duration', '3s', '--json']));
  const sorted = [...arrivalsMs].sort((a, b) => a - b);
  t.diagnostic(`polite: ${sorted.length} requests at ${sorted.map((ms) => Math.round(ms - (sorted[0] ?? 0))).join(' ')} ms`);
  assert.deepEqual(polite.clients, { retry: 'retry-after', retryAfterJitter: 0.5 });
  assert.equal(polite.offered, sorted.length, 'offered is what the server received');
  assert.equal(polite.refused, polite.offered);
  assert.equal(polite.served, 0);
  assert.deepEqual(polite.errors, {});
  // Each client waits at least 0.5 s after each refusal, so among any clients + 1 consecutive
  // arrivals two are one client's, at least 0.5 s apart. A busy machine only spreads them more.
  for (let i = 0; i + clients < sorted.length; i++) {
    const spanMs = (sorted[i + clients] ?? 0) - (sorted[i] ?? 0);
    assert.ok(spanMs >= 495, `arrivals ${i}..${i + clients} within ${spanMs.toFixed(1)} ms: a client retried early`);
  }
  // At most one attempt per client per half second, and at least the first ones and a retry each.
  assert.ok(sorted.length >= clients * 2 && sorted.length <= clients * 7, `polite sent ${sorted.length}`);

  arrivalsMs.length = 0;
  const storm = parseReport(await runRtcLoad([`${server.baseUrl}/`, '-c', String(clients), '--duration', '1s', '--retry-immediately', '--json']));
  assert.deepEqual(storm.clients, { retry: 'immediately' });
  assert.ok(storm.offered > 50, `the storm sent ${storm.offered} in 1 s`);
  assert.equal(storm.offered, arrivalsMs.length);
});

test('polite clients without a Retry-After wait 1 s; -n counts retries as attempts', { timeout: 30_000 }, async (t) => {
  // The first answer is a bare 503, then everything is served.
  const arrivalsMs: number[] = [];
  const server = await startServer((_request, response, index) => {
    arrivalsMs.push(performance.now());
    response.statusCode = index === 0 ? 503 : 200;
    response.end();
  });
  t.after(() => server.close());
  const report = parseReport(await runRtcLoad([`${server.baseUrl}/`, '-c', '1', '-n', '3', '--retry-after-jitter', '0', '--json']));
  assert.deepEqual(report.statusCounts, { '200': 2, '503': 1 });
  assert.equal(report.offered, 3);
  const [first = 0, second = 0] = arrivalsMs;
  assert.ok(second - first >= 995, `retried after ${(second - first).toFixed(1)} ms`);
});
