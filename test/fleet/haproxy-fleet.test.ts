/**
 * The local fleet helper itself: HAProxy spreads one client's calls over every replica, a killed
 * replica's share goes to the others without an error, and addReplica() puts a new server in the rotation.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { metricValue } from '../helpers.ts';
import { haveHaproxy, startFleet, type Replica } from './haproxy-fleet.ts';

const effectsCalls = async (replica: Replica): Promise<number> =>
  metricValue(await (await fetch(`${replica.url}/metrics`)).text(), 'app_requests_total', { endpoint: '/effects', status: '200' }) ?? 0;

test('round-robin over every replica; a killed replica is skipped; addReplica joins the rotation', { timeout: 120_000 }, async (t) => {
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
