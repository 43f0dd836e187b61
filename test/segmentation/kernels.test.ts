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
  assert.equal(buffer.byteLength, 16 + 65536);
  const view = viewMaskState(buffer, 256 * 256);
  assert.equal(view.valid, false);
  view.markValid();
  assert.equal(viewMaskState(buffer, 256 * 256).valid, true);
  assert.throws(() => viewMaskState(buffer, 144 * 256), RangeError);
});

test('the committed model files are the ones ORIGIN.md records', () => {
  const origin = readFileSync('models/selfie/ORIGIN.md', 'utf8');
  for (const file of ['model.json', 'selfie.bin']) {
    const digest = createHash('sha256').update(readFileSync(`models/selfie/${file}`)).digest('hex');
    assert.ok(origin.includes(digest), `${file}: sha256 ${digest} not in ORIGIN.md`);
  }
  assert.match(readFileSync('models/selfie/LICENSE', 'utf8'), /Apache License\s+Version 2\.0/);
});
