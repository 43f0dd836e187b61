/**
 * Gaussian blur in constant time per pixel whatever sigma: Deriche's 4th-order recursive filter,
 * the definition of gaussian from RECURSIVE_MIN_SIGMA on (src/effects/reference.ts,
 * recursiveGaussianLine). It is within 0.13 levels of the exact, untruncated sampled Gaussian on
 * any 8-bit image, borders included (test/unit/gaussian-accuracy.test.ts).
 *
 * A line is the sum of two second-order sections (one per conjugate pair of poles), each run
 * causally and anticausally from its steady state for the clamped edge value. f32 throughout,
 * one v128 of four lanes per step:
 * - RGBA: the lanes are a pixel's channels; a line is a row (pass 1) or a column (pass 2);
 * - one channel: the lanes are four rows (pass 1) or four columns (pass 2), gathered by a small
 *   transpose into per-line buffers first.
 * One line at a time: its recursion is a chain of multiply-subtract, and two lines side by side
 * need more vector registers than V8 gives (the spills cost more than the latency they hide).
 *
 * Pass 1 filters rows and writes the plane transposed (column-major) into `plane` as unsigned Q8
 * with a +1 offset (16 bits, error <= 1/512); pass 2 filters those columns and writes rows of
 * bytes; so every access runs along the recursion. Pass 1 reads all of src before pass 2 writes
 * dst: src may be dst.
 */
import { clampIndex } from './common';

/** As GAUSSIAN_RECURSIVE_MIN_SIGMA in src/effects/catalog.ts (a test compares them). */
export const RECURSIVE_MIN_SIGMA: f64 = 5;

// One coefficient set per pass: 16 splatted f32 (v128 each), see coefficients().
const K_BYTES: i32 = 16 * 16;
const K_A1 = 0;
const K_A2 = 16;
const K_E1 = 32;
const K_E2 = 48;
const K_C0 = 64;
const K_C1 = 80;
const K_F0 = 96;
const K_F1 = 112;
const K_D1 = 128;
const K_D2 = 144;
const K_G1 = 160;
const K_G2 = 176;
const K_IA = 192;
const K_IB = 208;
const K_OFFSET = 224;

/** Pass 1's output scale: unsigned Q8. */
const Q8: f64 = 256;

/**
 * Rounding by magnitude: adding 1.5 * 2^23 to |v| < 2^22 leaves round-to-nearest(v) in the low
 * mantissa bits, read back by subtracting the constant's bit pattern as an integer: two
 * instructions where x64 needs many for a saturating float-to-int conversion.
 */
const MAGIC: f32 = 12582912;
const MAGIC_BITS: i32 = 0x4b400000;

// @ts-ignore: decorator
@inline
function align16(n: i32): i32 {
  return (n + 15) & ~15;
}

/** Rows per band of pass 1 (the plane's height is padded to it): 4 lines of 1 or 4 rows. */
// @ts-ignore: decorator
@inline
function bandRows(channels: i32): i32 {
  return channels == 4 ? 4 : 16;
}

// @ts-ignore: decorator
@inline
function paddedHeight(height: i32, channels: i32): i32 {
  const b = bandRows(channels);
  return (height + b - 1) / b * b;
}

/** Bytes of the transposed 16-bit plane. */
export function recursivePlaneBytes(width: i32, height: i32, channels: i32): i32 {
  return align16(width * paddedHeight(height, channels) * channels * 2);
}

/** One channel: one line's gathered input, 4 bytes per column (pass 1) or 8 per row (pass 2). */
// @ts-ignore: decorator
@inline
function lineBytes(width: i32, height: i32): i32 {
  return align16(max(width * 4, height * 8) + 16);
}

/** Bytes of row scratch: two coefficient sets, a partial-store buffer, one line's causal sums, (one channel) four gathered lines or (RGBA, relaxed build) a 16-byte-wide tile a row. */
export function recursiveScratchBytes(width: i32, height: i32, channels: i32): i32 {
  return 2 * K_BYTES + 16 + max(width, height) * 16 + (channels == 1 ? 4 * lineBytes(width, height) : ASC_FEATURE_RELAXED_SIMD ? height * 16 : 0);
}

/**
 * The coefficients of one pass into k, each splatted: the two sections' poles (a1, a2; e1, e2),
 * causal numerators (c0, c1; f0, f1), anticausal numerators (d1, d2; g1, g2), the steady-state
 * factors 1 / (1 + a1 + a2) and 1 / (1 + e1 + e2), and the output's offset plus MAGIC. Numerators are
 * scaled by `scale`; the normalisation uses the poles as f32, so that the f32 filter keeps a
 * constant line constant.
 */
function coefficients(sigma: f64, scale: f64, offset: f64, k: usize): void {
  // Section 0: alpha 0.84 + 1.8675i, lambda 1.783 + 0.6318i; section 1: -0.34015 - 0.1299i, 1.723 + 1.997i.
  const m0 = Math.exp(-1.783 / sigma);
  const br0 = m0 * Math.cos(0.6318 / sigma);
  const bi0 = -m0 * Math.sin(0.6318 / sigma);
  const m1 = Math.exp(-1.723 / sigma);
  const br1 = m1 * Math.cos(1.997 / sigma);
  const bi1 = -m1 * Math.sin(1.997 / sigma);
  const a1 = <f64>(<f32>(-2 * br0));
  const a2 = <f64>(<f32>(m0 * m0));
  const e1 = <f64>(<f32>(-2 * br1));
  const e2 = <f64>(<f32>(m1 * m1));
  const c0: f64 = 2 * 0.84;
  const c1 = -2 * (0.84 * br0 + 1.8675 * bi0);
  const d1 = 2 * (0.84 * br0 - 1.8675 * bi0);
  const d2 = -2 * 0.84 * m0 * m0;
  const f0: f64 = 2 * -0.34015;
  const f1 = -2 * (-0.34015 * br1 - 0.1299 * bi1);
  const g1 = 2 * (-0.34015 * br1 + 0.1299 * bi1);
  const g2 = -2 * -0.34015 * m1 * m1;
  const s = scale / ((c0 + c1 + d1 + d2) / (1 + a1 + a2) + (f0 + f1 + g1 + g2) / (1 + e1 + e2));
  v128.store(k, f32x4.splat(<f32>a1), K_A1);
  v128.store(k, f32x4.splat(<f32>a2), K_A2);
  v128.store(k, f32x4.splat(<f32>e1), K_E1);
  v128.store(k, f32x4.splat(<f32>e2), K_E2);
  v128.store(k, f32x4.splat(<f32>(c0 * s)), K_C0);
  v128.store(k, f32x4.splat(<f32>(c1 * s)), K_C1);
  v128.store(k, f32x4.splat(<f32>(f0 * s)), K_F0);
  v128.store(k, f32x4.splat(<f32>(f1 * s)), K_F1);
  v128.store(k, f32x4.splat(<f32>(d1 * s)), K_D1);
  v128.store(k, f32x4.splat(<f32>(d2 * s)), K_D2);
  v128.store(k, f32x4.splat(<f32>(g1 * s)), K_G1);
  v128.store(k, f32x4.splat(<f32>(g2 * s)), K_G2);
  v128.store(k, f32x4.splat(<f32>(1 / (1 + a1 + a2))), K_IA);
  v128.store(k, f32x4.splat(<f32>(1 / (1 + e1 + e2))), K_IB);
  v128.store(k, f32x4.splat(<f32>offset), K_OFFSET);
}

/** Four unsigned bytes (`wide`: 16-bit values, widened by the load itself) at p as f32 lanes. */
// @ts-ignore: decorator
@inline
function input(wide: bool, p: usize): v128 {
  const v = wide
    ? v128.load16x4_u(p)
    : i8x16.shuffle(v128.load32_zero(p), i8x16.splat(0), 0, 16, 16, 16, 1, 16, 16, 16, 2, 16, 16, 16, 3, 16, 16, 16);
  return f32x4.convert_i32x4_s(v);
}

/**
 * w = x - p1 w1 - p2 w2: the all-pole half of a section (w2 first, off the critical path). In
 * the relaxed-SIMD build (build/effects-relaxed.wasm) each multiply and add is one fused
 * multiply-add where the CPU has one: half the floating-point operations of the loop, which is
 * bound by their throughput (docs/benchmarks.md).
 */
// @ts-ignore: decorator
@inline
function pole(x: v128, w1: v128, w2: v128, p1: v128, p2: v128): v128 {
  if (ASC_FEATURE_RELAXED_SIMD) return f32x4.relaxed_nmadd(p1, w1, f32x4.relaxed_nmadd(p2, w2, x));
  return f32x4.sub(f32x4.sub(x, f32x4.mul(p2, w2)), f32x4.mul(p1, w1));
}

/** Both sections' numerators: n0 u0 + n1 u1 + m0 v0 + m1 v1. */
// @ts-ignore: decorator
@inline
function numerators(u0: v128, u1: v128, v0: v128, v1: v128, n0: v128, n1: v128, m0: v128, m1: v128): v128 {
  if (ASC_FEATURE_RELAXED_SIMD) {
    return f32x4.add(f32x4.relaxed_madd(n0, u0, f32x4.mul(n1, u1)), f32x4.relaxed_madd(m0, v0, f32x4.mul(m1, v1)));
  }
  return f32x4.add(f32x4.add(f32x4.mul(n0, u0), f32x4.mul(n1, u1)), f32x4.add(f32x4.mul(m0, v0), f32x4.mul(m1, v1)));
}

/**
 * The recursive filter along one line of `len` samples, four lanes at in + step * i (bytes, or
 * 16-bit values when `wide`). The causal sums go to `cb`, 16 bytes a sample; the anticausal
 * sweep adds its own and the offset, rounds, and stores at out + outStep * i: four 16-bit values
 * (`toWide`) or four bytes, of which `outBytes` are kept (a plane's last columns).
 */
// @ts-ignore: decorator
@inline
function line(
  wide: bool, src: usize, step: usize, len: i32,
  toWide: bool, out: usize, outStep: usize, outBytes: i32, cb: usize, k: usize, spare: usize,
): void {
  const A1 = v128.load(k, K_A1);
  const A2 = v128.load(k, K_A2);
  const E1 = v128.load(k, K_E1);
  const E2 = v128.load(k, K_E2);
  const IA = v128.load(k, K_IA);
  const IB = v128.load(k, K_IB);

  // Causal, from the steady state of the first sample.
  const C0 = v128.load(k, K_C0);
  const C1 = v128.load(k, K_C1);
  const F0 = v128.load(k, K_F0);
  const F1 = v128.load(k, K_F1);
  let x = input(wide, src);
  let a1 = f32x4.mul(x, IA);
  let a2 = a1;
  let b1 = f32x4.mul(x, IB);
  let b2 = b1;
  let p: usize = 0;
  let q = cb;
  for (let i = 0; i < len; i++) {
    x = input(wide, src + p);
    const wa = pole(x, a1, a2, A1, A2);
    const wb = pole(x, b1, b2, E1, E2);
    v128.store(q, numerators(wa, a1, wb, b1, C0, C1, F0, F1));
    a2 = a1;
    a1 = wa;
    b2 = b1;
    b1 = wb;
    p += step;
    q += 16;
  }

  // Anticausal, from the steady state of the last sample.
  const D1 = v128.load(k, K_D1);
  const D2 = v128.load(k, K_D2);
  const G1 = v128.load(k, K_G1);
  const G2 = v128.load(k, K_G2);
  const ROUNDING = v128.load(k, K_OFFSET);
  p -= step;
  x = input(wide, src + p);
  a1 = f32x4.mul(x, IA);
  a2 = a1;
  b1 = f32x4.mul(x, IB);
  b2 = b1;
  let o = out + <usize>(len - 1) * outStep;
  for (let i = len - 1; i >= 0; i--) {
    q -= 16;
    x = input(wide, src + p);
    const y = f32x4.add(f32x4.add(v128.load(q), numerators(a1, a2, b1, b2, D1, D2, G1, G2)), ROUNDING);
    const wa = pole(x, a1, a2, A1, A2);
    const wb = pole(x, b1, b2, E1, E2);
    a2 = a1;
    a1 = wa;
    b2 = b1;
    b1 = wb;
    const v = i32x4.sub(y, i32x4.splat(MAGIC_BITS));
    if (toWide) {
      v128.store64_lane(o, i16x8.narrow_i32x4_u(v, v), 0);
    } else {
      const bytes = i8x16.narrow_i16x8_u(i16x8.narrow_i32x4_u(v, v), v);
      if (outBytes == 4) {
        v128.store32_lane(o, bytes, 0);
      } else if (outBytes > 0) {
        v128.store(spare, bytes);
        memory.copy(o, spare, <usize>outBytes);
      }
    }
    p -= step;
    o -= outStep;
  }
}

/**
 * One channel, pass 1: the band's 16 rows (clamped) into 4 line buffers, line s holding rows
 * 4s..4s+3 of each column x as 4 bytes at lines + s * lb + 4x: 16 columns at a time by a
 * two-step byte transpose of four 16-byte loads.
 */
function gatherRows(src: usize, w: i32, h: i32, y0: i32, lines: usize, lb: usize): void {
  for (let s = 0; s < 4; s++) {
    const r0 = src + <usize>(clampIndex(y0 + 4 * s, h) * w);
    const r1 = src + <usize>(clampIndex(y0 + 4 * s + 1, h) * w);
    const r2 = src + <usize>(clampIndex(y0 + 4 * s + 2, h) * w);
    const r3 = src + <usize>(clampIndex(y0 + 4 * s + 3, h) * w);
    const out = lines + <usize>s * lb;
    let x = 0;
    for (; x + 16 <= w; x += 16) {
      const a = v128.load(r0 + <usize>x);
      const b = v128.load(r1 + <usize>x);
      const c = v128.load(r2 + <usize>x);
      const d = v128.load(r3 + <usize>x);
      const ab0 = i8x16.shuffle(a, b, 0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
      const ab1 = i8x16.shuffle(a, b, 8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31);
      const cd0 = i8x16.shuffle(c, d, 0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
      const cd1 = i8x16.shuffle(c, d, 8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31);
      const o = out + <usize>(x << 2);
      v128.store(o, i8x16.shuffle(ab0, cd0, 0, 1, 16, 17, 2, 3, 18, 19, 4, 5, 20, 21, 6, 7, 22, 23));
      v128.store(o, i8x16.shuffle(ab0, cd0, 8, 9, 24, 25, 10, 11, 26, 27, 12, 13, 28, 29, 14, 15, 30, 31), 16);
      v128.store(o, i8x16.shuffle(ab1, cd1, 0, 1, 16, 17, 2, 3, 18, 19, 4, 5, 20, 21, 6, 7, 22, 23), 32);
      v128.store(o, i8x16.shuffle(ab1, cd1, 8, 9, 24, 25, 10, 11, 26, 27, 12, 13, 28, 29, 14, 15, 30, 31), 48);
    }
    for (; x < w; x++) {
      const o = out + <usize>(x << 2);
      store<u8>(o, load<u8>(r0 + <usize>x));
      store<u8>(o, load<u8>(r1 + <usize>x), 1);
      store<u8>(o, load<u8>(r2 + <usize>x), 2);
      store<u8>(o, load<u8>(r3 + <usize>x), 3);
    }
  }
}

/**
 * One channel, pass 2: the band's 16 columns (clamped) of the transposed plane into 4 line
 * buffers, line s holding columns 4s..4s+3 of each row y as 4 16-bit values at
 * lines + s * lb + 8y: 8 rows at a time by a two-step transpose of four 16-byte loads.
 */
function gatherColumns(plane: usize, w: i32, h: i32, hp: i32, x0: i32, lines: usize, lb: usize): void {
  const colBytes = hp << 1;
  for (let s = 0; s < 4; s++) {
    const c0 = plane + <usize>(min(x0 + 4 * s, w - 1) * colBytes);
    const c1 = plane + <usize>(min(x0 + 4 * s + 1, w - 1) * colBytes);
    const c2 = plane + <usize>(min(x0 + 4 * s + 2, w - 1) * colBytes);
    const c3 = plane + <usize>(min(x0 + 4 * s + 3, w - 1) * colBytes);
    const out = lines + <usize>s * lb;
    let y = 0;
    for (; y + 8 <= h; y += 8) {
      const at = <usize>(y << 1);
      const a = v128.load(c0 + at);
      const b = v128.load(c1 + at);
      const c = v128.load(c2 + at);
      const d = v128.load(c3 + at);
      const ab0 = i8x16.shuffle(a, b, 0, 1, 16, 17, 2, 3, 18, 19, 4, 5, 20, 21, 6, 7, 22, 23);
      const ab1 = i8x16.shuffle(a, b, 8, 9, 24, 25, 10, 11, 26, 27, 12, 13, 28, 29, 14, 15, 30, 31);
      const cd0 = i8x16.shuffle(c, d, 0, 1, 16, 17, 2, 3, 18, 19, 4, 5, 20, 21, 6, 7, 22, 23);
      const cd1 = i8x16.shuffle(c, d, 8, 9, 24, 25, 10, 11, 26, 27, 12, 13, 28, 29, 14, 15, 30, 31);
      const o = out + <usize>(y << 3);
      v128.store(o, i8x16.shuffle(ab0, cd0, 0, 1, 2, 3, 16, 17, 18, 19, 4, 5, 6, 7, 20, 21, 22, 23));
      v128.store(o, i8x16.shuffle(ab0, cd0, 8, 9, 10, 11, 24, 25, 26, 27, 12, 13, 14, 15, 28, 29, 30, 31), 16);
      v128.store(o, i8x16.shuffle(ab1, cd1, 0, 1, 2, 3, 16, 17, 18, 19, 4, 5, 6, 7, 20, 21, 22, 23), 32);
      v128.store(o, i8x16.shuffle(ab1, cd1, 8, 9, 10, 11, 24, 25, 26, 27, 12, 13, 14, 15, 28, 29, 30, 31), 48);
    }
    for (; y < h; y++) {
      const o = out + <usize>(y << 3);
      const at = <usize>(y << 1);
      store<u16>(o, load<u16>(c0 + at));
      store<u16>(o, load<u16>(c1 + at), 2);
      store<u16>(o, load<u16>(c2 + at), 4);
      store<u16>(o, load<u16>(c3 + at), 6);
    }
  }
}

/**
 * The recursive Gaussian of one plane: `scratch` holds recursiveScratchBytes, `plane`
 * recursivePlaneBytes. src may be dst.
 */
export function recursiveGaussian(src: usize, dst: usize, w: i32, h: i32, c: i32, sigma: f64, scratch: usize, plane: usize): void {
  if (c == 4) recursiveImpl(src, dst, w, h, 4, sigma, scratch, plane);
  else recursiveImpl(src, dst, w, h, 1, sigma, scratch, plane);
}

// @ts-ignore: decorator
@inline
function recursiveImpl(src: usize, dst: usize, w: i32, h: i32, c: i32, sigma: f64, scratch: usize, plane: usize): void {
  const k1 = scratch;
  const k2 = k1 + <usize>K_BYTES;
  const spare = k2 + <usize>K_BYTES;
  const cb = spare + 16;
  const lines = cb + <usize>(max(w, h) * 16);
  const lb = <usize>lineBytes(w, h);
  // Pass 1 stores round(256 (v + 1)), positive whatever the tiny overshoots below 0; pass 2
  // reads v + 1 back and takes the 1 off. Both offsets are integers, so that the one addition
  // of offset + MAGIC rounds the whole sum.
  coefficients(sigma, Q8, Q8 + MAGIC, k1);
  coefficients(sigma, 1 / Q8, MAGIC - 1, k2);
  const n = w * c;
  const hp = paddedHeight(h, c);
  const colBytes = <usize>(hp * c * 2);

  // Pass 1: rows -> the transposed plane (column x at plane + x * colBytes), a band of 4 lines at a time.
  const rows = bandRows(c);
  for (let y0 = 0; y0 < h; y0 += rows) {
    if (c == 1) gatherRows(src, w, h, y0, lines, lb);
    // Lines past the last row are not needed (pass 2 reads rows < h); the gather clamps them.
    const used = c == 4 ? min(h - y0, 4) : min((h - y0 + 3) >> 2, 4);
    for (let s = 0; s < used; s++) {
      const from = c == 4 ? src + <usize>((y0 + s) * n) : lines + <usize>s * lb;
      line(false, from, 4, w, true, plane + <usize>((y0 * c + 4 * s) * 2), colBytes, 8, cb, k1, spare);
    }
  }

  // Pass 2: columns of the plane -> rows of bytes, 4 lines (4 or 16 columns) at a time.
  const cols = c == 4 ? 4 : 16;
  for (let x0 = 0; x0 < w; x0 += cols) {
    if (c == 1) gatherColumns(plane, w, h, hp, x0, lines, lb);
    // Relaxed build, four whole RGBA columns: their outputs go to a 16-byte-wide tile in L1 (the
    // line buffer, unused for RGBA), then out by rows, one 16-byte store a row instead of four
    // 4-byte stores down the columns: 0.93-0.94x the time at 1080p (the FMA loop waited on those
    // stores); the SIMD build, bound by its arithmetic, gains nothing (1.00-1.02x) and keeps them.
    if (ASC_FEATURE_RELAXED_SIMD && c == 4 && x0 + 4 <= w) {
      for (let s = 0; s < 4; s++) line(true, plane + <usize>(x0 + s) * colBytes, 8, h, false, lines + <usize>(4 * s), 16, 4, cb, k2, spare);
      const to = dst + <usize>(x0 * 4);
      for (let y = 0; y < h; y++) v128.store(to + <usize>y * <usize>n, v128.load(lines + <usize>(y << 4)));
      continue;
    }
    for (let s = 0; s < 4; s++) {
      const from = c == 4 ? plane + <usize>min(x0 + s, w - 1) * colBytes : lines + <usize>s * lb;
      const keep = min(max((w - x0) * c - 4 * s, 0), 4);
      if (keep == 0) break;
      line(true, from, 8, h, false, dst + <usize>(x0 * c + 4 * s), <usize>n, keep, cb, k2, spare);
    }
  }
}
