/**
 * Forwarding to a session's owner, against stand-in owners (plain HTTP servers that record what
 * reaches them): the owner's answer comes back unchanged, only members are ever contacted, a
 * forwarded call is never forwarded again, and each failure has its status and metric.
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import { test, type TestContext } from 'node:test';
import type { AppContext } from '../../src/app.ts';
import type { Config } from '../../src/config.ts';
import { Forwarder, HOP_HEADER } from '../../src/fleet/forward.ts';
import { createMetrics } from '../../src/metrics.ts';
import { CLIENT_HEADER, FleetSignature, SIGNATURE_HEADER } from '../../src/fleet/signature.ts';
import { mintSession, ownerKeyOf, publisherResourceId } from '../../src/fleet/session-id.ts';
import { fileScope, metricValue, sseText, testApp, type Scope } from '../helpers.ts';
import { waitUntil } from '../wait.ts';

interface Recorded {
  method: string;
  url: string;
  headers: http.IncomingHttpHeaders;
  body: string;
}

/** An HTTP server on loopback that records every request and answers with `answer`; closed after `t`. */
async function standIn(t: Scope, answer: (req: http.IncomingMessage, res: http.ServerResponse) => void) {
  const requests: Recorded[] = [];
  let connections = 0;
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      requests.push({ method: req.method!, url: req.url!, headers: req.headers, body });
      answer(req, res);
    });
  });
  server.on('connection', () => connections++);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => {
    server.closeAllConnections();
    server.close();
  });
  const address = `127.0.0.1:${(server.address() as net.AddressInfo).port}`;
  return { address, requests, connections: () => connections };
}

/** A TCP listener that must receive nothing: counts connections. */
async function tripwire(t: TestContext) {
  let connections = 0;
  const server = net.createServer((socket) => {
    connections++;
    socket.destroy();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => server.close());
  return { address: `127.0.0.1:${(server.address() as net.AddressInfo).port}`, connections: () => connections };
}

const SELF = '127.0.0.1:1';
const SECRET = 'test-fleet-secret-0123456789abcdef0123456789';

/** Headers of a call `by` forwards for `client`, signed with `secret` (a member's, or a forger's guess). */
function signedHeaders(method: string, url: string, by: string, client: string, options: { secret?: string; body?: string; contentType?: string; nowSeconds?: number } = {}) {
  const signer = new FleetSignature([options.secret ?? SECRET], 10, () => options.nowSeconds ?? Date.now() / 1000);
  const contentType = options.contentType ?? '';
  return {
    [HOP_HEADER]: by,
    [CLIENT_HEADER]: client,
    [SIGNATURE_HEADER]: signer.sign({ method, url, forwardedBy: by, client, contentType }, options.body),
    ...(contentType ? { 'content-type': contentType } : {}),
  };
}

function app(t: Scope, peers: string[], overrides: Partial<Config> = {}) {
  return testApp(t, {
    selfAddress: SELF,
    peers: [SELF, ...peers],
    fleetSecret: [SECRET],
    // Routing is under test, not the shared machine's event loop.
    maxEventLoopDelayMs: 0,
    maxEventLoopUtilization: 0,
    ...overrides,
  });
}

/**
 * One member answering `{}` and one app knowing it, for the four tests that need nothing else (each
 * app's worker thread costs half a CPU-second to start): they read the member's records and the
 * app's counters from where they stood when the test began. Closed after the file's last test.
 */
const scope = fileScope();
let shared: Promise<{ member: Awaited<ReturnType<typeof standIn>>; ctx: AppContext }> | undefined;
const sharedMember = () =>
  (shared ??= (async () => {
    const member = await standIn(scope, (_req, res) => res.end('{}'));
    return { member, ctx: await app(scope, [member.address]) };
  })());
/** The value of a counter of `ctx` now, to compare with later (0 when it has none yet). */
const counter = async (ctx: AppContext, name: string, labels: Record<string, string>): Promise<number> =>
  metricValue(await ctx.metrics.registry.metrics(), name, labels) ?? 0;

const idOn = (owner: string): string => {
  const { sessionId, publisherSecret } = mintSession(owner);
  return publisherResourceId(sessionId, publisherSecret);
};

test("the owner's answer comes back unchanged: status, body, Location, ETag, Link, CORS; the client's headers travel", async (t) => {
  const owner = await standIn(t, (req, res) => {
    res.writeHead(req.method === 'POST' ? 201 : 200, {
      'content-type': 'application/sdp',
      location: '/whep/abc.def/ghi.jkl',
      etag: '"e1"',
      link: '<stun:stun.example.net>; rel="ice-server"',
      'access-control-allow-origin': 'https://studio.example',
      'access-control-expose-headers': 'Location, ETag, Link',
      'x-internal': 'not for clients',
    });
    res.end('v=0\r\nanswer\r\n');
  });
  const { app: a, metrics } = await app(t, [owner.address], { corsOrigins: ['https://studio.example'], whipToken: 'tok' });
  const id = idOn(owner.address);
  const watchId = id.split('.').slice(0, 2).join('.');

  const res = await a.inject({
    method: 'POST',
    url: `/whep/${watchId}?x=1`,
    headers: { 'content-type': 'application/sdp', authorization: 'Bearer tok', origin: 'https://studio.example', 'x-forwarded-for': '203.0.113.9' },
    payload: 'v=0\r\noffer\r\n',
  });
  assert.equal(res.statusCode, 201);
  assert.equal(res.body, 'v=0\r\nanswer\r\n');
  assert.equal(res.headers.location, '/whep/abc.def/ghi.jkl');
  assert.equal(res.headers.etag, '"e1"');
  assert.equal(res.headers.link, '<stun:stun.example.net>; rel="ice-server"');
  assert.equal(res.headers['content-type'], 'application/sdp');
  assert.equal(res.headers['access-control-allow-origin'], 'https://studio.example');
  assert.equal(res.headers['x-internal'], undefined, 'only the answer headers a client needs');

  const [seen] = owner.requests;
  assert.equal(seen?.method, 'POST');
  assert.equal(seen?.url, `/whep/${watchId}?x=1`);
  assert.equal(seen?.body, 'v=0\r\noffer\r\n');
  assert.equal(seen?.headers.authorization, 'Bearer tok', "the client's Authorization travels");
  assert.equal(seen?.headers['content-type'], 'application/sdp');
  assert.equal(seen?.headers.origin, 'https://studio.example');
  assert.equal(seen?.headers[HOP_HEADER], SELF);
  assert.equal(seen?.headers['x-forwarded-for'], '203.0.113.9, 127.0.0.1');
  assert.equal(seen?.headers[CLIENT_HEADER], '127.0.0.1', 'the client key this replica counted the call under');
  const verdict = new FleetSignature([SECRET], 10).verify(
    { method: 'POST', url: seen!.url, forwardedBy: SELF, client: '127.0.0.1', contentType: 'application/sdp' },
    seen?.headers[SIGNATURE_HEADER] as string,
  );
  assert.ok(verdict.ok, 'signed with the fleet secret');

  // JSON PATCH, GET, DELETE and OPTIONS on the publisher resource go the same way.
  const patch = await a.inject({ method: 'PATCH', url: `/whip/${id}`, headers: { 'content-type': 'application/json', authorization: 'Bearer tok', 'if-match': '"e0"' }, payload: { effect: 'invert' } });
  assert.equal(patch.statusCode, 200);
  assert.equal(owner.requests[1]!.body, '{"effect":"invert"}');
  assert.equal(owner.requests[1]!.headers['if-match'], '"e0"');
  for (const method of ['GET', 'DELETE', 'OPTIONS'] as const) {
    assert.equal((await a.inject({ method, url: `/whip/${id}`, headers: { authorization: 'Bearer tok' } })).statusCode, 200, method);
  }
  assert.deepEqual(owner.requests.map((r) => r.method), ['POST', 'PATCH', 'GET', 'DELETE', 'OPTIONS']);

  // The token is checked where the client arrives: without it nothing is forwarded.
  assert.equal((await a.inject({ method: 'GET', url: `/whip/${id}` })).statusCode, 401);
  assert.equal(owner.requests.length, 5);

  const text = await metrics.registry.metrics();
  assert.equal(metricValue(text, 'app_forwarded_requests_total', { outcome: 'answered' }), 5);
  assert.equal(metricValue(text, 'app_forward_duration_seconds_count'), 5);
});

test('forged ids naming non-members get 404 session_gone and nothing is contacted', async (t) => {
  const listener = await tripwire(t);
  const { member, ctx } = await sharedMember();
  const { app: a, metrics } = ctx;
  const [connectionsBefore, requestsBefore, nonMemberBefore] = [member.connections(), member.requests.length, await counter(ctx, 'app_forwarded_requests_total', { outcome: 'non_member' })];
  const owners = [listener.address, '169.254.169.254:80', '127.0.0.1:22', 'metadata.google.internal:80', '[::1]:8080', 'localhost:1'];
  let calls = 0;
  for (const owner of owners) {
    const id = idOn(owner);
    const watchId = id.split('.').slice(0, 2).join('.');
    const requests = [
      { method: 'GET' as const, url: `/whip/${id}` },
      { method: 'DELETE' as const, url: `/whip/${id}` },
      { method: 'OPTIONS' as const, url: `/whip/${id}` },
      { method: 'PATCH' as const, url: `/whip/${id}`, headers: { 'content-type': 'application/json' }, payload: '{"effect":"invert"}' },
      { method: 'POST' as const, url: `/whep/${watchId}`, headers: { 'content-type': 'application/sdp' }, payload: 'v=0\r\n' },
      { method: 'DELETE' as const, url: `/whep/${watchId}/AAAA.BBBB` },
    ];
    for (const request of requests) {
      const res = await a.inject(request);
      calls++;
      assert.equal(res.statusCode, 404, `${request.method} ${request.url}`);
      assert.equal(res.json().error, 'session_gone');
    }
  }
  assert.equal(listener.connections(), 0, 'the listener at a forged address received nothing');
  assert.equal(member.connections(), connectionsBefore);
  assert.equal(member.requests.length, requestsBefore, 'nothing reached the member');
  assert.equal(metricValue(await metrics.registry.metrics(), 'app_forwarded_requests_total', { outcome: 'non_member' }), nonMemberBefore + calls);
});

test('a signed forwarded call is never forwarded again; unsigned, mis-signed, stale, replayed or altered ones are refused and counted', async (t) => {
  const { member, ctx } = await sharedMember();
  const { app: a, metrics } = ctx;
  const [connectionsBefore, requestsBefore] = [member.connections(), member.requests.length];
  const [loopsBefore, signaturesBefore] = [await counter(ctx, 'app_forwarded_requests_total', { outcome: 'loop' }), await counter(ctx, 'app_rejected_total', { reason: 'fleet_signature' })];
  const id = idOn(member.address);
  const url = `/whip/${id}`;
  // Signed by a member: a second hop is refused.
  const loop = await a.inject({ method: 'GET', url, headers: signedHeaders('GET', url, member.address, '198.51.100.7') });
  assert.equal(loop.statusCode, 404);
  assert.equal(loop.json().error, 'session_gone');
  assert.equal(metricValue(await metrics.registry.metrics(), 'app_forwarded_requests_total', { outcome: 'loop' }), loopsBefore + 1);

  // Source addresses prove nothing: from the member's own host, none of these is taken as the member's.
  const now = Date.now() / 1000;
  const replay = signedHeaders('GET', url, member.address, '198.51.100.7');
  await a.inject({ method: 'GET', url, headers: replay });
  const patchBody = '{"effect":"invert"}';
  const forged: Record<string, Record<string, string>>[] = [
    { 'a hop header alone': { [HOP_HEADER]: member.address } },
    { 'a client header alone': { [CLIENT_HEADER]: '203.0.113.1' } },
    { 'another secret': signedHeaders('GET', url, member.address, '198.51.100.7', { secret: 'not-the-fleet-secret-0123456789abcdefgh' }) },
    { 'older than the window': signedHeaders('GET', url, member.address, '198.51.100.7', { nowSeconds: now - 60 }) },
    { 'another path': signedHeaders('GET', `/whip/${idOn(member.address)}`, member.address, '198.51.100.7') },
    { 'another client': { ...signedHeaders('GET', url, member.address, '198.51.100.7'), [CLIENT_HEADER]: '198.51.100.8' } },
    { 'a replay': replay },
  ];
  for (const entry of forged) {
    const [why, headers] = Object.entries(entry)[0]!;
    const res = await a.inject({ method: 'GET', url, headers });
    assert.equal(res.statusCode, 403, why);
    assert.equal(res.json().error, 'invalid_fleet_signature', why);
  }
  // A body other than the signed one.
  const altered = await a.inject({
    method: 'PATCH',
    url,
    headers: signedHeaders('PATCH', url, member.address, '198.51.100.7', { body: patchBody, contentType: 'application/json' }),
    payload: '{"effect":"grayscale"}',
  });
  assert.equal(altered.statusCode, 403);
  assert.equal(member.connections(), connectionsBefore, 'nothing refused reached the owner');
  assert.equal(member.requests.length, requestsBefore);
  assert.equal(metricValue(await metrics.registry.metrics(), 'app_rejected_total', { reason: 'fleet_signature' }), signaturesBefore + forged.length + 1);

  // An ordinary client's call for the member's session is still forwarded, signed by this replica.
  const ordinary = await a.inject({ method: 'GET', url, remoteAddress: '198.51.100.7' });
  assert.equal(ordinary.statusCode, 200);
  assert.equal(member.requests.length, requestsBefore + 1);
  assert.equal(member.requests[requestsBefore]?.headers[HOP_HEADER], SELF);
  assert.equal(member.requests[requestsBefore]?.headers[CLIENT_HEADER], '198.51.100.7');
});

test('JSON bodies reach the owner as their bytes, so a body the owner refuses is refused the same way forwarded', async () => {
  const { member: owner, ctx: { app: a } } = await sharedMember();
  const requestsBefore = owner.requests.length;
  const id = idOn(owner.address);
  const bodies = ['"invert"', 'null', '[1]', '{"effect":"invert","params":{"sigma":1e999}}', '{ "effect" : "invert" }'];
  for (const body of bodies) {
    const res = await a.inject({ method: 'PATCH', url: `/whip/${id}`, headers: { 'content-type': 'application/json' }, payload: body });
    assert.equal(res.statusCode, 200, body);
  }
  assert.deepEqual(
    owner.requests.slice(requestsBefore).map((r) => r.body),
    bodies,
  );
});

test('calls for this replica itself, or for malformed ids, stay here (404 not_found), never forwarded', async () => {
  const { member, ctx: { app: a } } = await sharedMember();
  // Connections alone would not show a forward: one kept alive from an earlier test could carry it.
  const [connectionsBefore, requestsBefore] = [member.connections(), member.requests.length];
  for (const url of [`/whip/${idOn(SELF)}`, '/whip/nope', `/whip/${ownerKeyOf(member.address)}`, `/whip/${ownerKeyOf(member.address)}.a.b.c`]) {
    const res = await a.inject({ method: 'GET', url });
    assert.equal(res.statusCode, 404, url);
    assert.equal(res.json().error, 'not_found', url);
  }
  assert.equal(member.connections(), connectionsBefore);
  assert.equal(member.requests.length, requestsBefore, 'nothing reached the member');
});

test('a departed owner is 404 session_gone; a silent one 504; an oversized answer 502', async (t) => {
  const silent = await standIn(t, () => undefined);
  const huge = await standIn(t, (_req, res) => res.end('x'.repeat(200_000)));
  const { app: a, metrics } = await app(t, [silent.address, huge.address], { forwardTimeoutSeconds: 0.5, forwardMaxBodyBytes: 64 * 1024 });

  // A member address where nothing listens any more (a pod that died): take a port and release it.
  const free = await new Promise<number>((resolve) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
  const gone = `127.0.0.1:${free}`;
  const { app: b, metrics: mb } = await app(t, [gone]);
  const goneRes = await b.inject({ method: 'GET', url: `/whip/${idOn(gone)}` });
  assert.equal(goneRes.statusCode, 404);
  assert.equal(goneRes.json().error, 'session_gone');
  assert.equal(metricValue(await mb.registry.metrics(), 'app_forwarded_requests_total', { outcome: 'gone' }), 1);

  const slow = await a.inject({ method: 'GET', url: `/whip/${idOn(silent.address)}` });
  assert.equal(slow.statusCode, 504);
  const big = await a.inject({ method: 'GET', url: `/whip/${idOn(huge.address)}` });
  assert.equal(big.statusCode, 502);
  const text = await metrics.registry.metrics();
  assert.equal(metricValue(text, 'app_forwarded_requests_total', { outcome: 'timeout' }), 1);
  assert.equal(metricValue(text, 'app_forwarded_requests_total', { outcome: 'too_large' }), 1);
});

test("viewers created through another replica are counted on the owner as the client they carry, not as that replica", async (t) => {
  const member = await tripwire(t);
  const { app: owner } = await app(t, [member.address], { sessionRateLimitPerMinute: 1 });
  const watchId = idOn(SELF).split('.').slice(0, 2).join('.');
  const url = `/whep/${watchId}`;
  const post = (headers: Record<string, string>, remoteAddress = '127.0.0.1') =>
    owner.inject({ method: 'POST', url, headers: { 'content-type': 'application/sdp', ...headers }, payload: 'v=0\r\n', remoteAddress });
  const forwardedFor = (client: string) => signedHeaders('POST', url, member.address, client, { body: 'v=0\r\n', contentType: 'application/sdp' });
  // Forwarded by a member (signed): the entry replica already counted them against their rate limit.
  for (let i = 0; i < 3; i++) assert.equal((await post(forwardedFor('203.0.113.5'))).statusCode, 404, 'no such session, but not rate-limited');
  // A client that forges the header is refused (and never counted as someone else).
  assert.equal((await post({ [HOP_HEADER]: member.address }, '198.51.100.7')).statusCode, 403);
  assert.equal((await post({}, '198.51.100.7')).statusCode, 404);
  assert.equal((await post({}, '198.51.100.7')).statusCode, 429);
  assert.equal(member.connections(), 0);
});

test('a replica that forwards to itself (SELF_ADDRESS not the address its peers know) stops at the second hop', async (t) => {
  const port = await new Promise<number>((resolve) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const p = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(p));
    });
  });
  const known = `127.0.0.1:${port}`;
  const ctx = await testApp(t, { selfAddress: 'media-1.internal:1', peers: [known], fleetSecret: [SECRET], maxEventLoopDelayMs: 0, maxEventLoopUtilization: 0 });
  await ctx.app.listen({ port, host: '127.0.0.1' });
  const res = await fetch(`http://${known}/whip/${idOn(known)}`);
  assert.equal(res.status, 404);
  assert.equal(((await res.json()) as { error: string }).error, 'session_gone');
  const text = await ctx.metrics.registry.metrics();
  assert.equal(metricValue(text, 'app_forwarded_requests_total', { outcome: 'answered' }), 1, 'one hop');
  assert.equal(metricValue(text, 'app_forwarded_requests_total', { outcome: 'loop' }), 1, 'and no second');
});

/** A stand-in owner's captions stream: its headers and opening at once, then what the test writes. */
async function sseOwner(t: TestContext) {
  const open: http.ServerResponse[] = [];
  let closed = 0;
  const owner = await standIn(t, (req, res) => {
    if (req.url?.includes('refused')) {
      res.writeHead(429, { 'content-type': 'application/json', 'retry-after': '2' });
      res.end('{"error":"rate_limited","detail":"this session has 2 caption streams open"}');
      return;
    }
    res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-store', 'x-accel-buffering': 'no', 'x-internal': 'no' });
    res.write('retry: 2000\n\n');
    open.push(res);
    res.once('close', () => closed++);
  });
  return { ...owner, open, closed: () => closed };
}

test("a captions stream of a member's session is relayed from its owner as it comes, and ends with it; the client's leaving ends the owner's call", async (t) => {
  const owner = await sseOwner(t);
  const { app: a, metrics } = await app(t, [owner.address], { forwardMaxStreams: 2 });
  const base = await a.listen({ port: 0, host: '127.0.0.1' });
  const id = idOn(owner.address);
  const watchId = id.split('.').slice(0, 2).join('.');

  const first = sseText(`${base}/whip/${watchId}/captions`);
  const res = await first.answer;
  assert.equal(res.status, 200);
  assert.equal(res.headers.get('content-type'), 'text/event-stream; charset=utf-8');
  assert.equal(res.headers.get('cache-control'), 'no-store');
  assert.equal(res.headers.get('x-internal'), null);
  // Each chunk comes through while the owner's answer is still open: nothing waits for its end.
  await waitUntil('the opening relayed', () => first.text() === 'retry: 2000\n\n');
  const caption = 'data: {"type":"caption","lang":"en","text":"hello","final":true,"startMs":0,"endMs":400}\n\n';
  owner.open[0]!.write(caption);
  await waitUntil('a caption as it comes', () => first.text().endsWith(caption));
  assert.equal(owner.requests[0]?.url, `/whip/${watchId}/captions`);
  assert.equal(owner.requests[0]?.headers[HOP_HEADER], SELF);
  owner.open[0]!.end('event: end\ndata: {"reason":"session_ended"}\n\n');
  await waitUntil("the client's stream ended with the owner's", () => first.ended());
  assert.ok(first.text().endsWith('event: end\ndata: {"reason":"session_ended"}\n\n'));

  // The client leaves: the call to the owner ends too.
  const second = sseText(`${base}/whip/${id}/captions`);
  await waitUntil('the second stream open', () => second.text() !== '');
  second.abort();
  await waitUntil("the owner's answer closed", () => owner.closed() === 2, { detail: () => `closed ${owner.closed()}` });

  // FORWARD_MAX_STREAMS: two relayed at once, the third is refused for now.
  const held = [sseText(`${base}/whip/${id}/captions`), sseText(`${base}/whip/${id}/captions`)];
  await waitUntil('two streams open', () => held.every((s) => s.text() !== ''));
  const third = await fetch(`${base}/whip/${id}/captions`);
  assert.equal(third.status, 503);
  assert.equal(third.headers.get('retry-after') !== null, true);
  assert.equal(((await third.json()) as { error: string }).error, 'overloaded');
  // The owner's refusal (its per-session subscriber cap) comes back as it is.
  const refused = await fetch(`${base}/whip/${id}/captions?refused=1`);
  assert.equal(refused.status, 503, 'still full');
  for (const s of held) s.abort();
  await waitUntil('the slots released', () => owner.closed() === 4, { detail: () => `closed ${owner.closed()}` });
  const capped = await fetch(`${base}/whip/${id}/captions?refused=1`);
  assert.equal(capped.status, 429);
  assert.equal(capped.headers.get('retry-after'), '2');
  assert.equal(((await capped.json()) as { error: string }).error, 'rate_limited');

  // Shutdown ends a relayed stream like a local one.
  const last = sseText(`${base}/whip/${id}/captions`);
  await waitUntil('the last stream open', () => last.text() !== '');
  await a.close();
  await waitUntil('the stream ended on shutdown', () => last.ended());
  assert.ok(last.text().endsWith('event: end\ndata: {"reason":"shutdown"}\n\n'), last.text());
  await waitUntil("the owner's answer closed", () => owner.closed() === 5, { detail: () => `closed ${owner.closed()}` });

  const text = await metrics.registry.metrics();
  assert.equal(metricValue(text, 'app_forwarded_requests_total', { outcome: 'streamed' }), 6);
  assert.equal(metricValue(text, 'app_forwarded_requests_total', { outcome: 'overloaded' }), 2);
  assert.equal(metricValue(text, 'app_rejected_total', { reason: 'forward_full' }), 2);
});

test('a captions stream for a non-member, or already forwarded, is 404 session_gone without a connection; a missing token is 401 before any', async (t) => {
  const listener = await tripwire(t);
  const member = await tripwire(t);
  const { app: a, metrics } = await app(t, [member.address], { whipToken: 'tok' });
  const url = `/whip/${idOn(listener.address)}/captions`;
  const res = await a.inject({ method: 'GET', url, headers: { authorization: 'Bearer tok' } });
  assert.equal(res.statusCode, 404);
  assert.equal(res.json().error, 'session_gone');
  const memberUrl = `/whip/${idOn(member.address)}/captions`;
  assert.equal((await a.inject({ method: 'GET', url: memberUrl })).statusCode, 401);
  const loop = await a.inject({ method: 'GET', url: memberUrl, headers: { ...signedHeaders('GET', memberUrl, member.address, '198.51.100.7'), authorization: 'Bearer tok' } });
  assert.equal(loop.statusCode, 404);
  assert.equal(loop.json().error, 'session_gone');
  assert.equal(listener.connections() + member.connections(), 0);
  const text = await metrics.registry.metrics();
  assert.equal(metricValue(text, 'app_forwarded_requests_total', { outcome: 'non_member' }), 1);
  assert.equal(metricValue(text, 'app_forwarded_requests_total', { outcome: 'loop' }), 1);
});

test("a relayed stream's call to its owner ends after its life (the body ends, the slot is free)", async (t) => {
  const owner = await sseOwner(t);
  const metrics = createMetrics({ p95WindowSeconds: 60, queueDepth: () => 0 });
  const forwarder = new Forwarder({ selfAddress: SELF, signature: new FleetSignature([SECRET], 10), timeoutSeconds: 2, connectTimeoutMs: 1000, maxBodyBytes: 1024, maxInflight: 1, maxStreams: 1, retryAfterSeconds: 1, metrics });
  t.after(() => forwarder.close());
  const call = { method: 'GET', url: `/whip/${idOn(owner.address)}/captions`, headers: {}, body: undefined, clientIp: '127.0.0.1', client: '127.0.0.1' };
  const answer = await forwarder.stream(owner.address, call, 0.3);
  assert.equal(answer.status, 200);
  // The owner writes more than FORWARD_MAX_BODY_BYTES: a stream has no size bound, only its life.
  owner.open[0]!.write(`: ${'x'.repeat(4096)}\n\n`);
  let bytes = 0;
  await assert.rejects(async () => {
    for await (const chunk of answer.body) bytes += (chunk as Buffer).length;
  });
  assert.ok(bytes > 4096, `${bytes} bytes before the end`);
  await waitUntil("the owner's answer closed", () => owner.closed() === 1, { detail: () => `closed ${owner.closed()}` });
  const again = await forwarder.stream(owner.address, call, 0.3);
  again.close();
});

test('a client that stops reading a relayed stream is cut off, and the call to the owner ends with it', async (t) => {
  const owner = await sseOwner(t);
  const { app: a } = await app(t, [owner.address]);
  const base = new URL(await a.listen({ port: 0, host: '127.0.0.1' }));
  // A client that asks and never reads what comes.
  const socket = net.connect(Number(base.port), base.hostname);
  t.after(() => socket.destroy());
  socket.pause();
  socket.write(`GET /whip/${idOn(owner.address)}/captions HTTP/1.1\r\nhost: ${base.host}\r\n\r\n`);
  await waitUntil('the stream open at the owner', () => owner.open.length === 1);
  // The owner sends as fast as its socket takes it: the relay's unsent bytes pile up behind the client.
  const chunk = `: ${'x'.repeat(64 * 1024)}\n\n`;
  let sentBytes = 0;
  const res = owner.open[0]!;
  const pump = setInterval(() => {
    while (!res.destroyed && sentBytes < 256 * 1024 * 1024 && res.write(chunk)) sentBytes += chunk.length;
  }, 2);
  t.after(() => clearInterval(pump));
  await waitUntil("the owner's answer closed by the relay", () => owner.closed() === 1, { timeoutMs: 20_000, detail: () => `${sentBytes} bytes sent` });
  clearInterval(pump);
  assert.ok(sentBytes < 256 * 1024 * 1024, `cut after ${sentBytes} bytes`);
  // What had been sent drains, then the connection ends: the relay closed it.
  let ended = false;
  socket.on('end', () => (ended = true));
  socket.on('error', () => (ended = true));
  socket.resume();
  await waitUntil('the client cut off', () => ended, { timeoutMs: 5000 });
});
