import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { FastifyRequest } from 'fastify';
import { LOG_SERIALIZERS, redactUrl } from '../../src/http/log-serializers.ts';

test('redactUrl keeps the session id and drops the publisher and viewer secrets', () => {
  const cases: [string, string][] = [
    ['/whip/b3duZXI.c2Vzc2lvbg.c2VjcmV0', '/whip/b3duZXI.c2Vzc2lvbg.[redacted]'],
    ['/whip/b3duZXI.c2Vzc2lvbg.c2VjcmV0/background', '/whip/b3duZXI.c2Vzc2lvbg.[redacted]/background'],
    ['/whip/b3duZXI.c2Vzc2lvbg.c2VjcmV0?x=1', '/whip/b3duZXI.c2Vzc2lvbg.[redacted]?x=1'],
    ['/whip/b3duZXI%2Ec2Vzc2lvbg%2Ec2VjcmV0', '/whip/b3duZXI.c2Vzc2lvbg.[redacted]'],
    ['/WHIP/b3duZXI.c2Vzc2lvbg.c2VjcmV0', '/WHIP/b3duZXI.c2Vzc2lvbg.[redacted]'],
    ['/whep/b3duZXI.c2Vzc2lvbg/dmlld2Vy.c2VjcmV0', '/whep/b3duZXI.c2Vzc2lvbg/dmlld2Vy.[redacted]'],
    // What carries no secret stays as it is.
    ['/whep/b3duZXI.c2Vzc2lvbg', '/whep/b3duZXI.c2Vzc2lvbg'],
    ['/whip?effect=blur', '/whip?effect=blur'],
    ['/process?pixels=1x1', '/process?pixels=1x1'],
    ['/whip/%E0%A4%A.x.y', '/whip/%E0%A4%A.x.[redacted]'],
  ];
  for (const [url, expected] of cases) assert.equal(redactUrl(url), expected, url);
});

test('the logger serializers redact URLs and drop the raw bytes of a parse error', () => {
  const req = LOG_SERIALIZERS.req({ method: 'GET', url: '/whip/a.b.secret', host: 'h', ip: '192.0.2.1', socket: { remotePort: 1 } } as unknown as FastifyRequest);
  assert.equal(req.url, '/whip/a.b.[redacted]');
  const err = Object.assign(new Error('Parse Error: Invalid header token'), { code: 'HPE_INVALID_HEADER_TOKEN', rawPacket: Buffer.from('GET /whip/a.b.secret HTTP/1.1') });
  const out = LOG_SERIALIZERS.err(err);
  assert.equal(out.message, 'Parse Error: Invalid header token');
  assert.equal((out as Record<string, unknown>).code, 'HPE_INVALID_HEADER_TOKEN');
  assert.ok(!('rawPacket' in out));
});
