import assert from 'node:assert/strict';
import { test } from 'node:test';
import { loadConfig } from '../../src/config.ts';
import { InvalidEffectError } from '../../src/effects/catalog.ts';
import { parseJob } from '../../src/webrtc/job.ts';
import { portRangeOf } from '../../src/webrtc/session-registry.ts';

test('parseJob: query strings, change requests and their defaults', () => {
  assert.deepEqual(parseJob({}, 100), { effect: 'blur', params: {}, iters: 1 });
  assert.deepEqual(parseJob({ effect: 'gaussian', sigma: '4' }, 100), { effect: 'gaussian', params: { sigma: 4 }, iters: 1 });
  const current = parseJob({ effect: 'gaussian', sigma: '4', iters: '2' }, 100);
  assert.deepEqual(parseJob({ params: { sigma: 8 } }, 100, current), { effect: 'gaussian', params: { sigma: 8 }, iters: 2 });
  assert.deepEqual(parseJob({ iters: 0 }, 100, current), { effect: 'gaussian', params: { sigma: 4 }, iters: 0 });
  assert.deepEqual(parseJob({ effect: 'pixelate' }, 100, current), { effect: 'pixelate', params: { block: 16 }, iters: 2 });
  for (const bad of [{ effect: 'sepia' }, { effect: 7 }, { effect: 'gaussian', params: { sigma: 99 } }, { params: [1] }, { iters: -1 }, { iters: 101 }, { iters: '1.5' }]) {
    assert.throws(() => parseJob(bad, 100, current), InvalidEffectError, JSON.stringify(bad));
  }
});

test('WebRTC settings parse from the environment, naming bad variables', () => {
  const c = loadConfig({
    MAX_SESSIONS: '3',
    ICE_SERVERS: '[{"urls":"stun:stun.l.google.com:19302"},{"urls":["turn:t.example:3478"],"username":"u","credential":"p"}]',
    RTC_PORT_MIN: '40000',
    RTC_PORT_MAX: '40099',
    ANNOUNCED_IP: '203.0.113.9',
    CORS_ORIGINS: 'https://a.example, https://b.example',
    SLO_ADMISSION: 'false',
    WHIP_TOKEN: 's3cret',
  });
  assert.equal(c.maxSessions, 3);
  assert.deepEqual(c.iceServers, [{ urls: ['stun:stun.l.google.com:19302'] }, { urls: ['turn:t.example:3478'], username: 'u', credential: 'p' }]);
  assert.deepEqual(portRangeOf(c), { min: 40000, max: 40099 });
  assert.equal(c.announcedIp, '203.0.113.9');
  assert.deepEqual(c.corsOrigins, ['https://a.example', 'https://b.example']);
  assert.equal(c.sloAdmission, false);
  assert.equal(c.whipToken, 's3cret');

  const d = loadConfig({});
  assert.deepEqual([d.iceServers, d.corsOrigins, d.announcedIp, d.whipToken, d.sessionDrainSeconds], [[], [], undefined, undefined, 60]);
  assert.equal(portRangeOf(d), undefined);

  assert.throws(
    () => loadConfig({ ICE_SERVERS: '[{"urls":"http://x"}]', ANNOUNCED_IP: 'example.com', MAX_SESSIONS: '0', FRAME_SLO_MS: 'fast' }),
    (err: unknown) => err instanceof Error && ['ICE_SERVERS', 'ANNOUNCED_IP', 'MAX_SESSIONS', 'FRAME_SLO_MS'].every((n) => err.message.includes(n)),
  );
  assert.throws(() => loadConfig({ ICE_SERVERS: '{' }), /ICE_SERVERS/);
  assert.throws(() => portRangeOf({ rtcPortMin: 40000, rtcPortMax: undefined }), /together/);
  assert.throws(() => portRangeOf({ rtcPortMin: 40100, rtcPortMax: 40000 }), /RTC_PORT_MIN/);
});
