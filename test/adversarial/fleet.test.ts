/**
 * Fleet identity against two real replicas behind HAProxy (issue 19, items 4 and 6): a call that
 * claims to be forwarded by a member must be signed with the fleet's secret, whoever sends it; the
 * owner counts a viewer who entered through another replica as that viewer; client keys ignore the
 * port a proxy writes and count NAT64 clients apart; JSON reaches the owner as the client sent it.
 * The balancer connects from its own address (BALANCER_SOURCE), the only one the replicas trust, as
 * an ingress controller in a cluster; replicas forward to each other from another.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Agent, request } from 'undici';
import { HOP_HEADER } from '../../src/fleet/forward.ts';
import { CLIENT_HEADER, FleetSignature, SIGNATURE_HEADER } from '../../src/fleet/signature.ts';
import { Peer, VideoOutput } from '../../src/webrtc/peer.ts';
import { metricValue } from '../helpers.ts';
import { BALANCER_SOURCE, haveHaproxy, startFleet, type Replica } from '../fleet/haproxy-fleet.ts';

/** Speaks to a replica as the balancer does: from its address, with the client's in X-Forwarded-For. */
const asBalancer = new Agent({ localAddress: BALANCER_SOURCE });

async function call(url: string, init: { method?: string; headers?: Record<string, string>; body?: string } = {}) {
  const res = await request(url, { method: (init.method ?? 'GET') as 'GET', headers: init.headers, body: init.body, dispatcher: asBalancer });
  const text = await res.body.text();
  const location = res.headers.location;
  return { status: res.statusCode, text, location: typeof location === 'string' ? location : undefined };
}

/** A real offer (publisher: sendrecv; viewer: recvonly) whose answer is never applied. */
async function offer(kind: 'publisher' | 'viewer'): Promise<string> {
  const peer = new Peer({ iceServers: [], gatherTimeoutMs: 500, onListenerError: () => undefined });
  const output = new VideoOutput();
  try {
    return await peer.offer(kind === 'publisher' ? { send: output, receive: true } : { receive: false });
  } finally {
    peer.close();
    output.close();
  }
}

const metric = async (replica: Replica, name: string, labels: Record<string, string>): Promise<number> =>
  metricValue(await (await fetch(`${replica.url}/metrics`)).text(), name, labels) ?? 0;

test('fleet identity: signed forwarding, the right client on the owner, ports and NAT64 in client keys', { timeout: 300_000 }, async (t) => {
  if (!haveHaproxy(t)) return;
  const fleet = await startFleet({
    replicas: 2,
    spareSlots: 0,
    env: {
      MAX_EVENT_LOOP_DELAY_MS: '0',
      MAX_EVENT_LOOP_UTILIZATION: '0',
      SLO_ADMISSION: 'false',
      MAX_SESSIONS: '16',
      MAX_SESSIONS_PER_CLIENT: '1',
      SESSION_RATE_LIMIT_PER_MINUTE: '3',
      SESSION_CONNECT_SECONDS: '30',
    },
  });
  t.after(() => fleet.close());
  const [owner, entry] = fleet.replicas as [Replica, Replica];
  const ordinary = async () => assert.equal((await fetch(`${fleet.url}/effects`)).status, 200, 'an ordinary client is served');

  await t.test('a call claiming to come from a member, without the fleet secret, is refused and counted; it is never exempt from the rate limit', async () => {
    const sdp = await offer('publisher');
    const before = await metric(entry, 'app_rejected_total', { reason: 'fleet_signature' });
    const wrong = new FleetSignature(['a-guess-at-the-fleet-secret-0123456789abcdef'], 10);
    const by = `127.0.0.1:${owner.port}`;
    // From a member's own host (loopback), as a sidecar or any process there would send it.
    const forgeries: Record<string, string>[] = [
      { [HOP_HEADER]: by },
      { [HOP_HEADER]: by, [CLIENT_HEADER]: '203.0.113.50' },
      {
        [HOP_HEADER]: by,
        [CLIENT_HEADER]: '203.0.113.50',
        [SIGNATURE_HEADER]: wrong.sign({ method: 'POST', url: '/whip', forwardedBy: by, client: '203.0.113.50', contentType: 'application/sdp' }, sdp),
      },
    ];
    for (let i = 0; i < 6; i++) {
      const res = await fetch(`${entry.url}/whip`, { method: 'POST', headers: { 'content-type': 'application/sdp', ...forgeries[i % forgeries.length] }, body: sdp });
      assert.equal(res.status, 403, await res.clone().text());
      assert.equal(((await res.json()) as { error: string }).error, 'invalid_fleet_signature');
    }
    assert.equal((await metric(entry, 'app_rejected_total', { reason: 'fleet_signature' })) - before, 6);
    assert.equal(await metric(entry, 'app_webrtc_sessions_active', {}), 0, 'no session was created');
    await ordinary();
  });

  await t.test('a viewer entering through another replica is counted on the owner as itself', async () => {
    const published = await call(`${owner.url}/whip`, { method: 'POST', headers: { 'content-type': 'application/sdp', 'x-forwarded-for': '198.51.100.1' }, body: await offer('publisher') });
    assert.equal(published.status, 201, published.text);
    const watch = `/whep/${published.location!.split('/')[2]!.split('.').slice(0, 2).join('.')}`;
    const view = async (client: string) =>
      call(`${entry.url}${watch}`, { method: 'POST', headers: { 'content-type': 'application/sdp', 'x-forwarded-for': client }, body: await offer('viewer') });
    // Two viewers through the same replica: on the owner, two clients (before, both were that replica).
    assert.equal((await view('203.0.113.1')).status, 201);
    assert.equal((await view('203.0.113.2')).status, 201);
    // The first viewer again: its MAX_SESSIONS_PER_CLIENT (1) is spent on the owner, where it is counted.
    const again = await view('203.0.113.1');
    assert.ok(again.status === 429 || again.status === 503, `${again.status} ${again.text}`);
    assert.equal(await metric(owner, 'app_rejected_total', { reason: 'sessions_per_client' }), 1);
    assert.ok((await metric(entry, 'app_forwarded_requests_total', { outcome: 'answered' })) >= 3);
    await ordinary();
  });

  await t.test('client keys: a port in X-Forwarded-For is not a new client; NAT64 clients are apart', async () => {
    const publish = async (client: string) =>
      (await call(`${entry.url}/whip`, { method: 'POST', headers: { 'content-type': 'application/sdp', 'x-forwarded-for': client }, body: await offer('publisher') })).status;
    const before = await metric(entry, 'app_rejected_total', { reason: 'sessions_per_client' });
    assert.equal(await publish('192.0.2.7:50001'), 201);
    assert.notEqual(await publish('192.0.2.7:50002'), 201, 'another connection of the same client');
    assert.equal(await publish('[2001:db8:5:5::1]:443'), 201);
    assert.notEqual(await publish('[2001:db8:5:5::2]:444'), 201, 'the same /64 from another connection');
    assert.equal(await publish('64:ff9b::198.51.100.21'), 201);
    assert.equal(await publish('64:ff9b::198.51.100.22'), 201, 'another client behind the same NAT64');
    assert.equal((await metric(entry, 'app_rejected_total', { reason: 'sessions_per_client' })) - before, 2);
    await ordinary();
  });

  await t.test('JSON is forwarded as its bytes: the owner answers a forwarded PATCH as it answers a direct one', async () => {
    const published = await call(`${owner.url}/whip`, { method: 'POST', headers: { 'content-type': 'application/sdp', 'x-forwarded-for': '198.51.100.9' }, body: await offer('publisher') });
    assert.equal(published.status, 201, published.text);
    for (const body of ['"invert"', 'null', '{"effect":"invert"}']) {
      const patch = (base: string) => call(`${base}${published.location!}`, { method: 'PATCH', headers: { 'content-type': 'application/json', 'x-forwarded-for': '198.51.100.9' }, body });
      const direct = await patch(owner.url);
      const forwarded = await patch(entry.url);
      assert.equal(forwarded.status, direct.status, `${body}: ${direct.text} / ${forwarded.text}`);
      assert.equal(forwarded.text, direct.text, body);
    }
  });
});
