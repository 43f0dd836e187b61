import assert from 'node:assert/strict';
import { test } from 'node:test';
import zlib from 'node:zlib';
import sharp from 'sharp';
import { EFFECT_NAMES } from '../../src/effects/catalog.ts';
import { chooseNativeKernels } from '../../src/effects/native.ts';
import { chooseKernelBuild } from '../../src/effects/wasm.ts';
import { ERROR_CODES, ERRORS, type ErrorCode } from '../../src/errors.ts';
import type { AppContext } from '../../src/app.ts';
import { fileScope, metricValue, testApp } from '../helpers.ts';

/**
 * One app (testApp's settings) for every test that needs no settings of its own: each app starts a
 * worker thread, half a CPU-second. The metrics test runs first, on counters nothing else has moved;
 * the draining test runs last, as draining ends the app's readiness for good.
 */
const scope = fileScope();
let shared: Promise<AppContext> | undefined;
const sharedApp = (): Promise<AppContext> => (shared ??= testApp(scope));

/** An error answer: `{error, detail}`, the code from the catalog and the status its code's. */
function assertCatalogError(res: { statusCode: number; json(): unknown }, name: string): void {
  const body = res.json() as { error: ErrorCode; detail: unknown };
  assert.deepEqual(Object.keys(body).sort(), ['detail', 'error'], name);
  assert.ok(ERROR_CODES.includes(body.error), `${name}: ${body.error} is in the catalog`);
  assert.equal(res.statusCode, ERRORS[body.error].status, `${name}: ${body.error}`);
  assert.equal(typeof body.detail, 'string', name);
}

test('metrics move with the requests served', async () => {
  const { app } = await sharedApp();
  for (let i = 0; i < 5; i++) assert.equal((await app.inject('/process?pixels=64x64&iters=2')).statusCode, 200);
  await app.inject('/process?pixels=abc');
  const text = (await app.inject('/metrics')).body;
  assert.equal(metricValue(text, 'app_requests_total', { endpoint: '/process', status: '200' }), 5);
  assert.equal(metricValue(text, 'app_requests_total', { endpoint: '/process', status: '400' }), 1);
  assert.equal(metricValue(text, 'app_request_latency_seconds_count'), 5);
  assert.equal(metricValue(text, 'app_request_latency_seconds_bucket', { le: '+Inf' }), 5);
  assert.ok(metricValue(text, 'app_request_latency_seconds_bucket', { le: '0.0005' }) !== undefined);
  const p95 = metricValue(text, 'app_request_latency_p95_seconds')!;
  assert.ok(p95 > 0 && p95 < 5, `p95 ${p95}`);
  assert.equal(metricValue(text, 'app_effect_duration_seconds_count', { effect: 'blur', device: 'cpu' }), 5);
  assert.equal(metricValue(text, 'app_frames_processed_total', { effect: 'blur', device: 'cpu' }), 5);
  assert.equal(metricValue(text, 'app_device_info', { device: 'cpu' }), 1);
  // The CPU kernels the workers run: the WASM build and the native instruction set beside it.
  assert.equal(metricValue(text, 'app_cpu_kernels_info', { wasm: chooseKernelBuild('auto'), native: chooseNativeKernels('auto').isa ?? 'none' }), 1);
  assert.equal(metricValue(text, 'app_inflight_requests'), 0);
  assert.equal(metricValue(text, 'app_queue_depth'), 0);
  assert.ok(metricValue(text, 'nodejs_eventloop_lag_seconds') !== undefined);
});

test('health, readiness and the effect list', async () => {
  const { app } = await sharedApp();
  const health = await app.inject('/healthz');
  assert.equal(health.statusCode, 200);
  const h = health.json();
  assert.equal(h.ok, true);
  assert.equal(h.device, 'cpu');
  assert.match(h.version, /^\d+\.\d+\.\d+/);
  assert.equal(typeof h.uptimeSeconds, 'number');

  assert.equal((await app.inject('/readyz')).statusCode, 200);

  const effects = (await app.inject('/effects')).json();
  const names = effects.effects.map((e: { name: string }) => e.name);
  assert.deepEqual(names.sort(), [...EFFECT_NAMES].sort());
  const gaussian = effects.effects.find((e: { name: string }) => e.name === 'gaussian');
  assert.equal(gaussian.params.sigma.min, 0.5);
});

test('GET and POST /process without a body answer with timings (seed-compatible)', async () => {
  const { app } = await sharedApp();
  for (const method of ['GET', 'POST'] as const) {
    const res = await app.inject({ method, url: '/process?pixels=320x240&iters=3' });
    assert.equal(res.statusCode, 200);
    const body = res.json();
    assert.equal(body.ok, true);
    assert.equal(body.device, 'cpu');
    assert.equal(body.pixels, '320x240');
    assert.equal(body.iters, 3);
    assert.equal(body.effect, 'blur');
    for (const key of ['duration_sec', 'queue_sec', 'compute_sec']) assert.equal(typeof body[key], 'number', key);
    assert.ok(body.compute_sec > 0);
    assert.ok(body.duration_sec >= body.compute_sec);
  }
  // Defaults are the seed's: 1280x720, 5 iterations of blur.
  const def = (await app.inject('/process')).json();
  assert.equal(def.pixels, '1280x720');
  assert.equal(def.iters, 5);
});

test('each effect does different real work on the test card', async () => {
  const { app } = await sharedApp();
  const sums = new Map<string, number>();
  for (const effect of ['blur', 'gaussian', 'pixelate', 'grayscale', 'edge', 'sharpen', 'invert']) {
    const res = await app.inject(`/process?pixels=96x64&iters=1&effect=${effect}`);
    assert.equal(res.statusCode, 200, res.body);
    sums.set(effect, res.json().checksum);
  }
  assert.equal(new Set(sums.values()).size, sums.size, JSON.stringify([...sums]));
  const i420 = (await app.inject('/process?pixels=96x64&iters=1&effect=blur&format=i420')).json();
  assert.equal(i420.format, 'i420');
  assert.notEqual(i420.checksum, sums.get('blur'));
});

test('raw RGBA upload comes back processed', async () => {
  const { app } = await sharedApp();
  const frame = Buffer.from([10, 20, 30, 255, 0, 128, 255, 7, 200, 100, 50, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]);
  const res = await app.inject({
    method: 'POST',
    url: '/process?pixels=3x2&effect=invert&iters=1',
    headers: { 'content-type': 'application/octet-stream' },
    payload: frame,
  });
  assert.equal(res.statusCode, 200);
  assert.equal(res.headers['content-type'], 'application/octet-stream');
  const expected = Buffer.from(frame.map((v, i) => (i % 4 === 3 ? v : 255 - v)));
  assert.deepEqual(res.rawPayload, expected);

  // A full 720p frame is well over the 64 KiB default body limit: the route's own limit applies.
  const big = await app.inject({
    method: 'POST',
    url: '/process?pixels=1280x720&effect=invert&iters=1',
    headers: { 'content-type': 'application/octet-stream' },
    payload: Buffer.alloc(1280 * 720 * 4, 7),
  });
  assert.equal(big.statusCode, 200);
  assert.equal(big.rawPayload.length, 1280 * 720 * 4);
  assert.equal(big.rawPayload[0], 248);
  assert.equal(big.rawPayload[3], 7, 'alpha kept');

  const short = await app.inject({
    method: 'POST',
    url: '/process?pixels=3x3&effect=invert',
    headers: { 'content-type': 'application/octet-stream' },
    payload: frame,
  });
  assert.equal(short.statusCode, 422);
  const unsized = await app.inject({
    method: 'POST',
    url: '/process?effect=invert',
    headers: { 'content-type': 'application/octet-stream' },
    payload: frame,
  });
  assert.equal(unsized.statusCode, 400);
});

test('PNG and JPEG uploads come back as processed images, or as JSON when asked', async () => {
  const { app } = await sharedApp();
  const png = await sharp({ create: { width: 64, height: 48, channels: 4, background: { r: 255, g: 0, b: 0, alpha: 1 } } })
    .png()
    .toBuffer();
  const res = await app.inject({
    method: 'POST',
    url: '/process?effect=grayscale&iters=1',
    headers: { 'content-type': 'image/png' },
    payload: png,
  });
  assert.equal(res.statusCode, 200);
  assert.equal(res.headers['content-type'], 'image/png');
  const { data, info } = await sharp(res.rawPayload).raw().toBuffer({ resolveWithObject: true });
  assert.equal(info.width, 64);
  assert.equal(info.height, 48);
  // BT.601 luma of pure red: (77 * 255 + 128) >> 8 = 77.
  assert.deepEqual([...data.subarray(0, 4)], [77, 77, 77, 255].slice(0, info.channels));

  const jpeg = await sharp(png).jpeg().toBuffer();
  const jres = await app.inject({
    method: 'POST',
    url: '/process?effect=invert&iters=1',
    headers: { 'content-type': 'image/jpeg' },
    payload: jpeg,
  });
  assert.equal(jres.statusCode, 200);
  assert.equal(jres.headers['content-type'], 'image/jpeg');
  const inv = await sharp(jres.rawPayload).raw().toBuffer();
  // Red inverted is cyan (JPEG is lossy: allow a little).
  assert.ok(inv[0]! < 20 && inv[1]! > 235 && inv[2]! > 235, `${inv[0]},${inv[1]},${inv[2]}`);

  const asJson = await app.inject({
    method: 'POST',
    url: '/process?effect=gaussian&sigma=8&iters=1',
    headers: { 'content-type': 'image/png', accept: 'application/json' },
    payload: png,
  });
  assert.equal(asJson.statusCode, 200);
  assert.equal(asJson.json().pixels, '64x48');
  assert.equal(asJson.json().effect, 'gaussian');
});

/** A PNG that is only a signature and an IHDR declaring `width` x `height` (a decompression-bomb header). */
function pngHeader(width: number, height: number): Buffer {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr.set([8, 6, 0, 0, 0], 8);
  const type = Buffer.from('IHDR');
  const len = Buffer.alloc(4);
  len.writeUInt32BE(13);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(zlib.crc32(Buffer.concat([type, ihdr])));
  return Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), len, type, ihdr, crc]);
}

test('bad uploads get a clear 4xx', async (t) => {
  const { app } = await testApp(t, { maxBodyBytes: 64 * 1024 });
  const png = await sharp({ create: { width: 8, height: 8, channels: 3, background: '#123456' } }).png().toBuffer();
  const post = (type: string, payload: Buffer, url = '/process?effect=blur') =>
    app.inject({ method: 'POST', url, headers: { 'content-type': type }, payload });

  const cases: [string, Awaited<ReturnType<typeof post>>, number][] = [
    ['bomb header', await post('image/png', pngHeader(50_000, 50_000)), 413],
    ['truncated png', await post('image/png', png.subarray(0, png.length - 20)), 400],
    ['garbage', await post('image/png', Buffer.from('definitely not an image')), 400],
    ['lying content type', await post('image/jpeg', png), 415],
    ['unsupported type', await post('text/csv', Buffer.from('a,b')), 415],
    ['too big', await post('application/octet-stream', Buffer.alloc(70 * 1024), '/process?pixels=128x140'), 413],
  ];
  for (const [name, res, status] of cases) {
    assert.equal(res.statusCode, status, `${name}: ${res.body}`);
    assertCatalogError(res, name);
  }
});

test('bad queries get JSON 4xx, never a 500', async () => {
  const { app } = await sharedApp();
  const cases: [string, number][] = [
    ['pixels=abc', 400],
    ['pixels=0x720', 422],
    ['pixels=99999x99999', 413],
    ['iters=-1', 400],
    ['iters=1e9', 400],
    ['iters=abc', 400],
    ['iters=101', 422],
    ['effect=sepia', 422],
    ['effect=gaussian&sigma=100', 422],
    ['effect=pixelate&block=1', 422],
  ];
  for (const [qs, status] of cases) {
    const res = await app.inject(`/process?${qs}`);
    assert.equal(res.statusCode, status, qs);
    assertCatalogError(res, qs);
  }
  const missing = await app.inject('/nope');
  assert.equal(missing.statusCode, 404);
  assert.equal(missing.json().error, 'not_found');
  // Fastify's own errors, by their FST_ERR_* code.
  const wrongType = await app.inject({ method: 'POST', url: '/process', headers: { 'content-type': 'text/csv' }, payload: 'a,b' });
  assert.equal(wrongType.json().error, 'unsupported_media_type');
  const badJson = await app.inject({ method: 'PATCH', url: '/whip/x', headers: { 'content-type': 'application/json' }, payload: '{' });
  assert.equal(badJson.json().error, 'bad_request');
  for (const [name, res] of [['/nope', missing], ['text/csv', wrongType], ['malformed JSON', badJson]] as const) assertCatalogError(res, name);
});

test('a full waiting room: 503 with Retry-After, held REFUSAL_HOLD_SECONDS; past MAX_HELD_REFUSALS at once, closing the connection', async (t) => {
  const { app } = await testApp(t, { workers: 1, maxQueue: 1, retryAfterSeconds: 2, refusalHoldSeconds: 1, maxHeldRefusals: 2 });
  // Held for a second: longer than the eight requests take to arrive on a loaded machine, so no hold
  // ends (and frees its place) before the last refusal is decided.
  const results = await Promise.all(
    Array.from({ length: 8 }, async () => {
      const t0 = performance.now();
      const res = await app.inject('/process?pixels=1920x1080&iters=10&effect=blur');
      return { res, ms: performance.now() - t0 };
    }),
  );
  const codes = results.map((r) => r.res.statusCode);
  assert.ok(codes.includes(200), codes.join());
  assert.ok(codes.every((c) => c === 200 || c === 503), codes.join());
  const refused = results.filter((r) => r.res.statusCode === 503);
  for (const { res } of refused) {
    assert.equal(res.headers['retry-after'], '2');
    assert.equal(res.json().error, 'overloaded');
  }
  const held = refused.filter((r) => r.res.headers.connection !== 'close');
  const atOnce = refused.filter((r) => r.res.headers.connection === 'close');
  assert.equal(held.length, 2, 'MAX_HELD_REFUSALS held');
  assert.ok(atOnce.length >= 3, `the rest at once: ${codes.join()}`);
  for (const { ms } of held) assert.ok(ms >= 990, `held ${ms.toFixed(0)} ms`);
  const text = (await app.inject('/metrics')).body;
  assert.ok(metricValue(text, 'app_rejected_total', { reason: 'queue_full' })! >= 5);
  assert.equal(metricValue(text, 'app_refusals_held'), 0, 'none held once answered');
});

test('a real listening socket serves the same API', async () => {
  const { app } = await sharedApp();
  await app.listen({ port: 0, host: '127.0.0.1' });
  const address = app.server.address();
  assert.ok(address && typeof address === 'object');
  const base = `http://127.0.0.1:${address.port}`;
  const served = async () => metricValue(await (await fetch(`${base}/metrics`)).text(), 'app_requests_total', { endpoint: '/process', status: '200' }) ?? 0;
  const before = await served();
  const res = await fetch(`${base}/process?pixels=640x360&iters=2&effect=sharpen`, { method: 'POST' });
  assert.equal(res.status, 200);
  const body = (await res.json()) as { effect: string; pixels: string };
  assert.equal(body.effect, 'sharpen');
  assert.equal(body.pixels, '640x360');
  assert.equal(await served(), before + 1);
});

test('readiness fails while draining', async () => {
  const ctx = await sharedApp();
  ctx.startDraining();
  const res = await ctx.app.inject('/readyz');
  assert.equal(res.statusCode, 503);
  assert.equal(res.json().draining, true);
});
