/**
 * The publisher's secret is in its resource URL (issue 19): whatever the server logs, at any level,
 * must not carry it. Before, a request the HTTP parser refused was logged at trace with its raw
 * bytes, request line and secret included.
 */
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { test } from 'node:test';
import { WhipPublisher } from '../../tools/rtc-load/client/whip.ts';
import { hostileServer } from './support.ts';

/** Writes `raw` on a fresh connection and resolves when the server has answered and closed it. */
function rawRequest(baseUrl: string, raw: string): Promise<string> {
  const { hostname, port } = new URL(baseUrl);
  return new Promise((resolve) => {
    let answer = '';
    const socket = connect(Number(port), hostname, () => socket.write(raw));
    socket.on('data', (c: Buffer) => (answer += c.toString()));
    socket.on('close', () => resolve(answer));
    socket.on('error', () => resolve(answer));
  });
}

test('no log line carries a publisher secret, at trace level, whatever the requests', async (t) => {
  const server = await hostileServer(t, { LOG_LEVEL: 'trace', WORKERS: '1' });
  const publisher = await WhipPublisher.publish(`${server.baseUrl}/whip?effect=invert`);
  t.after(() => publisher.abandon());
  const path = new URL(publisher.resourceUrl).pathname;
  const secret = path.split('.').at(-1)!;
  assert.ok(secret.length >= 40);

  assert.equal((await fetch(publisher.resourceUrl)).status, 200);
  const patch = await fetch(publisher.resourceUrl, { method: 'PATCH', headers: { 'content-type': 'application/json' }, body: '{"effect":' });
  assert.equal(patch.status, 400);
  const put = await fetch(`${publisher.resourceUrl}/background`, { method: 'PUT', headers: { 'content-type': 'image/png' }, body: Buffer.from('not a png') });
  assert.equal(put.status, 400);
  // Refused by the HTTP parser: logged as a client error (trace).
  assert.match(await rawRequest(server.baseUrl, `GET ${path} HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n`), /^HTTP\/1.1 400/);
  assert.match(await rawRequest(server.baseUrl, `PATCH ${path} HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`), /^HTTP\/1.1 431/);
  assert.equal(await publisher.close(), 200);

  const logs = server.logs.join('');
  assert.match(logs, /client error/, 'the parse errors were logged');
  assert.ok(!logs.includes(secret), 'the secret is in no log line');
  assert.ok(!logs.includes('rawPacket'), 'no raw request bytes are logged');
});
