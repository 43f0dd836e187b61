/**
 * Gaussian blur over one plane of `channels` interleaved 8-bit channels, clamp-to-edge: below
 * RECURSIVE_MIN_SIGMA the exact separable FIR here, radius r = ceil(3 * sigma), weights
 * exp(-i^2 / (2 sigma^2)) normalised to sum 1, whose cost grows with sigma; from it on the
 * recursive filter of gaussian-iir.ts, whose cost does not (src/effects/reference.ts defines both).
 *
 * Convolution with clamped edges is separable and the order of the passes does not change the
 * exact result, so the vertical pass runs first, straight from the 8-bit rows, into padded
 * 16-bit rows that stay in L1 for the horizontal pass, two output rows a sweep.
 *
 * Both passes are 16-bit fixed point on i32x4.dot_i16x8_s (8 multiply-adds per instruction).
 * Vertically, two output rows y and y + 1 share their input rows y - r .. y + r + 1: each pair of
 * them is interleaved byte by byte and widened once, and serves both rows' dot products, (w(k),
 * w(k + 1)) for one and (w(k - 1), w(k)) for the other (w beyond r is 0). A last odd row, and
 * the horizontal pass, pair the symmetric taps instead, t_k = a[-k] + a[+k] (t_0 = 2 a[0] with
 * half the centre weight), the t of two consecutive k interleaved so that one dot product applies
 * (w_k, w_k+1); an even r leaves t_r alone, interleaved with zeros.
 * Precision (intermediate and weights), chosen so that the result is always within 1 of the exact
 * value the f64 reference rounds:
 * - weights are round(w * 2^s), s as large as the i16 lanes and the i32 sums allow: vertical
 *   s <= 22 (sums <= 510 * 2^(s-1) < 2^31), horizontal s <= 17 (sums <= 32640 * 2^(s-1) < 2^31),
 *   and max weight * 2^s <= 32767 (unpaired: w(0) * 2^s). Each weight is off by <= 2^-(s+1), a
 *   pass by at most 255 * (2r + 1) * 2^-(s+1): <= 0.19 horizontally at sigma 32, a few hundredths
 *   elsewhere (the two-row vertical pass: 0.013 at sigma 2, s 17; 0.023 at most, below sigma 0.5);
 * - the vertical result is rounded to unsigned Q6 (x64, <= ~16330, pair sums fit i16): <= 1/128;
 * - the horizontal sum is rounded half up and saturated to 0..255.
 * The result equals the reference unless the exact value lies within ~0.25 of a .5.
 */
import { clampIndex } from './common';
import { RECURSIVE_MIN_SIGMA, recursiveGaussian, recursivePlaneBytes, recursiveScratchBytes } from './gaussian-iir';

export function gaussianRadius(sigma: f64): i32 {
  return <i32>Math.ceil(3 * sigma);
}

// @ts-ignore: decorator
@inline
function align16(n: i32): i32 {
  return (n + 15) & ~15;
}

const VERTICAL_MAX_SHIFT = 22;
const HORIZONTAL_MAX_SHIFT = 17;
const Q6: i32 = 6;

// Scratch layout: i16 vertical weights [r + 2] | i16 horizontal weights [r + 2] |
// i32 row-offset pairs [r + 1] (room for r + 2) | i16 Q6 row with r + 1 pixels of padding each side (+ slack).
// @ts-ignore: decorator
@inline
function weightsBytes(r: i32): i32 {
  return align16((r + 2) * 2);
}
// @ts-ignore: decorator
@inline
function offsBytes(r: i32): i32 {
  return align16((r + 2) * 8);
}
// @ts-ignore: decorator
@inline
function padLanes(r: i32, c: i32): i32 {
  return (r + 1) * c + 8;
}

/** Two rows' pair weights: r + 1 pairs of i16 (an i32 each). */
// @ts-ignore: decorator
@inline
function pairWeightsBytes(r: i32): i32 {
  return align16((r + 1) * 4);
}

/** From this sigma on, gaussian is the recursive filter. */
export function gaussianRecursiveMinSigma(): f64 {
  return RECURSIVE_MIN_SIGMA;
}

/** Scratch bytes of the FIR for a plane of this width. */
function firScratchBytes(width: i32, channels: i32, sigma: f64): i32 {
  const r = gaussianRadius(sigma);
  return 2 * weightsBytes(r) + offsBytes(r) + 2 * align16((width * channels + 2 * padLanes(r, channels)) * 2 + 32) +
    offsBytes(r) + 2 * pairWeightsBytes(r);
}

/**
 * Row scratch bytes for a plane of this size (`scratch` of gaussian): enough for every sigma up
 * to this one, so that scratch sized for the largest sigma of a series serves them all.
 */
export function gaussianScratch(width: i32, height: i32, channels: i32, sigma: f64): i32 {
  const fir = firScratchBytes(width, channels, min(sigma, RECURSIVE_MIN_SIGMA));
  return sigma < RECURSIVE_MIN_SIGMA ? fir : max(fir, recursiveScratchBytes(width, height, channels));
}

/** Plane-sized scratch bytes (`plane` of gaussian): 0 below RECURSIVE_MIN_SIGMA, as large from it on. */
export function gaussianPlaneScratch(width: i32, height: i32, channels: i32, sigma: f64): i32 {
  return sigma < RECURSIVE_MIN_SIGMA ? 0 : recursivePlaneBytes(width, height, channels);
}

/**
 * `scratch`: gaussianScratch bytes; `plane`: gaussianPlaneScratch bytes. From
 * RECURSIVE_MIN_SIGMA on src may be dst (the recursive filter reads all of src first).
 */
export function gaussian(src: usize, dst: usize, width: i32, height: i32, channels: i32, sigma: f64, scratch: usize, plane: usize): void {
  if (sigma >= RECURSIVE_MIN_SIGMA) recursiveGaussian(src, dst, width, height, channels, sigma, scratch, plane);
  else if (channels == 4) gaussianImpl(src, dst, width, height, 4, sigma, scratch);
  else gaussianImpl(src, dst, width, height, 1, sigma, scratch);
}

/**
 * Writes the fixed-point weights q[0..r+1] (q[0] for the doubled centre, q[r+1] = 0: the last
 * pair's splat of an even r reads it) and returns their shift s.
 */
function quantiseWeights(sigma: f64, r: i32, q: usize, maxShift: i32): i32 {
  const denom = 2 * sigma * sigma;
  let total: f64 = 1;
  for (let k = 1; k <= r; k++) total += 2 * Math.exp(-<f64>(k * k) / denom);
  const wMax = max(0.5 / total, Math.exp(-1 / denom) / total); // w0 / 2, w1
  let s = 0;
  while (s < maxShift && wMax * <f64>(1 << (s + 1)) <= 32767) s++;
  const scale = <f64>(1 << s);
  store<i16>(q, <i16>Math.round((0.5 / total) * scale));
  for (let k = 1; k <= r; k++) store<i16>(q + <usize>(k << 1), <i16>Math.round((Math.exp(-<f64>(k * k) / denom) / total) * scale));
  store<i16>(q + <usize>((r + 1) << 1), 0);
  return s;
}

/** Lanes 0..3 of a and b interleaved (a0 b0 a1 b1 ...), as 16-bit lanes. */
// @ts-ignore: decorator
@inline
function zipLo(a: v128, b: v128): v128 {
  return i8x16.shuffle(a, b, 0, 1, 16, 17, 2, 3, 18, 19, 4, 5, 20, 21, 6, 7, 22, 23);
}

// @ts-ignore: decorator
@inline
function zipHi(a: v128, b: v128): v128 {
  return i8x16.shuffle(a, b, 8, 9, 24, 25, 10, 11, 26, 27, 12, 13, 28, 29, 14, 15, 30, 31);
}

/** Vertical pass for 16 bytes at offset i into the Q6 row at `row + 2i`. */
// @ts-ignore: decorator
@inline
function verticalChunk(src: usize, offs: usize, qw: usize, r: i32, shift: i32, row: usize, i: i32): void {
  let acc0 = i32x4.splat(0);
  let acc1 = acc0;
  let acc2 = acc0;
  let acc3 = acc0;
  const base = src + <usize>i;
  let k = 0;
  for (; k < r; k += 2) {
    const o = offs + <usize>(k << 3);
    const a0 = v128.load(base + <usize>load<i32>(o));
    const b0 = v128.load(base + <usize>load<i32>(o, 4));
    const a1 = v128.load(base + <usize>load<i32>(o, 8));
    const b1 = v128.load(base + <usize>load<i32>(o, 12));
    const s0lo = i16x8.add(i16x8.extend_low_i8x16_u(a0), i16x8.extend_low_i8x16_u(b0));
    const s0hi = i16x8.add(i16x8.extend_high_i8x16_u(a0), i16x8.extend_high_i8x16_u(b0));
    const s1lo = i16x8.add(i16x8.extend_low_i8x16_u(a1), i16x8.extend_low_i8x16_u(b1));
    const s1hi = i16x8.add(i16x8.extend_high_i8x16_u(a1), i16x8.extend_high_i8x16_u(b1));
    const w = v128.load32_splat(qw + <usize>(k << 1)); // (q_k, q_k+1) in every i32 lane
    acc0 = i32x4.add(acc0, i32x4.dot_i16x8_s(zipLo(s0lo, s1lo), w));
    acc1 = i32x4.add(acc1, i32x4.dot_i16x8_s(zipHi(s0lo, s1lo), w));
    acc2 = i32x4.add(acc2, i32x4.dot_i16x8_s(zipLo(s0hi, s1hi), w));
    acc3 = i32x4.add(acc3, i32x4.dot_i16x8_s(zipHi(s0hi, s1hi), w));
  }
  if (k == r) {
    // An even radius leaves tap r without a partner: paired with zeros rather than a row of weight 0.
    const o = offs + <usize>(k << 3);
    const a0 = v128.load(base + <usize>load<i32>(o));
    const b0 = v128.load(base + <usize>load<i32>(o, 4));
    const s0lo = i16x8.add(i16x8.extend_low_i8x16_u(a0), i16x8.extend_low_i8x16_u(b0));
    const s0hi = i16x8.add(i16x8.extend_high_i8x16_u(a0), i16x8.extend_high_i8x16_u(b0));
    const z = i16x8.splat(0);
    const w = v128.load32_splat(qw + <usize>(k << 1));
    acc0 = i32x4.add(acc0, i32x4.dot_i16x8_s(zipLo(s0lo, z), w));
    acc1 = i32x4.add(acc1, i32x4.dot_i16x8_s(zipHi(s0lo, z), w));
    acc2 = i32x4.add(acc2, i32x4.dot_i16x8_s(zipLo(s0hi, z), w));
    acc3 = i32x4.add(acc3, i32x4.dot_i16x8_s(zipHi(s0hi, z), w));
  }
  const rnd = i32x4.splat(1 << (shift - Q6 - 1));
  const sh = shift - Q6;
  const p = row + <usize>(i << 1);
  v128.store(p, i16x8.narrow_i32x4_s(i32x4.shr_u(i32x4.add(acc0, rnd), sh), i32x4.shr_u(i32x4.add(acc1, rnd), sh)));
  v128.store(p, i16x8.narrow_i32x4_s(i32x4.shr_u(i32x4.add(acc2, rnd), sh), i32x4.shr_u(i32x4.add(acc3, rnd), sh)), 16);
}

/** Horizontal pass for 16 output bytes at offset i, from the padded Q6 row. */
// @ts-ignore: decorator
@inline
function horizontalChunk(row: usize, qw: usize, r: i32, shift: i32, c: i32, out: usize, i: i32): void {
  let acc0 = i32x4.splat(0);
  let acc1 = acc0;
  let acc2 = acc0;
  let acc3 = acc0;
  const p = row + <usize>(i << 1);
  const step = <usize>(c << 1);
  let l = p;
  let rr = p;
  let k = 0;
  for (; k < r; k += 2) {
    const t0lo = i16x8.add(v128.load(l), v128.load(rr));
    const t0hi = i16x8.add(v128.load(l, 16), v128.load(rr, 16));
    l -= step;
    rr += step;
    const t1lo = i16x8.add(v128.load(l), v128.load(rr));
    const t1hi = i16x8.add(v128.load(l, 16), v128.load(rr, 16));
    l -= step;
    rr += step;
    const w = v128.load32_splat(qw + <usize>(k << 1));
    acc0 = i32x4.add(acc0, i32x4.dot_i16x8_s(zipLo(t0lo, t1lo), w));
    acc1 = i32x4.add(acc1, i32x4.dot_i16x8_s(zipHi(t0lo, t1lo), w));
    acc2 = i32x4.add(acc2, i32x4.dot_i16x8_s(zipLo(t0hi, t1hi), w));
    acc3 = i32x4.add(acc3, i32x4.dot_i16x8_s(zipHi(t0hi, t1hi), w));
  }
  if (k == r) {
    const t0lo = i16x8.add(v128.load(l), v128.load(rr));
    const t0hi = i16x8.add(v128.load(l, 16), v128.load(rr, 16));
    const z = i16x8.splat(0);
    const w = v128.load32_splat(qw + <usize>(k << 1));
    acc0 = i32x4.add(acc0, i32x4.dot_i16x8_s(zipLo(t0lo, z), w));
    acc1 = i32x4.add(acc1, i32x4.dot_i16x8_s(zipHi(t0lo, z), w));
    acc2 = i32x4.add(acc2, i32x4.dot_i16x8_s(zipLo(t0hi, z), w));
    acc3 = i32x4.add(acc3, i32x4.dot_i16x8_s(zipHi(t0hi, z), w));
  }
  const sh = shift + Q6;
  const rnd = i32x4.splat(1 << (sh - 1));
  const o0 = i32x4.shr_u(i32x4.add(acc0, rnd), sh);
  const o1 = i32x4.shr_u(i32x4.add(acc1, rnd), sh);
  const o2 = i32x4.shr_u(i32x4.add(acc2, rnd), sh);
  const o3 = i32x4.shr_u(i32x4.add(acc3, rnd), sh);
  v128.store(out + <usize>i, i8x16.narrow_i16x8_u(i16x8.narrow_i32x4_s(o0, o1), i16x8.narrow_i32x4_s(o2, o3)));
}

/**
 * Unfolded weights for two output rows y (at qa) and y + 1 (at qb) over the input rows
 * y - r .. y + r + 1 taken in pairs (y - r + 2m, y - r + 2m + 1): pair m holds (w(2m - r),
 * w(2m - r + 1)) for row y and (w(2m - r - 1), w(2m - r)) for row y + 1, w(|k| > r) = 0, each
 * round(w * 2^s); returns s.
 */
function pairWeights(sigma: f64, r: i32, qa: usize, qb: usize): i32 {
  const denom = 2 * sigma * sigma;
  let total: f64 = 1;
  for (let k = 1; k <= r; k++) total += 2 * Math.exp(-<f64>(k * k) / denom);
  let s = 0;
  while (s < VERTICAL_MAX_SHIFT && (1 / total) * <f64>(1 << (s + 1)) <= 32767) s++;
  const scale = <f64>(1 << s) / total;
  for (let m = 0; m <= r; m++) {
    const k0 = 2 * m - r;
    store<i16>(qa + <usize>(m << 2), tapWeight(k0, r, denom, scale));
    store<i16>(qa + <usize>(m << 2), tapWeight(k0 + 1, r, denom, scale), 2);
    store<i16>(qb + <usize>(m << 2), tapWeight(k0 - 1, r, denom, scale));
    store<i16>(qb + <usize>(m << 2), tapWeight(k0, r, denom, scale), 2);
  }
  return s;
}

// @ts-ignore: decorator
@inline
function tapWeight(k: i32, r: i32, denom: f64, scale: f64): i16 {
  return abs(k) > r ? 0 : <i16>Math.round(Math.exp(-<f64>(k * k) / denom) * scale);
}

/**
 * Vertical pass of two output rows for 16 bytes at offset i: each pair of input rows is
 * interleaved byte by byte and widened once, then serves both rows' dot products.
 */
// @ts-ignore: decorator
@inline
function verticalChunk2(src: usize, offs: usize, qa: usize, qb: usize, r: i32, shift: i32, rowA: usize, rowB: usize, i: i32): void {
  let a0 = i32x4.splat(0);
  let a1 = a0;
  let a2 = a0;
  let a3 = a0;
  let b0 = a0;
  let b1 = a0;
  let b2 = a0;
  let b3 = a0;
  const base = src + <usize>i;
  for (let m = 0; m <= r; m++) {
    const o = offs + <usize>(m << 3);
    const u = v128.load(base + <usize>load<i32>(o));
    const v = v128.load(base + <usize>load<i32>(o, 4));
    const lo = i8x16.shuffle(u, v, 0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
    const hi = i8x16.shuffle(u, v, 8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31);
    const p0 = i16x8.extend_low_i8x16_u(lo);
    const p1 = i16x8.extend_high_i8x16_u(lo);
    const p2 = i16x8.extend_low_i8x16_u(hi);
    const p3 = i16x8.extend_high_i8x16_u(hi);
    const wa = v128.load32_splat(qa + <usize>(m << 2));
    const wb = v128.load32_splat(qb + <usize>(m << 2));
    a0 = i32x4.add(a0, i32x4.dot_i16x8_s(p0, wa));
    a1 = i32x4.add(a1, i32x4.dot_i16x8_s(p1, wa));
    a2 = i32x4.add(a2, i32x4.dot_i16x8_s(p2, wa));
    a3 = i32x4.add(a3, i32x4.dot_i16x8_s(p3, wa));
    b0 = i32x4.add(b0, i32x4.dot_i16x8_s(p0, wb));
    b1 = i32x4.add(b1, i32x4.dot_i16x8_s(p1, wb));
    b2 = i32x4.add(b2, i32x4.dot_i16x8_s(p2, wb));
    b3 = i32x4.add(b3, i32x4.dot_i16x8_s(p3, wb));
  }
  const rnd = i32x4.splat(1 << (shift - Q6 - 1));
  const sh = shift - Q6;
  const pa = rowA + <usize>(i << 1);
  v128.store(pa, i16x8.narrow_i32x4_s(i32x4.shr_u(i32x4.add(a0, rnd), sh), i32x4.shr_u(i32x4.add(a1, rnd), sh)));
  v128.store(pa, i16x8.narrow_i32x4_s(i32x4.shr_u(i32x4.add(a2, rnd), sh), i32x4.shr_u(i32x4.add(a3, rnd), sh)), 16);
  const pb = rowB + <usize>(i << 1);
  v128.store(pb, i16x8.narrow_i32x4_s(i32x4.shr_u(i32x4.add(b0, rnd), sh), i32x4.shr_u(i32x4.add(b1, rnd), sh)));
  v128.store(pb, i16x8.narrow_i32x4_s(i32x4.shr_u(i32x4.add(b2, rnd), sh), i32x4.shr_u(i32x4.add(b3, rnd), sh)), 16);
}

/** Clamp-to-edge padding of a Q6 row: r + 1 copies of the first pixel before, of the last pixel after. */
// @ts-ignore: decorator
@inline
function padRow(row: usize, n: i32, c: i32, r: i32): void {
  for (let ch = 0; ch < c; ch++) {
    const first = load<i16>(row + <usize>(ch << 1));
    const lastPx = load<i16>(row + <usize>((n - c + ch) << 1));
    for (let k = 1; k <= r + 1; k++) {
      store<i16>(row + <usize>((ch - k * c) << 1), first);
      store<i16>(row + <usize>((n - c + ch + k * c) << 1), lastPx);
    }
  }
}

// @ts-ignore: decorator
@inline
function gaussianImpl(src: usize, dst: usize, w: i32, h: i32, c: i32, sigma: f64, scratch: usize): void {
  const r = gaussianRadius(sigma);
  const n = w * c;
  const qv = scratch;
  const qh = qv + <usize>weightsBytes(r);
  const offs = qh + <usize>weightsBytes(r);
  const pad = padLanes(r, c);
  const row = offs + <usize>offsBytes(r) + <usize>(pad << 1); // lane 0 of the row
  const sv = quantiseWeights(sigma, r, qv, VERTICAL_MAX_SHIFT);
  const shh = quantiseWeights(sigma, r, qh, HORIZONTAL_MAX_SHIFT);

  const last = n - 16;
  const rowBytes = align16((n + 2 * pad) * 2 + 32);
  const rowB = row + <usize>rowBytes;
  const offs2 = rowB + <usize>rowBytes - <usize>(pad << 1);
  const qa = offs2 + <usize>offsBytes(r);
  const qb = qa + <usize>pairWeightsBytes(r);
  const s2 = pairWeights(sigma, r, qa, qb);
  let y = 0;
  // Two output rows a sweep.
  if (n >= 16) {
    for (; y + 2 <= h; y += 2) {
      for (let m = 0; m <= r; m++) {
        store<i32>(offs2 + <usize>(m << 3), clampIndex(y - r + 2 * m, h) * n);
        store<i32>(offs2 + <usize>(m << 3), clampIndex(y - r + 2 * m + 1, h) * n, 4);
      }
      for (let i = 0; i < last; i += 16) verticalChunk2(src, offs2, qa, qb, r, s2, row, rowB, i);
      verticalChunk2(src, offs2, qa, qb, r, s2, row, rowB, last);
      padRow(row, n, c, r);
      padRow(rowB, n, c, r);
      const outA = dst + <usize>(y * n);
      const outB = outA + <usize>n;
      for (let i = 0; i < last; i += 16) horizontalChunk(row, qh, r, shh, c, outA, i);
      horizontalChunk(row, qh, r, shh, c, outA, last);
      for (let i = 0; i < last; i += 16) horizontalChunk(rowB, qh, r, shh, c, outB, i);
      horizontalChunk(rowB, qh, r, shh, c, outB, last);
    }
  }
  for (; y < h; y++) {
    const center = y * n;
    for (let k = 0; k <= r; k++) {
      store<i32>(offs + <usize>(k << 3), clampIndex(y - k, h) * n);
      store<i32>(offs + <usize>(k << 3), clampIndex(y + k, h) * n, 4);
    }
    const out = dst + <usize>center;

    if (n >= 16) {
      for (let i = 0; i < last; i += 16) verticalChunk(src, offs, qv, r, sv, row, i);
      verticalChunk(src, offs, qv, r, sv, row, last);
    } else {
      for (let i = 0; i < n; i++) {
        let acc: i32 = 0;
        for (let k = 0; k <= r; k++) {
          const o = offs + <usize>(k << 3);
          const t = <i32>load<u8>(src + <usize>load<i32>(o) + <usize>i) + <i32>load<u8>(src + <usize>load<i32>(o, 4) + <usize>i);
          acc += <i32>load<i16>(qv + <usize>(k << 1)) * t;
        }
        store<i16>(row + <usize>(i << 1), <i16>((acc + (1 << (sv - Q6 - 1))) >>> (sv - Q6)));
      }
    }

    padRow(row, n, c, r);

    if (n >= 16) {
      for (let i = 0; i < last; i += 16) horizontalChunk(row, qh, r, shh, c, out, i);
      horizontalChunk(row, qh, r, shh, c, out, last);
    } else {
      const sh = shh + Q6;
      for (let i = 0; i < n; i++) {
        let acc: i32 = 0;
        for (let k = 0; k <= r; k++) {
          const t = <i32>load<i16>(row + <usize>((i - k * c) << 1)) + <i32>load<i16>(row + <usize>((i + k * c) << 1));
          acc += <i32>load<i16>(qh + <usize>(k << 1)) * t;
        }
        const v = (acc + (1 << (sh - 1))) >>> sh;
        store<u8>(out + <usize>i, <u8>min(v, 255));
      }
    }
  }
}
