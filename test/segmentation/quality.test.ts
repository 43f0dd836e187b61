/**
 * Quality of the background effects on real photographs of people (python3-skimage's photos):
 * the person stays as sharp as in the photo, the background loses its detail (per-region
 * sharpness), background-replace puts the colour behind the person and keeps the person; the
 * WASM pre-processing gives the reference's mask; I420 frames get the same mask as RGBA ones.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createWasmKernels } from '../../src/effects/wasm.ts';
import type { FrameLayout } from '../../src/frames/layout.ts';
import { createCpuSegmenter } from '../../src/segmentation/cpu-mask.ts';
import { rgbaToI420, SegmentationWorker } from '../../src/segmentation/worker-effects.ts';
import { loadPhoto, meanAbsDiff, meanDistanceTo, REGIONS, sharpness, skipWithoutPhotos, type PhotoName } from './photos.ts';

const NAMES = Object.keys(REGIONS) as PhotoName[];
const GREEN = 0x00b140;

/**
 * One kernel memory and segmentation worker for the file. A still has no state, so a run's result
 * depends on its frame and job alone: each (photo, format, job) runs once and the tests that ask
 * for it again (the blur and replace of both photos, reused by the mask and I420 tests) share it.
 */
async function setup() {
  const kernels = await createWasmKernels();
  const worker = await SegmentationWorker.create(kernels);
  const runs = new Map<string, { out: Uint8Array; mask: Uint8Array; report: ReturnType<SegmentationWorker['run']> }>();
  const runOn = (layout: FrameLayout, frame: Uint8Array, job: Parameters<SegmentationWorker['run']>[1], photo: PhotoName) => {
    const key = `${photo} ${layout.format} ${layout.width}x${layout.height} ${JSON.stringify(job)}`;
    const done = runs.get(key);
    if (done) return done;
    const src = kernels.alloc(frame.length);
    const dst = kernels.alloc(frame.length);
    try {
      kernels.view(src, frame.length).set(frame);
      const report = worker.run(layout, job, src, dst);
      const result = { out: kernels.view(dst, frame.length).slice(), mask: worker.lastMask().slice(), report };
      runs.set(key, result);
      return result;
    } finally {
      kernels.free(dst, frame.length);
      kernels.free(src, frame.length);
    }
  };
  const photos = new Map<PhotoName, ReturnType<typeof loadPhoto>>();
  const photo = (name: PhotoName) => {
    let p = photos.get(name);
    if (!p) photos.set(name, (p = loadPhoto(name)));
    return p;
  };
  return { runOn, photo };
}

let shared: ReturnType<typeof setup> | undefined;
const kit = () => (shared ??= setup());

function iou(a: Uint8Array | Float32Array, b: Uint8Array | Float32Array, threshold: number): number {
  let inter = 0;
  let union = 0;
  for (let i = 0; i < a.length; i++) {
    const x = a[i]! >= threshold;
    const y = b[i]! >= threshold;
    if (x && y) inter++;
    if (x || y) union++;
  }
  return union === 0 ? 1 : inter / union;
}

test('background-blur keeps the person sharp and blurs the background (real photos)', async (t) => {
  if (skipWithoutPhotos(t)) return;
  const { runOn, photo: loadShared } = await kit();
  for (const name of NAMES) {
    const photo = await loadShared(name);
    const layout: FrameLayout = { format: 'rgba', width: photo.width, height: photo.height };
    const { out } = runOn(layout, photo.rgba, { effect: 'background-blur', params: { strength: 16 }, iters: 1 }, name);
    for (const box of REGIONS[name].person) {
      const ratio = sharpness(out, photo.width, box) / sharpness(photo.rgba, photo.width, box);
      assert.ok(ratio > 0.9, `${name} person ${box}: sharpness kept ${ratio.toFixed(3)} (want > 0.9)`);
      assert.ok(meanAbsDiff(out, photo.rgba, photo.width, box) < 6, `${name} person ${box}: pixels changed`);
    }
    for (const box of REGIONS[name].background) {
      const ratio = sharpness(out, photo.width, box) / sharpness(photo.rgba, photo.width, box);
      assert.ok(ratio < 0.2, `${name} background ${box}: sharpness kept ${ratio.toFixed(3)} (want < 0.2)`);
    }
  }
});

test('a stronger blur takes more detail from the background', async (t) => {
  if (skipWithoutPhotos(t)) return;
  const { runOn, photo: loadShared } = await kit();
  const photo = await loadShared('astronaut.png');
  const layout: FrameLayout = { format: 'rgba', width: photo.width, height: photo.height };
  const box = REGIONS['astronaut.png'].background[0];
  const weak = runOn(layout, photo.rgba, { effect: 'background-blur', params: { strength: 2 }, iters: 1 }, 'astronaut.png').out;
  const strong = runOn(layout, photo.rgba, { effect: 'background-blur', params: { strength: 48 }, iters: 1 }, 'astronaut.png').out;
  assert.ok(sharpness(strong, photo.width, box) < sharpness(weak, photo.width, box));
  assert.ok(meanAbsDiff(strong, photo.rgba, photo.width, box) > meanAbsDiff(weak, photo.rgba, photo.width, box));
});

test('background-replace puts the colour behind the person and keeps the person (real photos)', async (t) => {
  if (skipWithoutPhotos(t)) return;
  const { runOn, photo: loadShared } = await kit();
  for (const name of NAMES) {
    const photo = await loadShared(name);
    const layout: FrameLayout = { format: 'rgba', width: photo.width, height: photo.height };
    const { out } = runOn(layout, photo.rgba, { effect: 'background-replace', params: { color: GREEN }, iters: 1 }, name);
    for (const box of REGIONS[name].background) {
      assert.ok(meanDistanceTo(out, photo.width, box, GREEN) < 8, `${name} background ${box} is not the colour`);
    }
    for (const box of REGIONS[name].person) {
      assert.ok(meanAbsDiff(out, photo.rgba, photo.width, box) < 6, `${name} person ${box} was replaced`);
    }
  }
});

test('the WASM pre-processing gives the reference mask (src/segmentation/cpu-mask.ts)', async (t) => {
  if (skipWithoutPhotos(t)) return;
  const { runOn, photo: loadShared } = await kit();
  const reference = await createCpuSegmenter();
  for (const name of NAMES) {
    const photo = await loadShared(name);
    const layout: FrameLayout = { format: 'rgba', width: photo.width, height: photo.height };
    const { mask } = runOn(layout, photo.rgba, { effect: 'background-blur', params: { strength: 16 }, iters: 1 }, name);
    const expected = reference.maskRgba(photo.rgba, photo.width, photo.height).probability;
    const score = iou(mask, expected.map((p) => p * 255), 128);
    assert.ok(score >= 0.99, `${name}: IoU ${score.toFixed(4)} with the reference mask`);
    // Sanity: the person is a good part of these portraits, not all of them.
    const fraction = expected.reduce((n, p) => n + (p >= 0.5 ? 1 : 0), 0) / expected.length;
    assert.ok(fraction > 0.2 && fraction < 0.8, `${name}: person covers ${fraction.toFixed(2)} of the frame`);
  }
});

test('an I420 frame gets the mask and the result of its RGBA source', async (t) => {
  if (skipWithoutPhotos(t)) return;
  const { runOn, photo: loadShared } = await kit();
  const photo = await loadShared('astronaut.png');
  const { width, height } = photo;
  const rgba = runOn({ format: 'rgba', width, height }, photo.rgba, { effect: 'background-replace', params: { color: GREEN }, iters: 1 }, 'astronaut.png');
  const i420 = new Uint8Array(width * height * 1.5);
  rgbaToI420(photo.rgba, width, height, i420);
  const yuv = runOn({ format: 'i420', width, height }, i420, { effect: 'background-replace', params: { color: GREEN }, iters: 1 }, 'astronaut.png');
  assert.ok(iou(rgba.mask, yuv.mask, 128) >= 0.97, `IoU ${iou(rgba.mask, yuv.mask, 128)}`);
  // The replaced background's luma is the colour's (BT.601: Y of 0x00b140 = 112).
  const [x0, y0, x1, y1] = REGIONS['astronaut.png'].background[1];
  let sum = 0;
  for (let y = y0; y < y1; y++) for (let x = x0; x < x1; x++) sum += yuv.out[y * width + x]!;
  assert.ok(Math.abs(sum / ((x1 - x0) * (y1 - y0)) - 112) < 4);
});
