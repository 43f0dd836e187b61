import assert from 'node:assert/strict';
import { test } from 'node:test';
import { clientKey } from '../../src/net/client-key.ts';
import { testApp } from '../helpers.ts';

test('client keys: IPv4 as is, IPv4-mapped as IPv4, IPv6 by its prefix (every spelling of one /64 is one key)', () => {
  assert.equal(clientKey('203.0.113.9', 64), '203.0.113.9');
  assert.equal(clientKey('::ffff:203.0.113.9', 64), '203.0.113.9');
  assert.equal(clientKey('::FFFF:cb00:7109', 64), '203.0.113.9');
  const key = clientKey('2001:db8:1:2::a', 64);
  assert.equal(key, '2001:db8:1:2:0:0:0:0/64');
  for (const same of ['2001:db8:1:2:ffff:ffff:ffff:ffff', '2001:0DB8:0001:0002:1::', '2001:db8:1:2::1.2.3.4', '2001:db8:1:2::1%eth0']) {
    assert.equal(clientKey(same, 64), key, same);
  }
  assert.notEqual(clientKey('2001:db8:1:3::a', 64), key);
  assert.equal(clientKey('2001:db8:1:2::a', 48), '2001:db8:1:0:0:0:0:0/48');
  assert.equal(clientKey('2001:db8:1:2::a', 56), clientKey('2001:db8:1:ff::', 56));
  assert.notEqual(clientKey('2001:db8:1:2::a', 56), clientKey('2001:db8:1:100::', 56));
  assert.equal(clientKey('2001:db8:1:2::a', 128), '2001:db8:1:2:0:0:0:a');
  assert.notEqual(clientKey('2001:db8:1:2::a', 128), clientKey('2001:db8:1:2::b', 128));
  assert.equal(clientKey('::1', 64), '0:0:0:0:0:0:0:0/64');
});

test('client keys: a port from X-Forwarded-For is dropped; NAT64 clients count by the IPv4 address they carry', () => {
  assert.equal(clientKey('203.0.113.9:51234', 64), '203.0.113.9');
  assert.equal(clientKey('203.0.113.9:80', 64), clientKey('203.0.113.9:81', 64));
  assert.equal(clientKey('[2001:db8:1:2::a]:443', 64), '2001:db8:1:2:0:0:0:0/64');
  assert.equal(clientKey('[2001:db8:1:2::a]', 64), '2001:db8:1:2:0:0:0:0/64');
  assert.equal(clientKey('[::ffff:203.0.113.9]:9', 64), '203.0.113.9');
  // 64:ff9b::/96 (RFC 6052): one IPv4 address per client behind the carrier's NAT64, not one /64 for all.
  assert.equal(clientKey('64:ff9b::203.0.113.9', 64), '203.0.113.9');
  assert.equal(clientKey('64:ff9b::cb00:710a', 64), '203.0.113.10');
  assert.notEqual(clientKey('64:ff9b::198.51.100.1', 64), clientKey('64:ff9b::198.51.100.2', 64));
  assert.equal(clientKey('[64:ff9b::198.51.100.1]:5000', 128), '198.51.100.1');
  // Only the well-known /96: the rest of 64:ff9b::/32 is counted as IPv6.
  assert.equal(clientKey('64:ff9b:1::198.51.100.1', 64), '64:ff9b:1:0:0:0:0:0/64');
});

test('the session rate limit counts an IPv6 client by its /64 (CLIENT_IPV6_PREFIX_BITS), not by each address', async (t) => {
  const offer = (app: Awaited<ReturnType<typeof testApp>>['app'], remoteAddress: string) =>
    app.inject({ method: 'POST', url: '/whip', remoteAddress, headers: { 'content-type': 'application/sdp' }, payload: 'not sdp' });
  const { app } = await testApp(t, { sessionRateLimitPerMinute: 2 });
  assert.equal((await offer(app, '2001:db8:1:2::a')).statusCode, 400);
  assert.equal((await offer(app, '2001:db8:1:2::b')).statusCode, 400);
  assert.equal((await offer(app, '2001:db8:1:2:dead:beef::1')).statusCode, 429, 'a third address in the same /64');
  assert.equal((await offer(app, '2001:db8:1:3::a')).statusCode, 400, 'the next /64 is another client');

  const perAddress = await testApp(t, { sessionRateLimitPerMinute: 2, clientIpv6PrefixBits: 128 });
  for (const last of ['a', 'b', 'c']) assert.equal((await offer(perAddress.app, `2001:db8:1:2::${last}`)).statusCode, 400);
});
