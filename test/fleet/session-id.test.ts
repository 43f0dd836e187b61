import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import {
  addressOfOwnerKey,
  mintSession,
  mintViewer,
  ownerKeyOf,
  parseId,
  parsePublisherId,
  parseViewerId,
  parseWatchId,
  publisherResourceId,
  secretMatches,
  viewerResourceId,
  watchPathOf,
} from '../../src/fleet/session-id.ts';

test('a minted session names its owner; publisher, watch and viewer ids parse back', () => {
  const { sessionId, publisherSecret } = mintSession('10.4.2.17:8080');
  assert.ok(sessionId.startsWith(`${ownerKeyOf('10.4.2.17:8080')}.`));
  assert.equal(Buffer.from(sessionId.split('.')[0]!, 'base64url').toString(), '10.4.2.17:8080');
  const resource = publisherResourceId(sessionId, publisherSecret);
  assert.deepEqual(parsePublisherId(resource), { sessionId, secret: publisherSecret });
  assert.equal(parseId(resource)?.owner, '10.4.2.17:8080');
  assert.equal(parseWatchId(sessionId), sessionId);
  assert.equal(parseWatchId(resource), undefined, 'a publisher id is not a watch id');
  assert.equal(parsePublisherId(sessionId), undefined, 'a watch id is not a publisher id');
  assert.equal(watchPathOf(`http://lb/whip/${resource}`), `/whep/${sessionId}`);

  const { viewerId, viewerSecret } = mintViewer();
  assert.deepEqual(parseViewerId(viewerResourceId(viewerId, viewerSecret)), { viewerId, secret: viewerSecret });
  assert.notEqual(mintSession('10.4.2.17:8080').sessionId, sessionId);
  assert.ok(publisherSecret.length >= 43, '256-bit secret');
});

test('owner keys name host:port only: IPv4, [IPv6], DNS names; nothing else decodes', () => {
  for (const address of ['127.0.0.1:8080', '[fd00::12]:8080', 'gpu-media-0.gpu-media-peers:8080', '169.254.169.254:80']) {
    assert.equal(addressOfOwnerKey(ownerKeyOf(address)), address);
  }
  for (const bad of ['', 'no-port', 'http://x:1', 'a:70000', 'a b:1', 'user@host:22', 'host:1/path', '::1:80', '127.0.0.1:8080\n', 'a:']) {
    assert.equal(addressOfOwnerKey(ownerKeyOf(bad)), undefined, JSON.stringify(bad));
  }
  // Non-canonical base64url (stray trailing bits) is refused, so one address has one key.
  const key = ownerKeyOf('127.0.0.1:8080');
  assert.equal(addressOfOwnerKey(`${key.slice(0, -1)}B`), undefined);
  assert.equal(addressOfOwnerKey('x'.repeat(1000)), undefined);
  for (const bad of ['', '.', 'a.b.c.d', `${key}`, `${key}.`, `${key}.a b`, `${key}.ok.with/slash`, '00000000-0000-0000-0000-000000000000']) {
    assert.equal(parseId(bad), undefined, bad);
  }
});

test('any string parses or is refused; never throws', () => {
  fc.assert(
    fc.property(fc.string({ maxLength: 400 }), (s) => {
      parseId(s);
      parsePublisherId(s);
      parseViewerId(s);
      watchPathOf(s);
    }),
  );
});

test('secrets compare in constant time, whatever their length', () => {
  const { publisherSecret } = mintSession('127.0.0.1:1');
  assert.ok(secretMatches(publisherSecret, publisherSecret));
  assert.ok(!secretMatches(`${publisherSecret}x`, publisherSecret));
  assert.ok(!secretMatches('', publisherSecret));
  assert.ok(!secretMatches(publisherSecret.replace(/^./, (c) => (c === 'A' ? 'B' : 'A')), publisherSecret));
});
