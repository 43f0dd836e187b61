import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import sharp from 'sharp';
import { HttpError } from '../../src/errors.ts';
import { layoutOf, parseProcessQuery } from '../../src/http/process-query.ts';
import { testApp } from '../helpers.ts';

const OK_OR_CLIENT_ERROR = new Set([200, 400, 404, 413, 415, 422, 503]);

// Values that sit near the parser's edges, mixed with arbitrary text.
const token = fc.oneof(
  fc.constantFrom('', '0', '1', '-1', '1e9', '3', '64x64', '0x0', '1x1', 'abc', 'NaN', 'Infinity', '99999x99999', '2x', 'x2'),
  fc.constantFrom('blur', 'gaussian', 'pixelate', 'grayscale', 'edge', 'sharpen', 'invert', 'rgba', 'i420', '%00', '☃'),
  fc.string({ maxLength: 12 }),
  fc.integer({ min: -5, max: 300 }).map(String),
  fc.double({ noNaN: false }).map(String),
);
const key = fc.constantFrom('pixels', 'iters', 'effect', 'format', 'sigma', 'block', 'x', '__proto__', 'constructor');
const query = fc.dictionary(key, fc.oneof(token, fc.array(token, { maxLength: 3 })), { maxKeys: 6 });

test('the query parser either accepts or throws a 4xx HttpError, whatever it is given', () => {
  fc.assert(
    fc.property(query, (q) => {
      try {
        const limits = { maxPixels: 64 * 64, maxIters: 3 };
        const parsed = parseProcessQuery(q, limits);
        const layout = layoutOf(parsed, limits);
        assert.ok(parsed.job.iters >= 0 && parsed.job.iters <= 3);
        assert.ok(layout.width * layout.height <= 64 * 64);
      } catch (err) {
        assert.ok(err instanceof HttpError, String(err));
        assert.ok(err.statusCode >= 400 && err.statusCode < 500);
      }
    }),
    { numRuns: 2000 },
  );
});

test('random query strings through HTTP: never a 5xx, always JSON errors', async (t) => {
  const { app } = await testApp(t, { maxPixels: 64 * 64, maxIters: 3 });
  const raw = fc.array(fc.tuple(key, token), { maxLength: 6 });
  await fc.assert(
    fc.asyncProperty(raw, async (pairs) => {
      const qs = pairs.map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(v)}`).join('&');
      const res = await app.inject(`/process?${qs}`);
      assert.ok(OK_OR_CLIENT_ERROR.has(res.statusCode), `${res.statusCode} for ${qs}: ${res.body}`);
      if (res.statusCode !== 200) assert.equal(typeof res.json().error, 'string');
    }),
    { numRuns: 300 },
  );
});

test('hostile uploads (random bytes, truncated images, lying headers): never a 5xx', async (t) => {
  const { app } = await testApp(t, { maxPixels: 256 * 256, maxBodyBytes: 256 * 1024 });
  const png = await sharp({ create: { width: 40, height: 30, channels: 4, background: '#3366cc' } }).png().toBuffer();
  const jpeg = await sharp(png).jpeg().toBuffer();
  const upload = fc.record({
    type: fc.constantFrom('image/png', 'image/jpeg', 'application/octet-stream', 'image/gif', 'text/plain'),
    body: fc.oneof(
      fc.uint8Array({ maxLength: 2048 }).map((a) => Buffer.from(a)),
      fc.integer({ min: 0, max: png.length }).map((n) => png.subarray(0, n)),
      fc.integer({ min: 0, max: jpeg.length }).map((n) => jpeg.subarray(0, n)),
      // A real image with a few bytes flipped.
      fc.tuple(fc.constantFrom(png, jpeg), fc.array(fc.nat(), { maxLength: 8 })).map(([img, at]) => {
        const copy = Buffer.from(img);
        for (const i of at) copy[i % copy.length] = (copy[i % copy.length] ?? 0) ^ 0xff;
        return copy;
      }),
    ),
    pixels: fc.constantFrom('', '40x30', '1x1', '256x256', '9999x9999'),
  });
  await fc.assert(
    fc.asyncProperty(upload, async ({ type, body, pixels }) => {
      const res = await app.inject({
        method: 'POST',
        url: `/process?effect=blur&iters=1${pixels ? `&pixels=${pixels}` : ''}`,
        headers: { 'content-type': type },
        payload: body,
      });
      assert.ok(OK_OR_CLIENT_ERROR.has(res.statusCode), `${res.statusCode}: ${res.body.slice(0, 200)}`);
    }),
    { numRuns: 300 },
  );
  assert.ok(process.memoryUsage().rss < 1.5 * 1024 ** 3, 'memory stays bounded');
});
