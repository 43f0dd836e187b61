/**
 * The segmentation kernels of assembly/segment.ts against slow obvious references, on seeded
 * random planes of odd and even sizes (the SIMD loops' tails), RGBA and one-channel.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { createWasmKernels } from '../../src/effects/wasm.ts';
import type { SegmentKernelExports } from '../../src/segmentation/background.ts';
import { modelInputFromRgba } from '../../src/segmentation/cpu-mask.ts';
import { EDGE_HIGH, EDGE_LOW, edgeMask } from '../../src/segmentation/graph-frame.ts';
import { createMaskState, viewMaskState } from '../../src/segmentation/mask-state.ts';
import { SELFIE_MODEL } from '../../src/segmentation/model.ts';

function seeded(seed: number) {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s >>> 24;
  };
}

async function kit() {
  const kernels = await createWasmKernels();
  const k = kernels.exports as SegmentKernelExports;
  const put = (bytes: Uint8Array, slack = 64) => {
    const ptr = kernels.alloc(bytes.length + slack);
    kernels.view(ptr, bytes.length).set(bytes);
    return ptr;
  };
  const random = (n: number, seed: number) => Uint8Array.from({ length: n }, seeded(seed));
  return { kernels, k, put, random };
}

const clampI = (v: number, n: number) => Math.min(n - 1, Math.max(0, v));

test('downsample4 is the rounded mean of each 4x4 block, edges repeated', async () => {
  const { kernels, k, put, random } = await kit();
  for (const c of [1, 4]) {
    for (const [w, h] of [[64, 32], [37, 23], [5, 3], [80, 45]] as const) {
      const src = random(w * h * c, w * 31 + h + c);
      const qw = Math.ceil(w / 4);
      const qh = Math.ceil(h / 4);
      const dst = put(new Uint8Array(qw * qh * c));
      k.downsample4(put(src), w, h, c, dst);
      const got = kernels.view(dst, qw * qh * c);
      for (let y = 0; y < qh; y++) {
        for (let x = 0; x < qw; x++) {
          for (let ch = 0; ch < c; ch++) {
            let sum = 0;
            for (let dy = 0; dy < 4; dy++) for (let dx = 0; dx < 4; dx++) sum += src[(clampI(y * 4 + dy, h) * w + clampI(x * 4 + dx, w)) * c + ch]!;
            assert.equal(got[(y * qw + x) * c + ch], (sum + 8) >> 4, `c=${c} ${w}x${h} at ${x},${y}`);
          }
        }
      }
    }
  }
});

test('upsample2x is within one unit of the exact (3a + b) / 4 bilinear weights', async () => {
  const { kernels, k, put, random } = await kit();
  for (const c of [1, 4]) {
    for (const [w, h] of [[16, 8], [9, 7], [33, 5], [1, 1]] as const) {
      const src = random(w * h * c, w + h * 7 + c);
      const dst = put(new Uint8Array(4 * w * h * c));
      k.upsample2x(put(src), w, h, c, dst, put(new Uint8Array(k.upsample2xScratch(w, c))));
      const got = kernels.view(dst, 4 * w * h * c);
      for (let y = 0; y < 2 * h; y++) {
        const j = y >> 1;
        const jn = clampI(y & 1 ? j + 1 : j - 1, h);
        for (let x = 0; x < 2 * w; x++) {
          const i = x >> 1;
          const inb = clampI(x & 1 ? i + 1 : i - 1, w);
          for (let ch = 0; ch < c; ch++) {
            const at = (yy: number, xx: number) => src[(yy * w + xx) * c + ch]!;
            const row = (xx: number) => (3 * at(j, xx) + at(jn, xx)) / 4;
            const exact = (3 * row(i) + row(inb)) / 4;
            const v = got[(y * 2 * w + x) * c + ch]!;
            assert.ok(Math.abs(v - exact) <= 1.5, `c=${c} ${w}x${h} at ${x},${y}: ${v} vs ${exact}`);
          }
        }
      }
    }
  }
});

test('blendPlane and blendConstant mix by the mask, rounded', async () => {
  const { kernels, k, put, random } = await kit();
  for (const c of [1, 4]) {
    for (const [w, h] of [[20, 3], [7, 5], [64, 2]] as const) {
      const n = w * h * c;
      const src = random(n, 1 + w + c);
      const bg = random(n, 2 + w + c);
      const maskStride = w + 3;
      const mask = random(maskStride * h, 3 + w + c);
      mask[0] = 0;
      mask[1] = 255;
      const dst = put(new Uint8Array(n));
      k.blendPlane(put(src), dst, w, h, c, put(bg), w * c, put(mask), maskStride);
      const got = kernels.view(dst, n).slice();
      const colour = 0x80402010;
      const dstC = put(new Uint8Array(n));
      k.blendConstant(put(src), dstC, w, h, c, colour, put(mask), maskStride);
      const gotC = kernels.view(dstC, n);
      for (let y = 0; y < h; y++) {
        for (let x = 0; x < w * c; x++) {
          const m = mask[y * maskStride + Math.floor(x / c)]!;
          const i = y * w * c + x;
          const exact = (src[i]! * m + bg[i]! * (255 - m)) / 255;
          assert.ok(Math.abs(got[i]! - exact) <= 0.51, `blend c=${c} at ${x},${y}: ${got[i]} vs ${exact}`);
          const kc = c === 4 ? (colour >>> ((x % 4) * 8)) & 0xff : colour & 0xff;
          const exactC = (src[i]! * m + kc * (255 - m)) / 255;
          assert.ok(Math.abs(gotC[i]! - exactC) <= 0.51, `constant c=${c} at ${x},${y}: ${gotC[i]} vs ${exactC}`);
        }
      }
      // Mask 255 keeps the source exactly, mask 0 is exactly the background.
      if (c === 1) {
        assert.equal(got[1], src[1]);
        assert.equal(got[0], bg[0]);
      }
    }
  }
});

test('resizeRgbaToInput matches the reference pre-processing of cpu-mask.ts', async () => {
  const { kernels, k, put, random } = await kit();
  const { inputWidth: W, inputHeight: H } = SELFIE_MODEL;
  for (const [w, h] of [[640, 360], [97, 301]] as const) {
    const frame = random(w * h * 4, w);
    const dst = put(new Uint8Array(W * H * 12));
    k.resizeRgbaToInput(put(frame), w, h, dst, W, H, SELFIE_MODEL.inputScale, SELFIE_MODEL.inputOffset);
    const got = new Float32Array(kernels.view(dst, W * H * 12).slice().buffer);
    const expected = modelInputFromRgba(frame, w, h);
    let worst = 0;
    for (let i = 0; i < expected.length; i++) worst = Math.max(worst, Math.abs(got[i]! - expected[i]!));
    assert.ok(worst < 1e-4, `${w}x${h}: worst difference ${worst}`);
  }
});

test('resizeRgbaRectToInput samples a square of the frame, black past its edges; I420 gives the same picture', async () => {
  const { kernels, k, put, random } = await kit();
  const [w, h, W, H] = [90, 60, 32, 32];
  const frame = random(w * h * 4, 7);
  const src = put(frame);
  const dst = put(new Uint8Array(W * H * 12));
  // A square of 80 frame pixels from (50, -10): its right and top parts are past the frame.
  k.resizeRgbaRectToInput(src, w, h, 50, -10, 80, 80, 0, dst, W, H, 1, 0);
  const got = new Float32Array(kernels.view(dst, W * H * 12).slice().buffer);
  const step = 80 / W;
  for (let y = 0; y < H; y++) {
    for (let x = 0; x < W; x++) {
      const sx = 50 + (x + 0.5) * step - 0.5;
      const sy = -10 + (y + 0.5) * step - 0.5;
      const outside = sx < -0.5 || sx > w - 0.5 || sy < -0.5 || sy > h - 0.5;
      for (let c = 0; c < 3; c++) {
        const v = got[(y * W + x) * 3 + c]!;
        if (outside) {
          assert.equal(v, 0, `${x},${y} is past the frame`);
          continue;
        }
        const cx = Math.min(w - 1, Math.max(0, sx));
        const cy = Math.min(h - 1, Math.max(0, sy));
        const x0 = Math.floor(cx);
        const y0 = Math.floor(cy);
        const x1 = Math.min(w - 1, x0 + 1);
        const y1 = Math.min(h - 1, y0 + 1);
        const at = (xx: number, yy: number) => frame[(yy * w + xx) * 4 + c]!;
        const top = at(x0, y0) + (at(x1, y0) - at(x0, y0)) * (cx - x0);
        const bottom = at(x0, y1) + (at(x1, y1) - at(x0, y1)) * (cx - x0);
        assert.ok(Math.abs(v - (top + (bottom - top) * (cy - y0))) < 1e-3, `${x},${y},${c}`);
      }
    }
  }
  // The whole frame as a rectangle is resizeRgbaToInput.
  const whole = put(new Uint8Array(W * H * 12));
  k.resizeRgbaRectToInput(src, w, h, 0, 0, w, h, 0, dst, W, H, 1 / 255, 0);
  k.resizeRgbaToInput(src, w, h, whole, W, H, 1 / 255, 0);
  assert.deepEqual(kernels.view(dst, W * H * 12).slice(), kernels.view(whole, W * H * 12).slice());
});

test('a turned rectangle: the model sees the picture turned a quarter clockwise, and maskPlaceRect turns its output back', async () => {
  const { kernels, k, put, random } = await kit();
  const n = 24;
  const frame = random(n * n * 4, 11);
  const src = put(frame);
  const at = (x: number, y: number) => frame[(y * n + x) * 4]!;
  for (const turns of [0, 1, 2, 3]) {
    const input = put(new Uint8Array(n * n * 12));
    k.resizeRgbaRectToInput(src, n, n, 0, 0, n, n, turns, input, n, n, 1, 0);
    const seen = new Float32Array(kernels.view(input, n * n * 12).slice().buffer);
    // Same grid, same size: every sample falls on a pixel centre.
    for (let y = 0; y < n; y++) {
      for (let x = 0; x < n; x++) {
        const [fx, fy] = [[x, y], [y, n - 1 - x], [n - 1 - x, n - 1 - y], [n - 1 - y, x]][turns]!;
        assert.ok(Math.abs(seen[(y * n + x) * 3]! - at(fx!, fy!)) < 1e-3, `turns ${turns}: model pixel ${x},${y} shows frame ${fx},${fy}`);
      }
    }
    // The red channel as a "model output", placed back: the frame's red again.
    const prob = put(new Uint8Array(Float32Array.from({ length: n * n }, (_, i) => seen[i * 3]!).buffer));
    const grid = put(new Uint8Array(n * n * 4));
    k.maskPlaceRect(prob, n, n, 0, 0, n, n, turns, n, n, grid, n, n);
    const back = new Float32Array(kernels.view(grid, n * n * 4).slice().buffer);
    for (let i = 0; i < n * n; i++) assert.ok(Math.abs(back[i]! - frame[i * 4]!) < 1e-3, `turns ${turns}: cell ${i}`);
  }
});

test('maskPlaceRect puts a model output back over its rectangle of the frame, the larger value where two meet', async () => {
  const { kernels, k, put } = await kit();
  const [W, H, mw, mh, fw, fh] = [16, 16, 32, 16, 640, 360];
  const ones = put(new Uint8Array(new Float32Array(W * H).fill(1).buffer));
  const half = put(new Uint8Array(new Float32Array(W * H).fill(0.5).buffer));
  const grid = put(new Uint8Array(mw * mh * 4));
  // Frame cells are 20 x 22.5 pixels; the rectangles cover x 100..300 and x 200..500 (y 0..180).
  k.maskPlaceRect(half, W, H, 200, 0, 300, 180, 0, fw, fh, grid, mw, mh);
  k.maskPlaceRect(ones, W, H, 100, 0, 200, 180, 0, fw, fh, grid, mw, mh);
  const got = new Float32Array(kernels.view(grid, mw * mh * 4).slice().buffer);
  for (let y = 0; y < mh; y++) {
    for (let x = 0; x < mw; x++) {
      const fx = (x + 0.5) * 20;
      const fy = (y + 0.5) * 22.5;
      const inFirst = fx >= 100 && fx <= 300 && fy <= 180;
      const inSecond = fx >= 200 && fx <= 500 && fy <= 180;
      assert.equal(got[y * mw + x], inFirst ? 1 : inSecond ? 0.5 : 0, `cell ${x},${y}`);
    }
  }
});

test('the WASM edge chain (maskToQuarter, the 3x3 mean, two upsample2x) is the edge graph-frame.ts defines, to the level', async () => {
  const { kernels, k, put, random } = await kit();
  const [mw, mh] = [64, 48];
  // A smooth mask with a soft edge (random bytes would only test the ramp's clamps).
  const noise = random(mw * mh, 5);
  const mask = Uint8Array.from({ length: mw * mh }, (_, i) => Math.min(255, Math.max(0, Math.round(128 + 120 * Math.sin((i % mw) / 7) * Math.cos(Math.floor(i / mw) / 5)) + (noise[i]! >> 5))));
  const maskPtr = put(mask);
  for (const [w, h] of [[200, 120], [97, 61], [33, 17]] as const) {
    const qw = Math.ceil(w / 4);
    const qh = Math.ceil(h / 4);
    const [q, q2, half, full] = [put(new Uint8Array(qw * qh)), put(new Uint8Array(qw * qh)), put(new Uint8Array(4 * qw * qh)), put(new Uint8Array(16 * qw * qh))];
    k.maskToQuarter(maskPtr, mw, mh, w, h, q, EDGE_LOW, EDGE_HIGH);
    k.blur(q, q2, qw, qh, 1, put(new Uint8Array(k.scratch3x3(qw, 1))));
    const rowUp = put(new Uint8Array(k.upsample2xScratch(qw * 2, 1)));
    k.upsample2x(q2, qw, qh, 1, half, rowUp);
    k.upsample2x(half, qw * 2, qh * 2, 1, full, rowUp);
    const got = kernels.view(full, 16 * qw * qh).slice();
    const want = edgeMask(mask, mw, mh, w, h);
    let worst = 0;
    for (let i = 0; i < want.length; i++) worst = Math.max(worst, Math.abs(got[i]! - want[i]!));
    assert.ok(worst <= 1, `${w}x${h}: the WASM edge is ${worst} levels from edgeMask`);
  }
});

test('maskUpdate smooths towards the new mask and a fresh mask replaces the state', async () => {
  const { kernels, k, put } = await kit();
  const n = 64;
  const prob = put(new Uint8Array(new Float32Array(n).fill(1).buffer));
  const state = put(new Uint8Array(n));
  k.maskUpdate(prob, state, n, 64, 0); // new weight 1/4: 0 -> 64
  assert.equal(kernels.view(state, n)[0], 64);
  k.maskUpdate(prob, state, n, 64, 0); // 64 -> 64 + 191/4 = 111.75
  assert.equal(kernels.view(state, n)[5], 112);
  k.maskUpdate(prob, state, n, 64, 1);
  assert.equal(kernels.view(state, n)[63], 255);
});

test('a mask state is a fixed number of bytes and starts empty', () => {
  const buffer = createMaskState(256 * 256);
  assert.equal(buffer.byteLength, 96 + 65536);
  const view = viewMaskState(buffer, 256 * 256);
  assert.equal(view.valid, false);
  assert.deepEqual(view.rois(), []);
  view.markValid();
  view.setRois([{ x0: 0.25, y0: 0.5, x1: 0.75, y1: 1, turns: 0 }, { x0: -0.125, y0: 0, x1: 0.5, y1: 0.5, turns: 3 }]);
  view.misses = 1;
  const again = viewMaskState(buffer, 256 * 256);
  assert.equal(again.valid, true);
  assert.deepEqual(again.rois(), [{ x0: 0.25, y0: 0.5, x1: 0.75, y1: 1, turns: 0 }, { x0: -0.125, y0: 0, x1: 0.5, y1: 0.5, turns: 3 }]);
  assert.equal(again.misses, 1);
  assert.throws(() => viewMaskState(buffer, 144 * 256), RangeError);
});

test('the committed model files are the ones ORIGIN.md records', () => {
  for (const [folder, files] of [['selfie', ['model.json', 'selfie.bin']], ['movenet-multipose', ['model.json', 'movenet-multipose.bin']]] as const) {
    const origin = readFileSync(`models/${folder}/ORIGIN.md`, 'utf8');
    for (const file of files) {
      const digest = createHash('sha256').update(readFileSync(`models/${folder}/${file}`)).digest('hex');
      assert.ok(origin.includes(digest), `${folder}/${file}: sha256 ${digest} not in ORIGIN.md`);
    }
    assert.match(readFileSync(`models/${folder}/LICENSE`, 'utf8'), /Apache License\s+Version 2\.0/);
  }
});
