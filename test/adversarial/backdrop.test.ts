/**
 * Backdrop uploads (PUT /whip/{id}/background) against the real server in its own process (issue
 * 19): before, an upload was buffered up to MAX_BODY_BYTES (36 MiB) before its session or secret was
 * checked, outside the memory budget, with no rate limit; four held against a session that does not
 * exist took the server from 148 to 264 MiB RSS. Now every check is made on the headers, before a
 * byte is read, and the bytes are reserved under the client's share of MEMORY_BUDGET_BYTES.
 */
import assert from 'node:assert/strict';
import { request, type ClientRequest } from 'node:http';
import { after, before, test } from 'node:test';
import sharp from 'sharp';
import { WhipPublisher } from '../../tools/rtc-load/client/whip.ts';
import { startServer, type ServerProcess } from '../helpers-process.ts';
import { metricValue } from '../helpers.ts';
import { metricsText, MiB } from './support.ts';
import { waitUntil } from '../wait.ts';

const BACKDROP_MAX_BYTES = 4 * MiB;
const MEMORY_BUDGET_BYTES = 64 * MiB;
/** A quarter of the budget: four uploads at the size limit. */
const MEMORY_CLIENT_SHARE = 0.25;
const UPLOADS_PER_MINUTE = 6;

let server: ServerProcess;
const publishers: WhipPublisher[] = [];
const held: ClientRequest[] = [];

before(async () => {
  server = await startServer(
    {
      WORKERS: '1',
      MEMORY_BUDGET_BYTES: String(MEMORY_BUDGET_BYTES),
      MEMORY_CLIENT_SHARE: String(MEMORY_CLIENT_SHARE),
      BACKDROP_MAX_BYTES: String(BACKDROP_MAX_BYTES),
      BACKDROP_UPLOADS_PER_MINUTE: String(UPLOADS_PER_MINUTE),
      TRUST_PROXY: '127.0.0.1',
      // About the upload path, not about the stall guard of a busy shared machine.
      MAX_EVENT_LOOP_DELAY_MS: '0',
    },
    60_000,
  );
});

after(() => {
  for (const req of held) req.destroy();
  for (const publisher of publishers) publisher.abandon();
  server?.child.kill('SIGKILL');
});

interface Answer {
  readonly status: number;
  readonly connection: string | undefined;
  readonly retryAfter: string | undefined;
  readonly body: string;
}

/**
 * A PUT that declares `declared` bytes and sends only its headers (a slow upload), resolving with
 * the answer. `onHeld` gets the request (to end it) once its headers are sent.
 */
function put(url: string, declared: number, options: { clientIp?: string; onHeld?: (req: ClientRequest) => void } = {}): Promise<Answer> {
  return new Promise((resolve) => {
    const headers: Record<string, string> = { 'content-type': 'image/png', 'content-length': String(declared) };
    if (options.clientIp !== undefined) headers['x-forwarded-for'] = options.clientIp;
    const req = request(url, { method: 'PUT', headers }, (res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, connection: res.headers.connection, retryAfter: res.headers['retry-after'] as string | undefined, body }));
    });
    // A request ended here (a held upload given up) has no answer.
    req.on('error', (err) => resolve({ status: 0, connection: undefined, retryAfter: undefined, body: err.message }));
    req.flushHeaders();
    options.onHeld?.(req);
  });
}

const inflightBytes = async () => metricValue(await metricsText(server.baseUrl), 'app_memory_inflight_bytes') ?? -1;
const rejected = async (reason: string) => metricValue(await metricsText(server.baseUrl), 'app_rejected_total', { reason }) ?? 0;

test('uploads to a session that does not exist, or over BACKDROP_MAX_BYTES, are refused before a byte is read', async () => {
  // A well-formed id of this replica's that names no session.
  const nowhere = `${server.baseUrl}/whip/MTI3LjAuMC4xOjA.AAAAAAAAAAAAAAAAAAAAAA.${'S'.repeat(43)}/background`;
  // The probe: four uploads one byte short of 36 MiB. Only the headers are sent: every
  // answer below comes without the server waiting for a byte of the body (before, it waited for
  // all of it, buffered, and only then looked for the session).
  const oversized = await Promise.all(Array.from({ length: 4 }, () => put(nowhere, 36 * MiB - 1, { clientIp: '198.51.100.1' })));
  const missing = await Promise.all(Array.from({ length: 4 }, () => put(nowhere, BACKDROP_MAX_BYTES, { clientIp: '198.51.100.2' })));
  assert.deepEqual(oversized.map((a) => a.status), [413, 413, 413, 413]);
  assert.match(oversized[0]!.body, /BACKDROP_MAX_BYTES/);
  assert.deepEqual(missing.map((a) => a.status), [404, 404, 404, 404]);
  // An id naming a replica that is not in the fleet: refused the same way, with no connection made.
  const elsewhere = `${server.baseUrl}/whip/${Buffer.from('10.9.9.9:8080').toString('base64url')}.AAAAAAAAAAAAAAAAAAAAAA.${'S'.repeat(43)}/background`;
  const gone = await put(elsewhere, BACKDROP_MAX_BYTES, { clientIp: '198.51.100.3' });
  assert.equal(gone.status, 404);
  assert.equal(JSON.parse(gone.body).error, 'session_gone');
  assert.ok([...oversized, ...missing].every((a) => a.connection === 'close'), 'each refusal closes the connection');
  assert.equal(await inflightBytes(), 0, 'nothing reserved');
});

test('uploads to a real session: one address holds at most its share of the budget, then 503; the rate limits answer 429; another client is served', async () => {
  for (let i = 0; i < 2; i++) publishers.push(await WhipPublisher.publish(`${server.baseUrl}/whip?effect=background-replace`));
  const [target, own] = publishers.map((p) => `${p.resourceUrl}/background`) as [string, string];
  const attacker = '203.0.113.9';
  const memoryBefore = await rejected('memory');

  // Four slow uploads at the size limit hold the attacker's share (nothing sent after the headers).
  const slow = Array.from({ length: 4 }, () => put(target, BACKDROP_MAX_BYTES, { clientIp: attacker, onHeld: (req) => held.push(req) }));
  await waitUntil('four uploads held', async () => (await inflightBytes()) === 4 * BACKDROP_MAX_BYTES, { timeoutMs: 10_000 });
  const refused = [];
  for (let i = 0; i < 3; i++) refused.push(await put(target, BACKDROP_MAX_BYTES, { clientIp: attacker }));
  // 5 and 6: over the address's share of the budget; 7: over its uploads a minute.
  assert.deepEqual(refused.map((a) => a.status), [503, 503, 429], JSON.stringify(refused.map((a) => a.body)));
  assert.ok(refused.every((a) => a.connection === 'close' && Number(a.retryAfter) >= 1));
  assert.match(refused[2]!.body, /BACKDROP_UPLOADS_PER_MINUTE/);
  assert.equal((await rejected('memory')) - memoryBefore, 2);
  assert.equal(await inflightBytes(), 4 * BACKDROP_MAX_BYTES, 'nothing more reserved');

  // Another client is served meanwhile, on its own session...
  const png = await sharp({ create: { width: 64, height: 48, channels: 3, background: { r: 0, g: 200, b: 0 } } }).png().toBuffer();
  const ok = await fetch(own, { method: 'PUT', headers: { 'content-type': 'image/png' }, body: png });
  assert.equal(ok.status, 204, await ok.text());
  // ...while the attacked session has used its uploads a minute, whoever sends them.
  const limited = await fetch(target, { method: 'PUT', headers: { 'content-type': 'image/png' }, body: png });
  assert.equal(limited.status, 429);
  assert.match(((await limited.json()) as { detail: string }).detail, /this session/);
  assert.equal(await rejected('backdrop_rate'), 2);

  // The held uploads give their bytes back when their clients go away.
  for (const req of held) req.destroy();
  await Promise.all(slow);
  await waitUntil('the reservations released', async () => (await inflightBytes()) === 0, { timeoutMs: 10_000 });
});
