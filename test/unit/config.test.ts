import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ConfigError, loadConfig } from '../../src/config.ts';
import { chooseDevice } from '../../src/engine/device.ts';

test('defaults match the seed', () => {
  const c = loadConfig({});
  assert.equal(c.port, 8080);
  assert.equal(c.host, '0.0.0.0');
  assert.equal(c.device, 'auto');
  assert.equal(c.maxPixels, 3840 * 2160);
  assert.equal(c.maxIters, 100);
  assert.equal(c.p95WindowSeconds, 60);
  assert.ok(c.workers >= 1);
});

test('values parse from the environment', () => {
  const c = loadConfig({ PORT: '9000', WORKERS: '3', MAX_PIXELS: '1920x1080', DEVICE: 'CPU', CUDA_WANTED: 'false' });
  assert.equal(c.port, 9000);
  assert.equal(c.workers, 3);
  assert.equal(c.maxPixels, 1920 * 1080);
  assert.equal(c.device, 'cpu');
  assert.equal(c.cudaWanted, false);
});

test('every bad value is reported, naming its variable', () => {
  assert.throws(
    () => loadConfig({ PORT: 'eighty', WORKERS: '0', DEVICE: 'tpu', MAX_ITERS: '1.5' }),
    (err: unknown) => {
      assert.ok(err instanceof ConfigError);
      for (const name of ['PORT', 'WORKERS', 'DEVICE', 'MAX_ITERS']) assert.match(err.message, new RegExp(name));
      return true;
    },
  );
});

test('DEVICE=cuda and CUDA_WANTED=false contradict each other', () => {
  assert.throws(() => loadConfig({ DEVICE: 'cuda', CUDA_WANTED: 'false' }), /contradicts/);
});

test('device choice: auto without a usable GPU resolves to cpu and says why; cuda refuses to start', () => {
  const noGpu = () => ({ ok: false as const, reason: 'libcuda.so.1 not found' });
  const auto = chooseDevice({ device: 'auto', cudaWanted: true }, noGpu);
  assert.equal(auto.device, 'cpu');
  assert.match(auto.reason, /auto.*libcuda/);
  assert.equal(chooseDevice({ device: 'auto', cudaWanted: false }, noGpu).reason, 'CUDA_WANTED=false');
  assert.throws(() => chooseDevice({ device: 'cuda', cudaWanted: true }, noGpu), ConfigError);
});

test('PEER_DNS is resolved as an absolute name, so the search domains (and a wildcard in one) are never tried', () => {
  const secret = 'x'.repeat(32);
  assert.equal(loadConfig({ PEER_DNS: 'gpu-media-peers.rtc.svc.cluster.local', FLEET_SECRET: secret }).peerDns, 'gpu-media-peers.rtc.svc.cluster.local.');
  assert.equal(loadConfig({ PEER_DNS: 'gpu-media-peers.rtc.svc.cluster.local.', FLEET_SECRET: secret }).peerDns, 'gpu-media-peers.rtc.svc.cluster.local.');
  assert.throws(() => loadConfig({ PEER_DNS: 'bad_name', FLEET_SECRET: secret }), /PEER_DNS must be a DNS name/);
});

test('a fleet (PEERS or PEER_DNS) needs FLEET_SECRET, of at least 32 characters; one replica does not', () => {
  assert.throws(() => loadConfig({ PEERS: '10.0.0.1:8080,10.0.0.2:8080' }), /FLEET_SECRET is required when PEERS or PEER_DNS is set/);
  assert.throws(() => loadConfig({ PEER_DNS: 'peers.example' }), /FLEET_SECRET is required/);
  assert.throws(() => loadConfig({ PEERS: '10.0.0.1:8080', FLEET_SECRET: 'short' }), /FLEET_SECRET must be secrets of at least 32 characters/);
  assert.deepEqual(loadConfig({ PEERS: '10.0.0.1:8080', FLEET_SECRET: `${'a'.repeat(32)}, ${'b'.repeat(40)}` }).fleetSecret, ['a'.repeat(32), 'b'.repeat(40)]);
  assert.deepEqual(loadConfig({}).fleetSecret, []);
});

test('TURN credentials: minted from TURN_SECRET, or static only behind WHIP_TOKEN', () => {
  const turn = (extra: Record<string, string> = {}) => JSON.stringify([{ urls: ['turn:relay.example:3478'], ...extra }]);
  const secret = 's'.repeat(32);
  assert.equal(loadConfig({ ICE_SERVERS: turn(), TURN_SECRET: secret }).turnSecret, secret);
  assert.throws(() => loadConfig({ ICE_SERVERS: turn({ username: 'rtc', credential: 'pw' }) }), /static TURN credentials and WHIP_TOKEN is unset/);
  assert.throws(() => loadConfig({ ICE_SERVERS: turn({ username: 'rtc', credential: 'pw' }), TURN_SECRET: secret }), /leave username and credential out/);
  assert.throws(() => loadConfig({ ICE_SERVERS: turn() }), /TURN URLs without credentials and TURN_SECRET is unset/);
  assert.throws(() => loadConfig({ ICE_SERVERS: turn(), TURN_SECRET: 'short' }), /TURN_SECRET must be a secret of at least 32 characters/);
  assert.equal(loadConfig({ ICE_SERVERS: turn({ username: 'rtc', credential: 'pw' }), WHIP_TOKEN: 'tok' }).iceServers[0]?.username, 'rtc');
  assert.equal(loadConfig({ ICE_SERVERS: '[{"urls":"stun:stun.example:3478"}]' }).iceServers.length, 1, 'STUN needs nothing');
  assert.equal(loadConfig({}).turnCredentialTtlSeconds, 600);
});
