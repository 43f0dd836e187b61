/**
 * The local fleet helper itself: HAProxy spreads one client's calls over every replica, a killed
 * replica's share goes to the others without an error, and addReplica() puts a new server in the rotation.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import YAML from 'yaml';
import { metricValue } from '../helpers.ts';
import { haproxyPath, haveHaproxy, startFleet, type Replica } from './haproxy-fleet.ts';

const effectsCalls = async (replica: Replica): Promise<number> =>
  metricValue(await (await fetch(`${replica.url}/metrics`)).text(), 'app_requests_total', { endpoint: '/effects', status: '200' }) ?? 0;

test('round-robin over every replica; a killed replica is skipped; addReplica joins the rotation', { timeout: 300_000 }, async (t) => {
  if (!haveHaproxy(t)) return;
  const fleet = await startFleet({ replicas: 2, spareSlots: 1 });
  t.after(() => fleet.close());
  assert.equal(fleet.replicas.length, 2);
  assert.equal(fleet.peers.length, 3);

  // One keep-alive client (fetch reuses its connection): the balancer still alternates per request.
  for (let i = 0; i < 6; i++) assert.equal((await fetch(`${fleet.url}/effects`)).status, 200);
  assert.deepEqual(await Promise.all(fleet.replicas.map(effectsCalls)), [3, 3]);

  const added = await fleet.addReplica();
  assert.equal(fleet.replicas.length, 3);
  for (let i = 0; i < 9; i++) assert.equal((await fetch(`${fleet.url}/effects`)).status, 200);
  assert.ok((await effectsCalls(added)) >= 2, 'the added replica gets its share');

  await fleet.replicas[0]!.stop('SIGKILL');
  for (let i = 0; i < 6; i++) assert.equal((await fetch(`${fleet.url}/effects`)).status, 200, 'a killed replica costs no failed call');
  await assert.rejects(fleet.addReplica(), /slots/);
});

test('docker-compose.yml: replicas behind the balancer, one HAProxy server and one Prometheus target per replica', (t) => {
  if (!haveHaproxy(t)) return;
  const root = new URL('../../', import.meta.url);
  const compose = YAML.parse(fs.readFileSync(new URL('docker-compose.yml', root), 'utf8')) as {
    services: Record<string, { deploy?: { replicas?: number }; ports?: string[]; environment?: Record<string, string>; volumes?: string[] }>;
  };
  const replicas = compose.services['gpu-media']?.deploy?.replicas ?? 1;
  assert.ok(replicas >= 3);
  assert.equal(compose.services['gpu-media']?.ports, undefined, 'clients reach the replicas through the balancer only');
  assert.equal(compose.services['gpu-media']?.environment?.PEER_DNS, 'gpu-media');
  assert.ok(compose.services.balancer?.volumes?.includes('./compose/haproxy.cfg:/usr/local/etc/haproxy/haproxy.cfg:ro'));
  const cfg = fs.readFileSync(new URL('compose/haproxy.cfg', root), 'utf8');
  const servers = [...cfg.matchAll(/^\s+server \S+ (\S+):8080$/gm)].map((m) => m[1]);
  assert.deepEqual(servers, Array.from({ length: replicas }, (_, i) => `rtc-scale-gpu-media-${i + 1}`));
  assert.match(cfg, /balance roundrobin/);
  assert.match(cfg, /http-request del-header \^x-rtc-scale- -m reg/);
  // The balancer writes the client's address and the replicas believe it from the balancer only.
  assert.match(cfg, /http-request set-header X-Forwarded-For %\[src\]/);
  const balancer = (compose.services.balancer as { networks?: { default?: { ipv4_address?: string } } }).networks?.default?.ipv4_address;
  assert.ok(balancer, 'the balancer has a fixed address');
  assert.equal(compose.services['gpu-media']?.environment?.TRUST_PROXY, balancer);
  assert.match(compose.services['gpu-media']?.environment?.FLEET_SECRET ?? '', /^\$\{FLEET_SECRET:-.{32,}\}$/, 'a fleet secret, overridable');
  const check = spawnSync(haproxyPath()!, ['-c', '-f', fileURLToPath(new URL('compose/haproxy.cfg', root))], { encoding: 'utf8' });
  assert.equal(check.status, 0, check.stdout + check.stderr);
  const prom = YAML.parse(fs.readFileSync(new URL('observability/prometheus.yml', root), 'utf8')) as {
    scrape_configs: { job_name: string; static_configs: { targets: string[] }[] }[];
  };
  const targets = prom.scrape_configs.find((j) => j.job_name === 'gpu-media')?.static_configs.flatMap((s) => s.targets);
  assert.deepEqual(targets, servers.map((s) => `${s}:8080`));
});
