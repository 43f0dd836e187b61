import assert from 'node:assert/strict';
import { test } from 'node:test';
import { IceServerSource, parseIceServerLinks } from '../../tools/rtc-load/webrtc/ice-servers.ts';
import { listeningApp } from '../webrtc/support.ts';

test("rtc-load webrtc takes the endpoint's ICE servers from OPTIONS: the TURN relay with the credential minted for it", async (t) => {
  // No media worker thread (half a CPU-second to start): OPTIONS lists ICE servers, no frame is processed.
  const { base } = await listeningApp(t, {
    mediaWorkers: 0,
    iceServers: [{ urls: ['turn:203.0.113.10:3478?transport=udp', 'turn:203.0.113.11:3478?transport=tcp'] }, { urls: ['stun:stun.example.org:3478'] }],
    turnSecret: 'a-shared-secret-of-some-length',
  });
  const servers = await new IceServerSource(`${base}/whip?effect=invert`, undefined, 5000).servers();
  const urls = servers.map((s) => s.urls);
  assert.deepEqual(urls, ['turn:203.0.113.10:3478?transport=udp', 'turn:203.0.113.11:3478?transport=tcp', 'stun:stun.example.org:3478']);
  const turn = servers[0];
  assert.match(turn?.username ?? '', /^\d+:/, 'an ephemeral username (expiry:id)');
  assert.ok((turn?.credential ?? '').length > 10);
  assert.equal(servers[2]?.username, undefined, 'STUN without credentials');

  // A server that lists none, or does not answer: no ICE servers, the publish goes on.
  assert.deepEqual(await new IceServerSource('http://127.0.0.1:9/whip', undefined, 500).servers(), []);
  assert.deepEqual(parseIceServerLinks(null), []);
  assert.deepEqual(parseIceServerLinks('<https://example.org/next>; rel="next"'), []);
  assert.deepEqual(parseIceServerLinks('<turn:h:3478>; rel="ice-server"; username="a\\"b"; credential="c"'), [{ urls: 'turn:h:3478', username: 'a"b', credential: 'c' }]);
});
