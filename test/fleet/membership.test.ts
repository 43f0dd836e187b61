import assert from 'node:assert/strict';
import { test } from 'node:test';
import { selfAddressOf } from '../../src/fleet/fleet.ts';
import { DnsMembership, joinHostPort, StaticMembership } from '../../src/fleet/membership.ts';

test('PEERS: members are exactly the list (capped at MAX_PEERS)', async () => {
  const m = new StaticMembership(['10.0.0.1:8080', '10.0.0.2:8080', '10.0.0.3:8080'], 2);
  assert.ok(await m.isMember('10.0.0.1:8080'));
  assert.ok(!(await m.isMember('10.0.0.3:8080')), 'beyond MAX_PEERS');
  assert.ok(!(await m.isMember('10.0.0.1:8081')));
  assert.deepEqual(await m.members(), ['10.0.0.1:8080', '10.0.0.2:8080']);
  assert.equal(joinHostPort('fd00::1', 80), '[fd00::1]:80');
});

test('PEER_DNS: cached answers, at most one early lookup a second for unknown owners, last answer kept on errors', async () => {
  let nowMs = 0;
  let lookups = 0;
  let answer: string[] | Error = ['10.1.0.5', 'fd00::7'];
  const errors: unknown[] = [];
  const m = new DnsMembership({
    name: 'gpu-media-peers.gpu-media.svc.cluster.local',
    port: 8080,
    refreshSeconds: 5,
    maxPeers: 3,
    nowMs: () => nowMs,
    onError: (err) => errors.push(err),
    resolve: async (name) => {
      assert.equal(name, 'gpu-media-peers.gpu-media.svc.cluster.local');
      lookups++;
      if (answer instanceof Error) throw answer;
      return answer;
    },
  });
  assert.ok(await m.isMember('10.1.0.5:8080'));
  assert.ok(await m.isMember('[fd00::7]:8080'));
  assert.ok(!(await m.isMember('10.1.0.5:9999')), 'the port is the fleet port');
  assert.equal(lookups, 1);

  // A stream of forged owners within a second costs no lookup at all.
  for (let i = 0; i < 100; i++) assert.ok(!(await m.isMember(`10.9.9.${i}:8080`)));
  assert.equal(lookups, 1);
  // Concurrent checks share one lookup.
  nowMs = 1500;
  answer = ['10.1.0.5', '10.1.0.6'];
  const checks = await Promise.all(Array.from({ length: 20 }, () => m.isMember('10.1.0.6:8080')));
  assert.ok(checks.every(Boolean), 'a pod that just started is found by the early lookup');
  assert.equal(lookups, 2);
  assert.ok(!(await m.isMember('[fd00::7]:8080')), 'a departed pod is no longer a member');

  // Expiry refreshes even for known members; a failing lookup keeps the last answer.
  nowMs = 10_000;
  answer = new Error('SERVFAIL');
  assert.ok(await m.isMember('10.1.0.6:8080'));
  assert.equal(lookups, 3);
  assert.equal(errors.length, 1);

  // The set is capped.
  nowMs = 20_000;
  answer = ['10.2.0.1', '10.2.0.2', '10.2.0.3', '10.2.0.4'];
  assert.equal((await m.members()).length, 3);
});

test("a replica's own address: SELF_ADDRESS, else POD_IP:PORT, else its interface address in a DNS fleet, else loopback", () => {
  const nics = () => ({
    lo: [{ address: '127.0.0.1', family: 'IPv4', internal: true }],
    eth0: [{ address: '172.20.0.5', family: 'IPv4', internal: false }],
  }) as unknown as ReturnType<typeof import('node:os').networkInterfaces>;
  const base = { selfAddress: undefined, podIp: undefined, peerDns: undefined, port: 8080 };
  assert.equal(selfAddressOf({ ...base, selfAddress: 'media-1:9000', podIp: '10.0.0.1' }, nics), 'media-1:9000');
  assert.equal(selfAddressOf({ ...base, podIp: 'fd00::5' }, nics), '[fd00::5]:8080');
  assert.equal(selfAddressOf({ ...base, peerDns: 'gpu-media' }, nics), '172.20.0.5:8080');
  assert.equal(selfAddressOf(base, nics), '127.0.0.1:8080');
});
