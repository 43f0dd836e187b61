/**
 * TURN (issue 19, item 3) against a real coturn run with the arguments the manifest gives it
 * (k8s/components/webrtc-turn) and the real server that mints credentials for it: each answer
 * carries its own credential, good until its expiry; the relay takes no static, expired or foreign
 * credential and relays to no private, loopback, link-local, metadata or public peer, only to the
 * media pods' range (here 127.0.0.1 stands for it); OPTIONS past TURN_CREDENTIALS_PER_MINUTE is 429.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import YAML from 'yaml';
import { mintTurnCredential } from '../../src/http/ice-links.ts';
import { Peer, VideoOutput } from '../../src/webrtc/peer.ts';
import { metricValue } from '../helpers.ts';
import { freePort } from '../ports.ts';
import { haveTool } from '../tools.ts';
import { hostileServer, metricsText } from './support.ts';
import { TurnClient, type TurnAnswer } from './turn-client.ts';
import { waitUntil } from '../wait.ts';

const SECRET = 'turn-test-secret-0123456789abcdefghijkl';
const MEDIA = '127.0.0.1';

/** coturn's arguments from the manifest, with this machine's port, secret and media range. */
function manifestArgs(port: number, dir: string): string[] {
  const text = fs.readFileSync(new URL('../../k8s/components/webrtc-turn/turn-deployment.yaml', import.meta.url), 'utf8');
  const deployment = YAML.parse(text) as { spec: { template: { spec: { containers: { args: string[] }[] } } } };
  const args = deployment.spec.template.spec.containers[0]!.args.map((a) =>
    a
      .replace(/^--listening-port=.*/, `--listening-port=${port}`)
      .replace('$(TURN_SECRET)', SECRET)
      .replace('$(TURN_ALLOWED_PEER_RANGE)', MEDIA)
      .replace(/^--pidfile=.*/, `--pidfile=${path.join(dir, 'turnserver.pid')}`),
  );
  assert.ok(!args.some((a) => a.includes('$(')), 'every variable substituted');
  // Loopback on both sides here: coturn takes loopback peers into account only when told to.
  return [...args, '--listening-ip=127.0.0.1', '--relay-ip=127.0.0.1', '--allow-loopback-peers'];
}

interface Link {
  readonly url: string;
  readonly username?: string;
  readonly credential?: string;
}

function parseLinks(header: string | null): Link[] {
  return (header ?? '')
    .split(/,\s*(?=<)/)
    .filter((l) => l !== '')
    .map((l) => {
      const attr = (k: string) => new RegExp(`;\\s*${k}="((?:[^"\\\\]|\\\\.)*)"`).exec(l)?.[1]?.replace(/\\(.)/g, '$1');
      const username = attr('username');
      const credential = attr('credential');
      return { url: /^<([^>]+)>/.exec(l)![1]!, ...(username ? { username } : {}), ...(credential ? { credential } : {}) };
    });
}

async function allocate(port: number, username: string, password: string): Promise<{ answer: TurnAnswer; client: TurnClient }> {
  const client = new TurnClient('127.0.0.1', port);
  return { answer: await client.allocate(username, password), client };
}

test('TURN: a credential minted per answer, expiring; the relay reaches only the media pods', { timeout: 120_000 }, async (t) => {
  if (!haveTool(t, 'turnserver')) return;
  const port = await freePort();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'turn-'));
  const relay = spawn('turnserver', manifestArgs(port, dir), { stdio: ['ignore', 'pipe', 'pipe'] });
  const relayLog: string[] = [];
  relay.stdout.on('data', (c: Buffer) => relayLog.push(c.toString()));
  relay.stderr.on('data', (c: Buffer) => relayLog.push(c.toString()));
  t.after(() => {
    relay.kill('SIGKILL');
    fs.rmSync(dir, { recursive: true, force: true });
  });
  // Ready once it answers an allocation (401: it wants credentials).
  await waitUntil(
    'coturn to answer an allocation',
    async () => {
      const probe = new TurnClient('127.0.0.1', port);
      const answer = await probe.allocate('x', 'y').catch(() => undefined);
      probe.close();
      return answer === 401;
    },
    { timeoutMs: 15_000, detail: () => relayLog.join('') },
  );

  const server = await hostileServer(t, {
    TURN_SECRET: SECRET,
    ICE_SERVERS: JSON.stringify([{ urls: [`stun:127.0.0.1:${port}`] }, { urls: [`turn:127.0.0.1:${port}?transport=udp`] }]),
    TURN_CREDENTIALS_PER_MINUTE: '4',
    MAX_EVENT_LOOP_DELAY_MS: '0',
    SLO_ADMISSION: 'false',
  });
  const options = async (headers: Record<string, string> = {}) => fetch(`${server.baseUrl}/whip`, { method: 'OPTIONS', headers });

  // Each OPTIONS answer has its own credential, expiring TURN_CREDENTIAL_TTL_SECONDS (600) from now.
  const first = parseLinks((await options()).headers.get('link'));
  const second = parseLinks((await options()).headers.get('link'));
  assert.deepEqual(first[0], { url: `stun:127.0.0.1:${port}` }, 'STUN without credentials');
  const turn = first[1]!;
  assert.match(turn.username ?? '', /^\d+:[A-Za-z0-9_-]+$/);
  const expiry = Number(turn.username!.split(':')[0]);
  assert.ok(Math.abs(expiry - (Date.now() / 1000 + 600)) < 30, `expires in about 600 s (${expiry})`);
  assert.notEqual(second[1]!.username, turn.username);
  assert.notEqual(second[1]!.credential, turn.credential);

  // The relay takes it, and relays to the media range only.
  const { answer, client } = await allocate(port, turn.username!, turn.credential!);
  t.after(() => client.close());
  assert.equal(answer, 'ok', relayLog.join(''));
  assert.equal(await client.createPermission(MEDIA), 'ok', 'the media pods');
  const denied = ['10.1.2.3', '172.16.0.9', '192.168.1.1', '100.64.0.1', '127.0.0.2', '169.254.169.254', '0.0.0.1', '198.18.0.1', '224.0.0.251', '203.0.113.7', '8.8.8.8'];
  for (const peer of denied) assert.equal(await client.createPermission(peer), 403, `${peer} must be refused`);

  // Credentials it did not mint, or that expired, open nothing.
  const refused: [string, string, string][] = [
    ['expired', ...(Object.values(mintTurnCredential(SECRET, Date.now() / 1000 - 5)) as [string, string])],
    ['another secret', ...(Object.values(mintTurnCredential('some-other-secret-0123456789abcdefghij', Date.now() / 1000 + 600)) as [string, string])],
    ['static', 'rtc', 'password'],
  ];
  for (const [why, username, password] of refused) {
    const attempt = await allocate(port, username, password);
    attempt.client.close();
    assert.equal(attempt.answer, 401, why);
  }

  // A new session's answer carries a fresh credential too.
  const peer = new Peer({ iceServers: [], gatherTimeoutMs: 500, onListenerError: () => undefined });
  const output = new VideoOutput();
  const offer = await peer.offer({ send: output, receive: true });
  peer.close();
  output.close();
  const created = await fetch(`${server.baseUrl}/whip`, { method: 'POST', headers: { 'content-type': 'application/sdp' }, body: offer });
  assert.equal(created.status, 201, `${await created.clone().text()} ${server.logs.join("").slice(-3000)}`);
  const fresh = parseLinks(created.headers.get('link'))[1]!;
  assert.ok(fresh.username && ![turn.username, second[1]!.username].includes(fresh.username));

  // One address gets TURN_CREDENTIALS_PER_MINUTE (4) OPTIONS answers a minute; a CORS preflight mints none.
  const preflight = parseLinks((await options({ origin: 'https://a.example', 'access-control-request-method': 'POST' })).headers.get('link'));
  assert.ok(preflight.every((l) => l.credential === undefined));
  assert.equal((await options()).status, 204);
  assert.equal((await options()).status, 204);
  const over = await options();
  assert.equal(over.status, 429);
  assert.ok(Number(over.headers.get('retry-after')) >= 1);
  assert.equal(((await over.json()) as { error: string }).error, 'rate_limited');
  assert.equal(metricValue(await metricsText(server.baseUrl), 'app_rejected_total', { reason: 'turn_credentials' }), 1);
  assert.equal((await fetch(`${server.baseUrl}/effects`)).status, 200, 'an ordinary client is served');
});
