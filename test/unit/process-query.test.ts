import assert from 'node:assert/strict';
import { test } from 'node:test';
import { HttpError } from '../../src/errors.ts';
import { layoutOf, parseProcessQuery } from '../../src/http/process-query.ts';

const limits = { maxPixels: 3840 * 2160, maxIters: 100 };

function status(query: Record<string, unknown>): number {
  try {
    parseProcessQuery(query, limits);
    return 200;
  } catch (err) {
    assert.ok(err instanceof HttpError, `not an HttpError: ${String(err)}`);
    return err.statusCode;
  }
}

test('defaults: 1280x720, 5 iterations of blur on RGBA', () => {
  const q = parseProcessQuery({}, limits);
  assert.deepEqual(layoutOf(q, limits), { format: 'rgba', width: 1280, height: 720 });
  assert.deepEqual(q.job, { effect: 'blur', params: {}, iters: 5 });
});

test('effect parameters get defaults and are range-checked', () => {
  assert.deepEqual(parseProcessQuery({ effect: 'gaussian', sigma: '8' }, limits).job.params, { sigma: 8 });
  assert.deepEqual(parseProcessQuery({ effect: 'pixelate' }, limits).job.params, { block: 16 });
  assert.equal(status({ effect: 'gaussian', sigma: '0' }), 422);
  assert.equal(status({ effect: 'gaussian', sigma: 'wide' }), 422);
  assert.equal(status({ effect: 'pixelate', block: '2.5' }), 422);
});

test('defaults obey the limits too', () => {
  const small = { maxPixels: 64 * 64, maxIters: 3 };
  assert.throws(() => parseProcessQuery({}, small), (e: unknown) => e instanceof HttpError && e.statusCode === 422);
  const q = parseProcessQuery({ iters: '2' }, small);
  assert.throws(() => layoutOf(q, small), (e: unknown) => e instanceof HttpError && e.statusCode === 413);
});

test('bad input maps to 400, 413 or 422', () => {
  const cases: [Record<string, unknown>, number][] = [
    [{ pixels: 'abc' }, 400],
    [{ pixels: '0x720' }, 422],
    [{ pixels: '99999x99999' }, 413],
    [{ pixels: '1280x720x3' }, 400],
    [{ iters: '-1' }, 400],
    [{ iters: '1e9' }, 400],
    [{ iters: 'abc' }, 400],
    [{ iters: '101' }, 422],
    [{ iters: ['1', '2'] }, 400],
    [{ effect: 'sepia' }, 422],
    [{ format: 'nv12' }, 422],
    [{ pixels: '3840x2160', iters: '100', effect: 'edge', format: 'i420' }, 200],
  ];
  for (const [query, expected] of cases) assert.equal(status(query), expected, JSON.stringify(query));
});
