/**
 * The background effects through /effects and /process: the test card, an uploaded photo (PNG in,
 * PNG out), parameter errors as 422. One app for the file: its worker loads the model and the
 * person detector once (about 1.6 CPU-s), not once per test.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test, type TestContext } from 'node:test';
import sharp from 'sharp';
import { metricValue, testApp } from '../helpers.ts';
import { meanDistanceTo, REGIONS, SKIMAGE_DATA, skipWithoutPhotos } from './photos.ts';

test('the background effects over HTTP (one app)', async (t) => {
  const { app } = await testApp(t);
  const metricsNow = async () => (await app.inject('/metrics')).body;

  await t.test('/effects lists background-blur and background-replace with their parameters', async () => {
    const res = await app.inject('/effects');
    assert.equal(res.statusCode, 200);
    const body = res.body;
    assert.match(body, /background-blur/);
    assert.match(body, /background-replace/);
    assert.match(body, /strength/);
    assert.match(body, /color/);
  });

  await t.test('/process runs background-blur on the test card, in RGBA and I420', async () => {
    const before = await metricsNow();
    const count = (text: string, name: string, labels?: Record<string, string>) => metricValue(text, name, labels) ?? 0;
    for (const format of ['rgba', 'i420']) {
      const res = await app.inject(`/process?pixels=320x180&effect=background-blur&strength=8&format=${format}`);
      assert.equal(res.statusCode, 200, res.body);
      const json = res.json();
      assert.equal(json.effect, 'background-blur');
      assert.deepEqual(json.params, { strength: 8 });
      assert.ok(json.compute_sec > 0);
    }
    const after = await metricsNow();
    const masks = (text: string) => count(text, 'app_segmentation_masks_total', { mask: 'inferred' });
    const inferences = (text: string) => count(text, 'app_segmentation_inference_seconds_count');
    assert.equal(masks(after) - masks(before), 2);
    assert.equal(inferences(after) - inferences(before), 2);
  });

  await t.test('/process takes odd and tiny frame sizes (kernel tails, I420 chroma rounding)', async () => {
    // Every size in both formats and through both effects, and each format through both effects
    // (the effects swap formats from one size to the next): each request costs one to three
    // detector passes, the same for either effect, so the product of all three is not run.
    // The kernels themselves are held to their references at odd sizes in kernels.test.ts.
    const effects = ['background-blur&strength=64', 'background-replace'];
    const sizes = ['1x1', '2x3', '17x9', '321x241', '64x1'];
    for (const [i, pixels] of sizes.entries()) {
      for (const [j, format] of ['rgba', 'i420'].entries()) {
        const effect = effects[(i + j) % 2]!;
        const res = await app.inject(`/process?pixels=${pixels}&effect=${effect}&format=${format}`);
        assert.equal(res.statusCode, 200, `${pixels} ${format} ${effect}: ${res.body}`);
        assert.equal(res.json().pixels, pixels);
      }
    }
    // A raw RGBA upload comes back the same size, its alpha kept (a blurred background of alpha 200 is 200).
    const body = Buffer.alloc(33 * 7 * 4, 200);
    const res = await app.inject({ method: 'POST', url: '/process?pixels=33x7&effect=background-blur', payload: body, headers: { 'content-type': 'application/octet-stream' } });
    assert.equal(res.statusCode, 200);
    assert.equal(res.rawPayload.length, body.length);
    for (let i = 3; i < res.rawPayload.length; i += 4) assert.equal(res.rawPayload[i], 200);
  });

  await t.test('/process refuses out-of-range parameters with 422', async () => {
    for (const query of ['effect=background-blur&strength=0', 'effect=background-blur&strength=x', 'effect=background-replace&color=0x1000000', 'effect=background-replace&color=1.5']) {
      const res = await app.inject(`/process?pixels=64x64&${query}`);
      assert.equal(res.statusCode, 422, `${query}: ${res.body}`);
      assert.ok(res.json().error, query);
    }
  });

  await t.test('/process replaces the background of an uploaded photo (PNG in, PNG out)', async (st: TestContext) => {
    if (skipWithoutPhotos(st)) return;
    const png = readFileSync(`${SKIMAGE_DATA}/astronaut.png`);
    const res = await app.inject({ method: 'POST', url: '/process?effect=background-replace&color=0x0000ff', payload: png, headers: { 'content-type': 'image/png' } });
    assert.equal(res.statusCode, 200, res.body);
    assert.equal(res.headers['content-type'], 'image/png');
    const { data, info } = await sharp(res.rawPayload).ensureAlpha().raw().toBuffer({ resolveWithObject: true });
    const out = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
    for (const box of REGIONS['astronaut.png'].background) assert.ok(meanDistanceTo(out, info.width, box, 0x0000ff) < 8);
    for (const box of REGIONS['astronaut.png'].person) assert.ok(meanDistanceTo(out, info.width, box, 0x0000ff) > 60);
  });

  await t.test('PUT /whip/{id}/background: 404 for no session, 415 for a type that is not an image', async () => {
    const png = await sharp({ create: { width: 4, height: 4, channels: 3, background: { r: 1, g: 2, b: 3 } } }).png().toBuffer();
    const missing = await app.inject({ method: 'PUT', url: '/whip/00000000-0000-0000-0000-000000000000/background', payload: png, headers: { 'content-type': 'image/png' } });
    assert.equal(missing.statusCode, 404);
    assert.ok(missing.json().error);
    const text = await app.inject({ method: 'PUT', url: '/whip/00000000-0000-0000-0000-000000000000/background', payload: 'hello', headers: { 'content-type': 'text/plain' } });
    assert.equal(text.statusCode, 415);
    const gone = await app.inject({ method: 'DELETE', url: '/whip/00000000-0000-0000-0000-000000000000/background' });
    assert.equal(gone.statusCode, 404);
  });
});
