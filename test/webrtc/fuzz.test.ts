import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { testApp } from '../helpers.ts';

// A browser-shaped offer: the mutations below keep some of its structure so that parsing goes deep.
const OFFER = [
  'v=0',
  'o=- 4611731400430051336 2 IN IP4 127.0.0.1',
  's=-',
  't=0 0',
  'a=group:BUNDLE 0',
  'a=msid-semantic: WMS',
  'm=video 9 UDP/TLS/RTP/SAVPF 96 97',
  'c=IN IP4 0.0.0.0',
  'a=rtcp:9 IN IP4 0.0.0.0',
  'a=ice-ufrag:abcd',
  'a=ice-pwd:0123456789012345678901',
  'a=ice-options:trickle',
  'a=fingerprint:sha-256 7B:8B:F0:65:5F:78:E2:51:3B:AC:6F:F3:3F:46:1B:35:DC:B8:5F:64:1A:24:C2:43:F0:A1:58:D0:A1:2C:19:08',
  'a=setup:actpass',
  'a=mid:0',
  'a=sendrecv',
  'a=rtcp-mux',
  'a=rtpmap:96 VP8/90000',
  'a=rtpmap:97 rtx/90000',
  'a=fmtp:97 apt=96',
  'a=msid:stream0 track0',
  'a=ssrc:1001 cname:fuzz',
  'a=ssrc:1001 msid:stream0 track0',
];

const mutatedOffer = fc
  .tuple(
    fc.array(fc.nat({ max: OFFER.length - 1 }), { maxLength: 4 }),
    fc.array(fc.tuple(fc.nat({ max: OFFER.length }), fc.string({ maxLength: 40 })), { maxLength: 3 }),
    fc.constantFrom('\r\n', '\n'),
  )
  .map(([drop, insert, eol]) => {
    const lines = OFFER.filter((_, i) => !drop.includes(i));
    for (const [at, text] of insert) lines.splice(at, 0, text);
    return lines.join(eol) + eol;
  });

const body = fc.oneof(fc.constant(`${OFFER.join('\r\n')}\r\n`), mutatedOffer, fc.string({ maxLength: 300 }), fc.uint8Array({ maxLength: 300 }).map((a) => Buffer.from(a).toString('latin1')));
const contentType = fc.constantFrom('application/sdp', 'application/sdp; charset=utf-8', 'text/plain', 'application/json', 'application/trickle-ice-sdpfrag', '');

test('hostile WHIP/WHEP bodies and headers: never a 5xx, never a crash', async (t) => {
  const { app } = await testApp(t, { maxSessions: 2, sessionRateLimitPerMinute: 0 });
  const answered = new Set([200, 201, 204, 400, 401, 404, 405, 412, 413, 415, 422, 429, 503]);
  await fc.assert(
    fc.asyncProperty(
      fc.constantFrom('POST /whip', 'POST /whip?effect=gaussian&sigma=99', 'PATCH /whip/nope', 'POST /whep/nope', 'DELETE /whip/nope'),
      contentType,
      body,
      fc.option(fc.string({ maxLength: 40 }), { nil: undefined }),
      async (route, type, payload, auth) => {
        const [method, url] = route.split(' ') as ['POST' | 'PATCH' | 'DELETE', string];
        const headers: Record<string, string> = {};
        if (type) headers['content-type'] = type;
        if (auth !== undefined) headers.authorization = `Bearer ${auth}`;
        const res = await app.inject({ method, url, headers, payload: method === 'DELETE' ? undefined : payload });
        assert.ok(answered.has(res.statusCode), `${res.statusCode} for ${route} ${type}: ${res.body.slice(0, 200)}`);
        if (res.statusCode === 201) {
          // A mutated offer that still made a session: end it so the next runs are admitted.
          const location = res.headers.location;
          assert.ok(typeof location === 'string');
          assert.equal((await app.inject({ method: 'DELETE', url: location })).statusCode, 200);
        }
      },
    ),
    { numRuns: 150 },
  );
});
