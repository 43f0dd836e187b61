/**
 * The background effects through /effects and /process: the test card, an uploaded photo (PNG in,
 * PNG out), parameter errors as 422.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import sharp from 'sharp';
import { metricValue, testApp } from '../helpers.ts';
import { meanDistanceTo, REGIONS, SKIMAGE_DATA, skipWithoutPhotos } from './photos.ts';

test('/effects lists background-blur and background-replace with their parameters', async (t) => {
  const { app } = await testApp(t);
  const res = await app.inject('/effects');
  assert.equal(res.statusCode, 200);
  const body = res.body;
  assert.match(body, /background-blur/);
  assert.match(body, /background-replace/);
  assert.match(body, /strength/);
  assert.match(body, /color/);
});

test('/process runs background-blur on the test card, in RGBA and I420', async (t) => {
  const { app } = await testApp(t);
  for (const format of ['rgba', 'i420']) {
    const res = await app.inject(`/process?pixels=320x180&effect=background-blur&strength=8&format=${format}`);
    assert.equal(res.statusCode, 200, res.body);
    const json = res.json();
    assert.equal(json.effect, 'background-blur');
    assert.deepEqual(json.params, { strength: 8 });
    assert.ok(json.compute_sec > 0);
  }
  const metrics = (await app.inject('/metrics')).body;
  assert.equal(metricValue(metrics, 'app_segmentation_masks_total', { mask: 'inferred' }), 2);
  assert.equal(metricValue(metrics, 'app_segmentation_inference_seconds_count'), 2);
});

test('/process takes odd and tiny frame sizes (kernel tails, I420 chroma rounding)', async (t) => {
  const { app } = await testApp(t);
  for (const pixels of ['1x1', '2x3', '17x9', '321x241', '64x1']) {
    for (const format of ['rgba', 'i420']) {
      for (const effect of ['background-blur&strength=64', 'background-replace']) {
        const res = await app.inject(`/process?pixels=${pixels}&effect=${effect}&format=${format}`);
        assert.equal(res.statusCode, 200, `${pixels} ${format} ${effect}: ${res.body}`);
      }
    }
  }
  // A raw RGBA upload comes back the same size, its alpha kept (a blurred background of alpha 200 is 200).
  const body = Buffer.alloc(33 * 7 * 4, 200);
  const res = await app.inject({ method: 'POST', url: '/process?pixels=33x7&effect=background-blur', payload: body, headers: { 'content-type': 'application/octet-stream' } });
  assert.equal(res.statusCode, 200);
  assert.equal(res.rawPayload.length, body.length);
  for (let i = 3; i < res.rawPayload.length; i += 4) assert.equal(res.rawPayload[i], 200);
});

test('/process refuses out-of-range parameters with 422', async (t) => {
  const { app } = await testApp(t);
  for (const query of ['effect=background-blur&strength=0', 'effect=background-blur&strength=x', 'effect=background-replace&color=0x1000000', 'effect=background-replace&color=1.5']) {
    const res = await app.inject(`/process?pixels=64x64&${query}`);
    assert.equal(res.statusCode, 422, `${query}: ${res.body}`);
    assert.ok(res.json().error, query);
  }
});

test('/process replaces the background of an uploaded photo (PNG in, PNG out)', async (t) => {
  if (skipWithoutPhotos(t)) return;
  const { app } = await testApp(t);
  const png = readFileSync(`${SKIMAGE_DATA}/astronaut.png`);
  const res = await app.inject({ method: 'POST', url: '/process?effect=background-replace&color=0x0000ff', payload: png, headers: { 'content-type': 'image/png' } });
  assert.equal(res.statusCode, 200, res.body);
  assert.equal(res.headers['content-type'], 'image/png');
  const { data, info } = await sharp(res.rawPayload).ensureAlpha().raw().toBuffer({ resolveWithObject: true });
  const out = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  for (const box of REGIONS['astronaut.png'].background) assert.ok(meanDistanceTo(out, info.width, box, 0x0000ff) < 8);
  for (const box of REGIONS['astronaut.png'].person) assert.ok(meanDistanceTo(out, info.width, box, 0x0000ff) > 60);
});

test('PUT /whip/{id}/background: 404 for no session, 415 for a type that is not an image', async (t) => {
  const { app } = await testApp(t);
  const png = await sharp({ create: { width: 4, height: 4, channels: 3, background: { r: 1, g: 2, b: 3 } } }).png().toBuffer();
  const missing = await app.inject({ method: 'PUT', url: '/whip/00000000-0000-0000-0000-000000000000/background', payload: png, headers: { 'content-type': 'image/png' } });
  assert.equal(missing.statusCode, 404);
  assert.ok(missing.json().error);
  const text = await app.inject({ method: 'PUT', url: '/whip/00000000-0000-0000-0000-000000000000/background', payload: 'hello', headers: { 'content-type': 'text/plain' } });
  assert.equal(text.statusCode, 415);
  const gone = await app.inject({ method: 'DELETE', url: '/whip/00000000-0000-0000-0000-000000000000/background' });
  assert.equal(gone.statusCode, 404);
});
