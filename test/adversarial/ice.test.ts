/**
 * Remote ICE candidates against a real listening server (issue 19): candidates naming the pod's own
 * loopback, private, link-local and metadata addresses (SSRF through ICE), more candidates than a
 * peer needs, and trickle PATCHes and ICE restarts as fast as a client can send them. One server for
 * the file; each attack runs on half-open sessions (offers whose answers are never applied, so the
 * server's ICE agent keeps checking every candidate it was given) beside an ordinary publisher.
 */
import assert from 'node:assert/strict';
import { createSocket, type Socket } from 'node:dgram';
import { networkInterfaces } from 'node:os';
import { after, before, test } from 'node:test';
import { buildApp, type AppContext } from '../../src/app.ts';
import { configWith } from '../../src/config.ts';
import { ClientPeer } from '../../tools/rtc-load/client/peer.ts';
import { WhipPublisher } from '../../tools/rtc-load/client/whip.ts';
import { metricValue } from '../helpers.ts';
import { CARD, listenOnLoopback, metricsText } from '../webrtc/support.ts';
import { waitUntil } from '../wait.ts';

/** This host's first non-loopback IPv4 address: the one range the server is told it may probe. */
const CANARY_HOST = Object.values(networkInterfaces())
  .flat()
  .find((i) => i !== undefined && i.family === 'IPv4' && !i.internal)?.address;

let ctx: AppContext;
let base: string;
let ordinary: WhipPublisher;
let stopFrames: () => void = () => undefined;
const peers: ClientPeer[] = [];

before(async () => {
  assert.ok(CANARY_HOST, 'the test needs a non-loopback IPv4 address');
  ctx = await buildApp(
    configWith({
      device: 'cpu',
      workers: 1,
      // No media lane (its thread costs half a CPU-second to start): frames share the one worker.
      mediaWorkers: 0,
      logLevel: 'silent',
      sessionDrainSeconds: 0,
      sloAdmission: false,
      maxSessions: 16,
      maxSessionsPerClient: 0,
      sessionRateLimitPerMinute: 0,
      iceCandidateAllowCidrs: [`${CANARY_HOST}/32`],
      maxRemoteCandidates: 8,
      iceTricklePerSecond: 5,
      iceRestartsPerMinute: 2,
      maxEventLoopDelayMs: 0,
    }),
    { logger: false },
  );
  base = await listenOnLoopback(ctx.app);
  ordinary = await WhipPublisher.publish(`${base}/whip?effect=invert`);
  stopFrames = ordinary.startFrames(15, () => CARD);
});

after(async () => {
  stopFrames();
  ordinary?.abandon();
  for (const peer of peers) peer.close();
  await ctx?.app.close();
});

/** A UDP listener counting the datagrams it receives (STUN binding requests, here). */
async function listener(host: string): Promise<{ socket: Socket; port: number; received: () => number }> {
  const socket = createSocket(host.includes(':') ? 'udp6' : 'udp4');
  let received = 0;
  socket.on('message', () => received++);
  await new Promise<void>((resolve) => socket.bind(0, host, resolve));
  return { socket, port: socket.address().port, received: () => received };
}

const candidate = (host: string, port: number, priority = 2122260223, foundation = 1) => `a=candidate:${foundation} 1 udp ${priority} ${host} ${port} typ host generation 0`;

/**
 * Posts an offer of a fresh client peer whose own candidates are replaced by `candidates`, and never
 * applies the answer: the server's agent checks the candidates it was given until the session times out.
 */
async function halfOpen(candidates: readonly string[]): Promise<{ status: number; body: string; resource: string }> {
  const peer = new ClientPeer({ gatherTimeoutMs: 500 });
  peers.push(peer);
  const offer = (await peer.offer({ send: true, receive: true }))
    .split('\r\n')
    .filter((l) => !l.startsWith('a=candidate:'))
    .join('\r\n')
    .replace(/(\r\na=mid:[^\r]*)/, (mid) => [mid, ...candidates].join('\r\n'));
  const res = await fetch(`${base}/whip?effect=invert`, { method: 'POST', headers: { 'content-type': 'application/sdp' }, body: offer });
  const body = await res.text();
  return { status: res.status, body, resource: new URL(res.headers.get('location') ?? '/', base).href };
}

async function droppedByReason(): Promise<Record<string, number>> {
  const metrics = await metricsText(base);
  return Object.fromEntries([...metrics.matchAll(/^app_ice_candidates_dropped_total\{reason="(\w+)"\} (\d+)/gm)].map((m) => [m[1]!, Number(m[2])]));
}

const trickle = (resource: string, body: string) =>
  fetch(resource, { method: 'PATCH', headers: { 'content-type': 'application/trickle-ice-sdpfrag', 'if-match': '*' }, body });

/** The ordinary publisher still gets processed frames back. */
async function ordinaryServed(): Promise<void> {
  let frames = 0;
  const count = () => frames++;
  ordinary.peer.on('frame', count);
  try {
    await waitUntil('the ordinary publisher to get frames back', () => frames >= 5, { timeoutMs: 10_000 });
  } finally {
    ordinary.peer.off('frame', count);
  }
}

test('candidates naming loopback, private, link-local, metadata or .local addresses never reach libwebrtc: the pod sends them nothing', async () => {
  const droppedBefore = await droppedByReason();
  const trap = await listener('127.0.0.1');
  const canary = await listener(CANARY_HOST!);
  try {
    // In the offer: the trap, the metadata endpoint, a private and a link-local address, an mDNS name.
    const offered = [
      candidate('127.0.0.1', trap.port),
      candidate('169.254.169.254', 80, 2122260223, 2),
      candidate('10.0.0.1', trap.port, 2122260223, 3),
      candidate('169.254.1.1', trap.port, 2122260223, 4),
      candidate('0b5e3d2a-7c1f-4d6e-9a8b-112233445566.local', trap.port, 2122260223, 5),
    ];
    const session = await halfOpen(offered);
    assert.equal(session.status, 201, session.body);
    // Twenty more at the trap by trickle (the probe), then one allowed candidate of lower
    // priority: once the pod has checked it, it would have checked the trap before.
    for (const first of [0, 10]) {
      const frag = ['a=mid:0', ...Array.from({ length: 10 }, (_, i) => candidate(i % 2 ? '::ffff:127.0.0.1' : '127.0.0.1', trap.port, 2122260223, 10 + first + i))].join('\r\n');
      assert.equal((await trickle(session.resource, `${frag}\r\n`)).status, 204);
    }
    assert.equal((await trickle(session.resource, `a=mid:0\r\n${candidate(CANARY_HOST!, canary.port, 1000, 99)}\r\n`)).status, 204);
    await waitUntil('the pod to check the allowed candidate', () => canary.received() > 0, { timeoutMs: 10_000 });
    assert.equal(trap.received(), 0, 'the loopback listener received nothing');
    // The ordinary publisher's own loopback candidates were dropped before: count the attack's.
    const dropped = await droppedByReason();
    const attack = Object.fromEntries(Object.entries(dropped).map(([reason, n]) => [reason, n - (droppedBefore[reason] ?? 0)]).filter(([, n]) => n !== 0));
    assert.deepEqual(attack, { loopback: 21, metadata: 1, private: 1, link_local: 1, hostname: 1 });
    await ordinaryServed();
    await fetch(session.resource, { method: 'DELETE' });
  } finally {
    trap.socket.close();
    canary.socket.close();
  }
});

test('MAX_REMOTE_CANDIDATES: an offer with more is 400, a trickle PATCH that would pass it is 422', async () => {
  const many = Array.from({ length: 9 }, (_, i) => candidate(CANARY_HOST!, 40_000 + i, 1000, i + 1));
  const refused = await halfOpen(many);
  assert.equal(refused.status, 400, refused.body);
  assert.match(JSON.parse(refused.body).detail, /MAX_REMOTE_CANDIDATES/);

  const session = await halfOpen(many.slice(0, 5));
  assert.equal(session.status, 201, session.body);
  assert.equal((await trickle(session.resource, ['a=mid:0', ...many.slice(5, 8), ''].join('\r\n'))).status, 204, 'up to the cap');
  const over = await trickle(session.resource, ['a=mid:0', many[8]!, ''].join('\r\n'));
  assert.equal(over.status, 422);
  assert.match(((await over.json()) as { detail: string }).detail, /MAX_REMOTE_CANDIDATES/);
  // Dropped candidates do not count: the loopback one is not refused, it is left out.
  assert.equal((await trickle(session.resource, `a=mid:0\r\n${candidate('127.0.0.1', 9)}\r\n`)).status, 204);
  assert.equal(metricValue(await metricsText(base), 'app_rejected_total', { reason: 'ice_candidates' }), 2);
  await fetch(session.resource, { method: 'DELETE' });
});

test('trickle PATCHes and ICE restarts are rate-limited per peer: 429 with Retry-After; another session is not', async () => {
  const session = await halfOpen([]);
  assert.equal(session.status, 201, session.body);
  const statuses: number[] = [];
  let retryAfter: string | null = null;
  const sentAtMs = performance.now();
  for (let i = 0; i < 20; i++) {
    const res = await trickle(session.resource, 'a=mid:0\r\na=end-of-candidates\r\n');
    await res.arrayBuffer();
    statuses.push(res.status);
    if (res.status === 429) retryAfter = res.headers.get('retry-after');
  }
  // A burst of twice ICE_TRICKLE_PER_SECOND, then refusals: what refilled while the PATCHes were
  // sent is all that passes beyond the burst (a loaded machine sends them more slowly).
  const seconds = (performance.now() - sentAtMs) / 1000;
  const bound = 10 + Math.ceil(seconds * 5);
  assert.ok(statuses.slice(0, 10).every((s) => s === 204), JSON.stringify(statuses));
  assert.ok(statuses.includes(429), JSON.stringify(statuses));
  assert.ok(statuses.filter((s) => s === 204).length <= bound, `${JSON.stringify(statuses)} in ${seconds.toFixed(2)} s (at most ${bound})`);
  assert.equal(retryAfter, '1');
  assert.equal((await trickle(ordinary.resourceUrl, 'a=mid:0\r\na=end-of-candidates\r\n')).status, 204, 'the ordinary session trickles');

  const restarting = await halfOpen([]);
  const restart = (i: number) => trickle(restarting.resource, `a=ice-ufrag:restart${i}\r\na=ice-pwd:restartpasswordrestartpw${i}\r\na=mid:0\r\n`);
  const restarts = [];
  for (let i = 0; i < 3; i++) restarts.push(await restart(i));
  assert.deepEqual(restarts.map((r) => r.status), [200, 200, 429]);
  // ICE_RESTARTS_PER_MINUTE 2: the next one in about 30 s.
  assert.ok(Number(restarts[2]!.headers.get('retry-after')) >= 20, String(restarts[2]!.headers.get('retry-after')));
  assert.ok((metricValue(await metricsText(base), 'app_rejected_total', { reason: 'ice_rate' }) ?? 0) >= 8);
  await ordinaryServed();
  for (const s of [session, restarting]) await fetch(s.resource, { method: 'DELETE' });
});
