import assert from 'node:assert/strict';
import { test } from 'node:test';
import { addressVerdict, candidatePolicy, candidateVerdict, filterSdpCandidates, parseCidr } from '../../src/net/candidates.ts';

const open = candidatePolicy([], []);

test('addressVerdict: what a pod on the internet must never probe, and what it may', () => {
  const cases: [string, string | undefined][] = [
    ['127.0.0.1', 'loopback'],
    ['127.255.0.9', 'loopback'],
    ['::1', 'loopback'],
    ['::ffff:127.0.0.1', 'loopback'],
    ['::ffff:7f00:1', 'loopback'],
    ['64:ff9b::7f00:1', 'loopback'],
    ['0.0.0.0', 'unspecified'],
    ['::', 'unspecified'],
    ['224.0.0.251', 'multicast'],
    ['ff02::fb', 'multicast'],
    ['169.254.169.254', 'metadata'],
    ['::ffff:169.254.169.254', 'metadata'],
    ['fd00:ec2::254', 'metadata'],
    ['100.100.100.200', 'metadata'],
    ['169.254.10.1', 'link_local'],
    ['fe80::1', 'link_local'],
    ['fe80::1%eth0', 'link_local'],
    ['10.1.2.3', 'private'],
    ['172.16.0.1', 'private'],
    ['172.31.255.255', 'private'],
    ['192.168.1.9', 'private'],
    ['100.64.0.1', 'private'],
    ['100.127.255.1', 'private'],
    ['fd12:3456::1', 'private'],
    ['fc00::1', 'private'],
    ['192.0.2.1', 'reserved'],
    ['203.0.113.7', 'reserved'],
    ['255.255.255.255', 'reserved'],
    ['2001:db8::1', 'reserved'],
    ['8a7b1c2d-0000-4000-8000-123456789abc.local', 'hostname'],
    ['metadata.google.internal', 'hostname'],
    ['2130706433', 'hostname'],
    ['0x7f.0.0.1', 'hostname'],
    ['172.32.0.1', undefined],
    ['100.128.0.1', undefined],
    ['8.8.8.8', undefined],
    ['2606:4700::1111', undefined],
    ['::ffff:8.8.8.8', undefined],
  ];
  for (const [address, expected] of cases) assert.equal(addressVerdict(address, open), expected, address);
});

test('ICE_CANDIDATE_ALLOW_CIDRS opens a LAN or VPN; never loopback or metadata; ICE_CANDIDATE_DENY_CIDRS wins', () => {
  const lan = candidatePolicy(['192.168.0.0/16', '169.254.0.0/16', '127.0.0.0/8', 'fd00::/8'], ['192.168.7.0/24', '8.8.8.8']);
  assert.equal(addressVerdict('192.168.1.9', lan), undefined);
  assert.equal(addressVerdict('fd00::2', lan), undefined);
  assert.equal(addressVerdict('10.0.0.1', lan), 'private');
  assert.equal(addressVerdict('169.254.3.3', lan), undefined);
  assert.equal(addressVerdict('169.254.169.254', lan), 'metadata');
  assert.equal(addressVerdict('127.0.0.1', lan), 'loopback');
  assert.equal(addressVerdict('192.168.7.7', lan), 'denied');
  assert.equal(addressVerdict('8.8.8.8', lan), 'denied');
  assert.equal(addressVerdict('8.8.4.4', lan), undefined);
});

test('parseCidr takes addresses and CIDRs and refuses the rest', () => {
  assert.equal(parseCidr('10.0.0.0/8').bits, 8);
  assert.equal(parseCidr('fd00::/8').family, 6);
  assert.equal(parseCidr('192.0.2.4').bits, 32);
  for (const bad of ['10.0.0.0/33', 'fd00::/129', '10.0.0/8', 'x', '10.0.0.0/8/1', '10.0.0.0/-1']) assert.throws(() => parseCidr(bad), /not an address or CIDR/, bad);
});

test('candidateVerdict reads the address of a candidate line; filterSdpCandidates removes the dropped ones', () => {
  assert.equal(candidateVerdict('candidate:1 1 udp 2122260223 127.0.0.1 5000 typ host', open), 'loopback');
  assert.equal(candidateVerdict('a=candidate:1 1 tcp 1518280447 10.0.0.5 9 typ host tcptype active', open), 'private');
  assert.equal(candidateVerdict('candidate:4 1 udp 1686052607 198.51.100.77 40000 typ srflx raddr 10.0.0.5 rport 40000', open), 'reserved');
  assert.equal(candidateVerdict('candidate:4 1 udp 1686052607 8.8.8.8 40000 typ srflx raddr 10.0.0.5 rport 40000', open), undefined);
  assert.equal(candidateVerdict('candidate:1 1 udp 1 8.8.8.8 x typ host', open), 'malformed');
  const sdp = [
    'v=0',
    'm=video 9 UDP/TLS/RTP/SAVPF 96',
    'a=candidate:1 1 udp 2122260223 10.0.0.5 40000 typ host',
    'a=candidate:2 1 udp 2122260223 127.0.0.1 40000 typ host',
    'a=candidate:3 1 udp 1686052607 8.8.8.8 40000 typ srflx raddr 10.0.0.5 rport 40000',
    'a=candidate:4 1 udp 2122260223 abc.local 40000 typ host',
    '',
  ].join('\r\n');
  const { sdp: out, kept, dropped } = filterSdpCandidates(sdp, open);
  assert.equal(kept, 1);
  assert.deepEqual(dropped, ['private', 'loopback', 'hostname']);
  assert.equal(out, ['v=0', 'm=video 9 UDP/TLS/RTP/SAVPF 96', 'a=candidate:3 1 udp 1686052607 8.8.8.8 40000 typ srflx raddr 10.0.0.5 rport 40000', ''].join('\r\n'));
});
