/**
 * Separable Gaussian blur, radius r = ceil(3 * sigma), weights exp(-i^2 / (2 sigma^2)) normalised
 * to sum 1, clamp-to-edge, over one plane of `channels` interleaved 8-bit channels.
 *
 * Precision: the weights are computed in f64, normalised, then stored as f32; both passes
 * accumulate in f32 and the intermediate row is kept unrounded in f32. With at most 193 taps of
 * values <= 255 the accumulated error stays far below 0.01, so the result (round half up, clamp
 * 0..255) is within 1 of the f64 reference (equal except where the exact value sits on a .5).
 *
 * Convolution with clamped edges is separable and the order of the passes does not change the
 * exact result, so this runs the vertical pass first, straight from the 8-bit source (rows of
 * bytes are cheaper to stream than f32 rows), into one padded f32 row that stays in L1 for the
 * horizontal pass. Symmetric taps are paired: w_k * (a + b), with a + b summed in 16 bits.
 */
import { clampIndex } from './common';

export function gaussianRadius(sigma: f64): i32 {
  return <i32>Math.ceil(3 * sigma);
}

// @ts-ignore: decorator
@inline
function align16(n: i32): i32 {
  return (n + 15) & ~15;
}

/** Scratch bytes: weights, per-row source offsets, and the padded f32 row (+16 bytes of slack). */
export function gaussianScratch(width: i32, channels: i32, sigma: f64): i32 {
  const r = gaussianRadius(sigma);
  return align16((r + 1) * 4) + align16((r + 1) * 8) + align16((width * channels + 2 * r * channels) * 4 + 16);
}

export function gaussian(src: usize, dst: usize, width: i32, height: i32, channels: i32, sigma: f64, scratch: usize): void {
  if (channels == 4) gaussianImpl(src, dst, width, height, 4, sigma, scratch);
  else gaussianImpl(src, dst, width, height, 1, sigma, scratch);
}

// @ts-ignore: decorator
@inline
function widenSum(a: v128, b: v128, lo: bool): v128 {
  return lo
    ? i16x8.add(i16x8.extend_low_i8x16_u(a), i16x8.extend_low_i8x16_u(b))
    : i16x8.add(i16x8.extend_high_i8x16_u(a), i16x8.extend_high_i8x16_u(b));
}

// @ts-ignore: decorator
@inline
function toF32(v16: v128, lo: bool): v128 {
  return f32x4.convert_i32x4_s(lo ? i32x4.extend_low_i16x8_u(v16) : i32x4.extend_high_i16x8_u(v16));
}

/** Vertical pass for 16 bytes at offset i of row y into the f32 row at `row + i * 4`. */
// @ts-ignore: decorator
@inline
function verticalChunk(src: usize, center: usize, offs: usize, weights: usize, r: i32, row: usize, i: i32): void {
  const w0 = v128.load32_splat(weights);
  const c = v128.load(center + <usize>i);
  const c0 = i16x8.extend_low_i8x16_u(c);
  const c1 = i16x8.extend_high_i8x16_u(c);
  let acc0 = f32x4.mul(w0, toF32(c0, true));
  let acc1 = f32x4.mul(w0, toF32(c0, false));
  let acc2 = f32x4.mul(w0, toF32(c1, true));
  let acc3 = f32x4.mul(w0, toF32(c1, false));
  for (let k = 1; k <= r; k++) {
    const wk = v128.load32_splat(weights + <usize>(k << 2));
    const o = offs + <usize>(k << 3);
    const a = v128.load(src + <usize>load<i32>(o) + <usize>i);
    const b = v128.load(src + <usize>load<i32>(o, 4) + <usize>i);
    const s0 = widenSum(a, b, true);
    const s1 = widenSum(a, b, false);
    acc0 = f32x4.add(acc0, f32x4.mul(wk, toF32(s0, true)));
    acc1 = f32x4.add(acc1, f32x4.mul(wk, toF32(s0, false)));
    acc2 = f32x4.add(acc2, f32x4.mul(wk, toF32(s1, true)));
    acc3 = f32x4.add(acc3, f32x4.mul(wk, toF32(s1, false)));
  }
  const p = row + <usize>(i << 2);
  v128.store(p, acc0);
  v128.store(p, acc1, 16);
  v128.store(p, acc2, 32);
  v128.store(p, acc3, 48);
}

// @ts-ignore: decorator
@inline
function roundToBytes(a0: v128, a1: v128, a2: v128, a3: v128): v128 {
  const half = f32x4.splat(0.5);
  // Values are >= 0, so truncation after + 0.5 is round half up; narrowing saturates to 0..255.
  const i0 = i32x4.trunc_sat_f32x4_s(f32x4.add(a0, half));
  const i1 = i32x4.trunc_sat_f32x4_s(f32x4.add(a1, half));
  const i2 = i32x4.trunc_sat_f32x4_s(f32x4.add(a2, half));
  const i3 = i32x4.trunc_sat_f32x4_s(f32x4.add(a3, half));
  return i8x16.narrow_i16x8_u(i16x8.narrow_i32x4_s(i0, i1), i16x8.narrow_i32x4_s(i2, i3));
}

/** Horizontal pass for 16 output bytes at offset i, from the padded f32 row. */
// @ts-ignore: decorator
@inline
function horizontalChunk(row: usize, weights: usize, r: i32, c: i32, out: usize, i: i32): void {
  const p = row + <usize>(i << 2);
  const w0 = v128.load32_splat(weights);
  let acc0 = f32x4.mul(w0, v128.load(p));
  let acc1 = f32x4.mul(w0, v128.load(p, 16));
  let acc2 = f32x4.mul(w0, v128.load(p, 32));
  let acc3 = f32x4.mul(w0, v128.load(p, 48));
  const step = <usize>(c << 2);
  let l = p;
  let rr = p;
  for (let k = 1; k <= r; k++) {
    l -= step;
    rr += step;
    const wk = v128.load32_splat(weights + <usize>(k << 2));
    acc0 = f32x4.add(acc0, f32x4.mul(wk, f32x4.add(v128.load(l), v128.load(rr))));
    acc1 = f32x4.add(acc1, f32x4.mul(wk, f32x4.add(v128.load(l, 16), v128.load(rr, 16))));
    acc2 = f32x4.add(acc2, f32x4.mul(wk, f32x4.add(v128.load(l, 32), v128.load(rr, 32))));
    acc3 = f32x4.add(acc3, f32x4.mul(wk, f32x4.add(v128.load(l, 48), v128.load(rr, 48))));
  }
  v128.store(out + <usize>i, roundToBytes(acc0, acc1, acc2, acc3));
}

// @ts-ignore: decorator
@inline
function gaussianImpl(src: usize, dst: usize, w: i32, h: i32, c: i32, sigma: f64, scratch: usize): void {
  const r = gaussianRadius(sigma);
  const n = w * c;
  const weights = scratch;
  const offs = weights + <usize>align16((r + 1) * 4);
  const rowBase = offs + <usize>align16((r + 1) * 8);
  const row = rowBase + <usize>(r * c * 4); // element 0 of the row; r pixels of padding each side

  // Weights, normalised in f64 like the reference, stored as f32.
  const denom = 2 * sigma * sigma;
  let total: f64 = 1;
  for (let k = 1; k <= r; k++) total += 2 * Math.exp(-<f64>(k * k) / denom);
  store<f32>(weights, <f32>(1 / total));
  for (let k = 1; k <= r; k++) store<f32>(weights + <usize>(k << 2), <f32>(Math.exp(-<f64>(k * k) / denom) / total));

  const last = n - 16;
  for (let y = 0; y < h; y++) {
    for (let k = 1; k <= r; k++) {
      store<i32>(offs + <usize>(k << 3), clampIndex(y - k, h) * n);
      store<i32>(offs + <usize>(k << 3), clampIndex(y + k, h) * n, 4);
    }
    const center = src + <usize>(y * n);
    const out = dst + <usize>(y * n);

    if (n >= 16) {
      for (let i = 0; i < last; i += 16) verticalChunk(src, center, offs, weights, r, row, i);
      verticalChunk(src, center, offs, weights, r, row, last);
    } else {
      for (let i = 0; i < n; i++) {
        let acc = load<f32>(weights) * <f32>load<u8>(center + <usize>i);
        for (let k = 1; k <= r; k++) {
          const o = offs + <usize>(k << 3);
          const s = <i32>load<u8>(src + <usize>load<i32>(o) + <usize>i) + <i32>load<u8>(src + <usize>load<i32>(o, 4) + <usize>i);
          acc += load<f32>(weights + <usize>(k << 2)) * <f32>s;
        }
        store<f32>(row + <usize>(i << 2), acc);
      }
    }

    // Clamp-to-edge padding: r copies of the first pixel before, of the last pixel after.
    for (let ch = 0; ch < c; ch++) {
      const first = load<f32>(row + <usize>(ch << 2));
      const lastPx = load<f32>(row + <usize>((n - c + ch) << 2));
      for (let k = 1; k <= r; k++) {
        store<f32>(row + <usize>((ch - k * c) << 2), first);
        store<f32>(row + <usize>((n - c + ch + k * c) << 2), lastPx);
      }
    }

    if (n >= 16) {
      for (let i = 0; i < last; i += 16) horizontalChunk(row, weights, r, c, out, i);
      horizontalChunk(row, weights, r, c, out, last);
    } else {
      for (let i = 0; i < n; i++) {
        let acc = load<f32>(weights) * load<f32>(row + <usize>(i << 2));
        for (let k = 1; k <= r; k++) {
          acc += load<f32>(weights + <usize>(k << 2)) * (load<f32>(row + <usize>((i - k * c) << 2)) + load<f32>(row + <usize>((i + k * c) << 2)));
        }
        const v = <i32>(acc + 0.5);
        store<u8>(out + <usize>i, <u8>(v < 0 ? 0 : v > 255 ? 255 : v));
      }
    }
  }
}
