import assert from 'node:assert/strict';
import { test } from 'node:test';
import { announceAddress, fragmentOf, parseSdpFragment, SdpError, validateOffer, withIceCredentials } from '../../src/webrtc/sdp.ts';

const offer = [
  'v=0',
  'o=- 1 2 IN IP4 127.0.0.1',
  's=-',
  't=0 0',
  'a=group:BUNDLE 0 1',
  'm=video 9 UDP/TLS/RTP/SAVPF 96',
  'c=IN IP4 0.0.0.0',
  'a=ice-ufrag:abcd',
  'a=ice-pwd:abcdefghijklmnopqrstuvwx',
  'a=fingerprint:sha-256 00:11',
  'a=mid:0',
  'a=sendrecv',
  'a=candidate:1 1 udp 2122260223 10.0.0.5 40000 typ host generation 0 network-id 1',
  'a=candidate:2 1 udp 2122194687 192.168.1.9 40000 typ host generation 0 network-id 2',
  'a=candidate:3 1 tcp 1518280447 10.0.0.5 40000 typ host tcptype passive generation 0 network-id 1',
  'a=candidate:4 1 udp 1686052607 203.0.113.7 40000 typ srflx raddr 10.0.0.5 rport 40000 generation 0',
  'm=audio 9 UDP/TLS/RTP/SAVPF 111',
  'a=mid:1',
  'a=recvonly',
  '',
].join('\r\n');

test('validateOffer accepts an offer with video, ICE credentials and a fingerprint', () => {
  assert.deepEqual(validateOffer(offer), { video: ['sendrecv'], iceUfrag: 'abcd', sections: 2 });
});

test('validateOffer names what is wrong', () => {
  const cases: [string, RegExp][] = [
    ['', /v=0/],
    ['hello', /v=0/],
    ['v=0\r\nnot sdp\r\n', /not an SDP line/],
    [offer.replace(/m=video[^]*?(?=m=audio)/, ''), /no video/],
    [offer.replace(/a=ice-pwd:\S+\r\n/, ''), /ICE credentials/],
    [offer.replace(/a=fingerprint:\S+ \S+\r\n/, ''), /fingerprint/],
    ['v=0\r\n' + 'a=x\r\n'.repeat(20_000), /larger/],
  ];
  for (const [sdp, message] of cases) assert.throws(() => validateOffer(sdp), (err: unknown) => err instanceof SdpError && message.test(err.message), message.source);
});

test('parseSdpFragment reads candidates with their mid, credentials and end-of-candidates', () => {
  const frag = parseSdpFragment('a=ice-ufrag:EsAw\r\na=ice-pwd:P2uYro0UCOQ4zxjKXaWCBui1\r\nm=audio 9 RTP/AVP 0\r\na=mid:0\r\na=candidate:1387637174 1 udp 2122260223 192.0.2.1 61764 typ host generation 0\r\na=end-of-candidates\r\n');
  assert.equal(frag.iceUfrag, 'EsAw');
  assert.equal(frag.icePwd, 'P2uYro0UCOQ4zxjKXaWCBui1');
  assert.deepEqual(frag.candidates, [{ candidate: 'candidate:1387637174 1 udp 2122260223 192.0.2.1 61764 typ host generation 0', mid: '0' }]);
  assert.equal(frag.endOfCandidates, true);
  assert.throws(() => parseSdpFragment('a=ice-ufrag:only\r\n'), /both/);
  assert.throws(() => parseSdpFragment('a=candidate:1 1 udp\r\n'), /malformed candidate/);
  assert.throws(() => parseSdpFragment('garbage'), /not an SDP line/);
});

test('announceAddress rewrites host candidates and c= lines, once per transport', () => {
  const out = announceAddress(offer, '198.51.100.20');
  const candidates = out.split('\r\n').filter((l) => l.startsWith('a=candidate:'));
  assert.deepEqual(candidates, [
    'a=candidate:1 1 udp 2122260223 198.51.100.20 40000 typ host generation 0 network-id 1',
    'a=candidate:3 1 tcp 1518280447 198.51.100.20 40000 typ host tcptype passive generation 0 network-id 1',
    'a=candidate:4 1 udp 1686052607 203.0.113.7 40000 typ srflx raddr 10.0.0.5 rport 40000 generation 0',
  ]);
  assert.match(out, /^c=IN IP4 198\.51\.100\.20$/m);
  assert.match(announceAddress(offer, '2001:db8::1'), /^c=IN IP6 2001:db8::1$/m);
});

test('ICE restart helpers: new credentials without old candidates; the local fragment', () => {
  const restarted = withIceCredentials(offer, 'newU', 'newP');
  assert.match(restarted, /^a=ice-ufrag:newU$/m);
  assert.match(restarted, /^a=ice-pwd:newP$/m);
  assert.doesNotMatch(restarted, /a=candidate/);
  const frag = fragmentOf(offer);
  assert.match(frag, /^a=ice-ufrag:abcd\r\na=ice-pwd:abcdefghijklmnopqrstuvwx\r\nm=video 9 UDP\/TLS\/RTP\/SAVPF 96\r\na=mid:0\r\n/);
  assert.equal(frag.split('\r\n').filter((l) => l.startsWith('a=candidate:')).length, 4);
  assert.match(frag, /a=end-of-candidates\r\n$/);
});
