// A replica started mid-run gets its share of rtc-load's traffic through a balancer that, like
// kube-proxy, balances connections rather than requests (HAProxy in TCP mode). Without
// --requests-per-connection the connections opened before it came up keep all the load.
// (A minimal HAProxy of its own: test/fleet's helper balances each request in HTTP mode.)
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { freePort } from '../ports.ts';
import { haveTool } from '../tools.ts';
import { runRtcLoad } from './fixtures.ts';
import { waitUntil } from '../wait.ts';

interface Replica {
  count: number;
  server: Server;
}

async function startReplica(port: number): Promise<Replica> {
  const replica: Replica = { count: 0, server: createServer() };
  replica.server.on('request', (request, response) => {
    request.resume();
    if (request.url?.startsWith('/process')) replica.count++;
    response.end('ok');
  });
  replica.server.listen(port, '127.0.0.1');
  await once(replica.server, 'listening');
  return replica;
}

async function stopReplica(replica: Replica): Promise<void> {
  replica.server.closeAllConnections();
  await new Promise<void>((resolve) => replica.server.close(() => resolve()));
}

/** HAProxy in TCP mode over two server slots; the second is down (health checks fail) until it listens. */
async function startBalancer(t: TestContext, ports: readonly number[]): Promise<number> {
  const dir = mkdtempSync(join(tmpdir(), 'rtc-rebalance-'));
  const port = await freePort();
  const config = [
    'global',
    '  maxconn 1000',
    'defaults',
    '  mode tcp',
    '  timeout connect 1s',
    '  timeout client 30s',
    '  timeout server 30s',
    'frontend fe',
    `  bind 127.0.0.1:${port}`,
    '  default_backend be',
    'backend be',
    '  balance roundrobin',
    ...ports.map((p, i) => `  server r${i} 127.0.0.1:${p} check inter 200ms fall 1 rise 1`),
    '',
  ].join('\n');
  writeFileSync(join(dir, 'haproxy.cfg'), config);
  const child: ChildProcess = spawn('haproxy', ['-db', '-f', join(dir, 'haproxy.cfg')], { stdio: ['ignore', 'ignore', 'pipe'] });
  t.after(async () => {
    if (child.exitCode === null) {
      const exited = once(child, 'exit');
      child.kill('SIGTERM');
      await exited;
    }
    rmSync(dir, { recursive: true, force: true });
  });
  // Ready once it accepts connections.
  await waitUntil('haproxy to accept connections', async () => (await fetch(`http://127.0.0.1:${port}/healthz`, { signal: AbortSignal.timeout(500) })) !== undefined, {
    timeoutMs: 5000,
    intervalMs: 100,
    untilNoError: true,
  });
  return port;
}

/** Runs 4 s of closed-loop load (4 connections, opened at once); the second replica comes up once the first has answered 300 requests. Returns its share of what followed. */
async function newReplicaShare(t: TestContext, extraArgs: readonly string[]): Promise<{ share: number; afterStart: number }> {
  const [portA, portB] = [await freePort(), await freePort()];
  const first = await startReplica(portA);
  t.after(() => stopReplica(first));
  const balancer = await startBalancer(t, [portA, portB]);
  const run = runRtcLoad([`http://127.0.0.1:${balancer}/process?pixels=64x64`, '--concurrency', '4', '--duration', '4s', ...extraArgs], 30_000);
  // The second replica comes up once the load is flowing (the CLI's start-up time varies).
  await waitUntil('the first replica to answer 300 requests', () => first.count >= 300, { timeoutMs: 20_000 });
  const second = await startReplica(portB);
  t.after(() => stopReplica(second));
  const firstAtStart = first.count;
  const result = await run;
  assert.equal(result.code, 0, result.stderr);
  const afterStart = first.count - firstAtStart + second.count;
  return { share: second.count / Math.max(1, afterStart), afterStart };
}

test('a replica started mid-run gets its share when connections are recycled, and none when they are kept', { timeout: 60_000 }, async (t) => {
  if (!haveTool(t, 'haproxy')) return;
  const recycled = await newReplicaShare(t, ['--requests-per-connection', '10']);
  t.diagnostic(`recycled: new replica got ${(recycled.share * 100).toFixed(0)}% of ${recycled.afterStart} requests after it started`);
  assert.ok(recycled.afterStart > 200, `enough requests after the start: ${recycled.afterStart}`);
  assert.ok(recycled.share > 0.25, `the new replica's share with recycling: ${recycled.share}`);

  const kept = await newReplicaShare(t, []);
  t.diagnostic(`kept: new replica got ${(kept.share * 100).toFixed(0)}% of ${kept.afterStart} requests after it started`);
  assert.ok(kept.share < 0.1, `without recycling the old connections keep the load: ${kept.share}`);
});
