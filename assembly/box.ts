/**
 * 3x3 neighbourhood kernels (box blur, sharpen, Sobel edge) over one plane of `channels`
 * interleaved 8-bit channels, clamp-to-edge.
 *
 * Each output row is made in two SIMD sweeps: a vertical sweep combines the three source rows
 * into 16-bit row buffers (16 source bytes -> two i16x8 per buffer), the buffers get their
 * clamped border lanes, and a horizontal sweep combines lanes at -c, 0, +c and narrows back to
 * bytes. Blur makes two output rows per vertical sweep, sharing the two middle source rows.
 * Rows shorter than 16 bytes take a scalar path; otherwise the last, partial vector is
 * redone overlapping the previous one (dst never aliases src, so recomputing is harmless).
 */
import { clampIndex, PAD, rowBuf16Bytes, padRow16, alphaMask } from './common';

/** Scratch bytes the 3x3 kernels need for a plane of this width. */
export function scratch3x3(width: i32, channels: i32): i32 {
  return 2 * rowBuf16Bytes(width * channels);
}

// (s * 3641 + 2^14) >> 15 == (s + 4) / 9 for every s in 0..2295 (9 * 255): 3641 / 32768
// overshoots 1/9 by s / 294912 <= 0.008, and the fractional part of s / 9 is never within that
// of one half, so rounding agrees with the exact integer formula (checked exhaustively in the
// unit tests).
const DIV9_Q15: i16 = 3641;

export function blur(src: usize, dst: usize, width: i32, height: i32, channels: i32, scratch: usize): void {
  if (channels == 4) blurImpl(src, dst, width, height, 4, scratch);
  else blurImpl(src, dst, width, height, 1, scratch);
}

export function sharpen(src: usize, dst: usize, width: i32, height: i32, channels: i32, scratch: usize): void {
  // No row buffers: `scratch` (scratch3x3 bytes, as the other 3x3 kernels take) stays unused.
  if (channels == 4) sharpenImpl(src, dst, width, height, 4);
  else sharpenImpl(src, dst, width, height, 1);
}

export function edge(src: usize, dst: usize, width: i32, height: i32, channels: i32, scratch: usize): void {
  if (channels == 4) edgeImpl(src, dst, width, height, 4, scratch);
  else edgeImpl(src, dst, width, height, 1, scratch);
}

// ---------------------------------------------------------------------------------------------
// blur: vs = r0 + r1 + r2 (<= 765), out = (vs[-c] + vs[0] + vs[+c] + 4) / 9

// @ts-ignore: decorator
@inline
function blurVertical(r0: usize, r1: usize, r2: usize, vs: usize, i: i32): void {
  const a = v128.load(r0 + <usize>i);
  const b = v128.load(r1 + <usize>i);
  const d = v128.load(r2 + <usize>i);
  const lo = i16x8.add(
    i16x8.add(i16x8.extend_low_i8x16_u(a), i16x8.extend_low_i8x16_u(b)),
    i16x8.extend_low_i8x16_u(d),
  );
  const hi = i16x8.add(
    i16x8.add(i16x8.extend_high_i8x16_u(a), i16x8.extend_high_i8x16_u(b)),
    i16x8.extend_high_i8x16_u(d),
  );
  const p = vs + <usize>(i << 1);
  v128.store(p, lo);
  v128.store(p, hi, 16);
}

// @ts-ignore: decorator
@inline
function blurHorizontal(vs: usize, out: usize, i: i32, c: i32): void {
  const p = vs + <usize>(i << 1);
  const l = p - <usize>(c << 1);
  const r = p + <usize>(c << 1);
  const k = i16x8.splat(DIV9_Q15);
  const lo = i16x8.add(i16x8.add(v128.load(l), v128.load(p)), v128.load(r));
  const hi = i16x8.add(i16x8.add(v128.load(l, 16), v128.load(p, 16)), v128.load(r, 16));
  v128.store(out + <usize>i, i8x16.narrow_i16x8_u(i16x8.q15mulr_sat_s(lo, k), i16x8.q15mulr_sat_s(hi, k)));
}

// Two output rows per sweep share the middle rows: p = r1 + r2, v0 = r0 + p, v1 = p + r3.
// @ts-ignore: decorator
@inline
function blurVertical2(r0: usize, r1: usize, r2: usize, r3: usize, vs0: usize, vs1: usize, i: i32): void {
  const a = v128.load(r0 + <usize>i);
  const b = v128.load(r1 + <usize>i);
  const c = v128.load(r2 + <usize>i);
  const d = v128.load(r3 + <usize>i);
  const plo = i16x8.add(i16x8.extend_low_i8x16_u(b), i16x8.extend_low_i8x16_u(c));
  const phi = i16x8.add(i16x8.extend_high_i8x16_u(b), i16x8.extend_high_i8x16_u(c));
  const o = <usize>(i << 1);
  v128.store(vs0 + o, i16x8.add(plo, i16x8.extend_low_i8x16_u(a)));
  v128.store(vs0 + o, i16x8.add(phi, i16x8.extend_high_i8x16_u(a)), 16);
  v128.store(vs1 + o, i16x8.add(plo, i16x8.extend_low_i8x16_u(d)));
  v128.store(vs1 + o, i16x8.add(phi, i16x8.extend_high_i8x16_u(d)), 16);
}

// @ts-ignore: decorator
@inline
function blurImpl(src: usize, dst: usize, w: i32, h: i32, c: i32, scratch: usize): void {
  const n = w * c;
  const vs0 = scratch + <usize>PAD;
  const vs1 = vs0 + <usize>rowBuf16Bytes(n);
  const last = n - 16;
  let y = 0;
  if (n >= 16) {
    for (; y + 1 < h; y += 2) {
      const r0 = src + <usize>(clampIndex(y - 1, h) * n);
      const r1 = src + <usize>(y * n);
      const r2 = r1 + <usize>n;
      const r3 = src + <usize>(clampIndex(y + 2, h) * n);
      const out = dst + <usize>(y * n);
      for (let i = 0; i < last; i += 16) blurVertical2(r0, r1, r2, r3, vs0, vs1, i);
      blurVertical2(r0, r1, r2, r3, vs0, vs1, last);
      padRow16(vs0, n, c);
      padRow16(vs1, n, c);
      for (let i = 0; i < last; i += 16) blurHorizontal(vs0, out, i, c);
      blurHorizontal(vs0, out, last, c);
      const out1 = out + <usize>n;
      for (let i = 0; i < last; i += 16) blurHorizontal(vs1, out1, i, c);
      blurHorizontal(vs1, out1, last, c);
    }
  }
  for (; y < h; y++) {
    const r0 = src + <usize>(clampIndex(y - 1, h) * n);
    const r1 = src + <usize>(y * n);
    const r2 = src + <usize>(clampIndex(y + 1, h) * n);
    const out = dst + <usize>(y * n);
    if (n >= 16) {
      for (let i = 0; i < last; i += 16) blurVertical(r0, r1, r2, vs0, i);
      blurVertical(r0, r1, r2, vs0, last);
      padRow16(vs0, n, c);
      for (let i = 0; i < last; i += 16) blurHorizontal(vs0, out, i, c);
      blurHorizontal(vs0, out, last, c);
    } else {
      for (let i = 0; i < n; i++) {
        store<u16>(vs0 + <usize>(i << 1), <u16>(<i32>load<u8>(r0 + <usize>i) + <i32>load<u8>(r1 + <usize>i) + <i32>load<u8>(r2 + <usize>i)));
      }
      padRow16(vs0, n, c);
      for (let i = 0; i < n; i++) {
        const s = <i32>load<u16>(vs0 + <usize>((i - c) << 1)) + <i32>load<u16>(vs0 + <usize>(i << 1)) + <i32>load<u16>(vs0 + <usize>((i + c) << 1));
        store<u8>(out + <usize>i, <u8>((s + 4) / 9));
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------
// sharpen: out = sat_u8(5 r1 - r0 - r2 - r1[-c] - r1[+c]), straight from the rows (no row
// buffers): 5 r1 by one widening multiply, the four neighbours widened and summed in 16 bits
// (-510..1275). Two output rows per sweep share their loads; every load lies inside its row, so
// the first and last pixel of a row (a clamped neighbour) are done one by one.

/** 5 r[0] minus the four neighbours, one 8-lane half: f5 = 5 * centre, the rest widened. */
// @ts-ignore: decorator
@inline
function sharpenHalf(f5: v128, up: v128, down: v128, left: v128, right: v128): v128 {
  return i16x8.sub(f5, i16x8.add(i16x8.add(up, down), i16x8.add(left, right)));
}

// @ts-ignore: decorator
@inline
function sharpenRow(r0: usize, r1: usize, r2: usize, out: usize, i: i32, c: i32): void {
  const five = i8x16.splat(5);
  const p = <usize>i;
  const a = v128.load(r0 + p);
  const b = v128.load(r1 + p);
  const d = v128.load(r2 + p);
  const l = v128.load(r1 + p - <usize>c);
  const r = v128.load(r1 + p + <usize>c);
  const lo = sharpenHalf(
    i16x8.extmul_low_i8x16_u(b, five), i16x8.extend_low_i8x16_u(a), i16x8.extend_low_i8x16_u(d),
    i16x8.extend_low_i8x16_u(l), i16x8.extend_low_i8x16_u(r),
  );
  const hi = sharpenHalf(
    i16x8.extmul_high_i8x16_u(b, five), i16x8.extend_high_i8x16_u(a), i16x8.extend_high_i8x16_u(d),
    i16x8.extend_high_i8x16_u(l), i16x8.extend_high_i8x16_u(r),
  );
  v128.store(out + p, i8x16.narrow_i16x8_u(lo, hi));
}

/** Rows r1 and r2 into o1 and o2 (r0 above r1, r3 below r2): the middle rows are loaded and widened once. */
// @ts-ignore: decorator
@inline
function sharpenTwoRows(r0: usize, r1: usize, r2: usize, r3: usize, o1: usize, o2: usize, i: i32, c: i32): void {
  const five = i8x16.splat(5);
  const p = <usize>i;
  const a = v128.load(r0 + p);
  const b = v128.load(r1 + p);
  const d = v128.load(r2 + p);
  const e = v128.load(r3 + p);
  const bl = v128.load(r1 + p - <usize>c);
  const br = v128.load(r1 + p + <usize>c);
  const dl = v128.load(r2 + p - <usize>c);
  const dr = v128.load(r2 + p + <usize>c);
  const bLo = i16x8.extend_low_i8x16_u(b);
  const bHi = i16x8.extend_high_i8x16_u(b);
  const dLo = i16x8.extend_low_i8x16_u(d);
  const dHi = i16x8.extend_high_i8x16_u(d);
  v128.store(o1 + p, i8x16.narrow_i16x8_u(
    sharpenHalf(i16x8.extmul_low_i8x16_u(b, five), i16x8.extend_low_i8x16_u(a), dLo, i16x8.extend_low_i8x16_u(bl), i16x8.extend_low_i8x16_u(br)),
    sharpenHalf(i16x8.extmul_high_i8x16_u(b, five), i16x8.extend_high_i8x16_u(a), dHi, i16x8.extend_high_i8x16_u(bl), i16x8.extend_high_i8x16_u(br)),
  ));
  v128.store(o2 + p, i8x16.narrow_i16x8_u(
    sharpenHalf(i16x8.extmul_low_i8x16_u(d, five), bLo, i16x8.extend_low_i8x16_u(e), i16x8.extend_low_i8x16_u(dl), i16x8.extend_low_i8x16_u(dr)),
    sharpenHalf(i16x8.extmul_high_i8x16_u(d, five), bHi, i16x8.extend_high_i8x16_u(e), i16x8.extend_high_i8x16_u(dl), i16x8.extend_high_i8x16_u(dr)),
  ));
}

/** One sample, its horizontal neighbours clamped into the row of n bytes. */
// @ts-ignore: decorator
@inline
function sharpenAt(r0: usize, r1: usize, r2: usize, out: usize, i: i32, n: i32, c: i32): void {
  const left = i - c < 0 ? i : i - c;
  const right = i + c >= n ? i : i + c;
  const v = 5 * <i32>load<u8>(r1 + <usize>i) - <i32>load<u8>(r0 + <usize>i) - <i32>load<u8>(r2 + <usize>i)
    - <i32>load<u8>(r1 + <usize>left) - <i32>load<u8>(r1 + <usize>right);
  store<u8>(out + <usize>i, <u8>(v < 0 ? 0 : v > 255 ? 255 : v));
}

// @ts-ignore: decorator
@inline
function sharpenEnds(r0: usize, r1: usize, r2: usize, out: usize, n: i32, c: i32): void {
  for (let k = 0; k < c; k++) {
    sharpenAt(r0, r1, r2, out, k, n, c);
    sharpenAt(r0, r1, r2, out, n - c + k, n, c);
  }
}

// @ts-ignore: decorator
@inline
function sharpenImpl(src: usize, dst: usize, w: i32, h: i32, c: i32): void {
  const n = w * c;
  // SIMD chunks cover [c, n - c), the last one overlapping the one before it.
  const simd = n >= 16 + 2 * c;
  const last = n - 16 - c;
  let y = 0;
  if (simd) {
    for (; y + 1 < h; y += 2) {
      const r0 = src + <usize>(clampIndex(y - 1, h) * n);
      const r1 = src + <usize>(y * n);
      const r2 = r1 + <usize>n;
      const r3 = src + <usize>(clampIndex(y + 2, h) * n);
      const o1 = dst + <usize>(y * n);
      const o2 = o1 + <usize>n;
      for (let i = c; i < last; i += 16) sharpenTwoRows(r0, r1, r2, r3, o1, o2, i, c);
      sharpenTwoRows(r0, r1, r2, r3, o1, o2, last, c);
      sharpenEnds(r0, r1, r2, o1, n, c);
      sharpenEnds(r1, r2, r3, o2, n, c);
    }
  }
  for (; y < h; y++) {
    const r0 = src + <usize>(clampIndex(y - 1, h) * n);
    const r1 = src + <usize>(y * n);
    const r2 = src + <usize>(clampIndex(y + 1, h) * n);
    const out = dst + <usize>(y * n);
    if (simd) {
      for (let i = c; i < last; i += 16) sharpenRow(r0, r1, r2, out, i, c);
      sharpenRow(r0, r1, r2, out, last, c);
      sharpenEnds(r0, r1, r2, out, n, c);
    } else {
      for (let i = 0; i < n; i++) sharpenAt(r0, r1, r2, out, i, n, c);
    }
  }
}

// ---------------------------------------------------------------------------------------------
// edge: sv = r0 + 2*r1 + r2, dv = r2 - r0;
//       gx = sv[+c] - sv[-c], gy = dv[-c] + 2*dv[0] + dv[+c], out = min(255, |gx| + |gy|) (<= 2040)
// RGBA keeps the source alpha.

// @ts-ignore: decorator
@inline
function edgeVertical(r0: usize, r1: usize, r2: usize, sv: usize, dv: usize, i: i32): void {
  const va = v128.load(r0 + <usize>i);
  const vb = v128.load(r1 + <usize>i);
  const vd = v128.load(r2 + <usize>i);
  const alo = i16x8.extend_low_i8x16_u(va);
  const ahi = i16x8.extend_high_i8x16_u(va);
  const dlo = i16x8.extend_low_i8x16_u(vd);
  const dhi = i16x8.extend_high_i8x16_u(vd);
  const o = <usize>(i << 1);
  v128.store(sv + o, i16x8.add(i16x8.add(alo, dlo), i16x8.shl(i16x8.extend_low_i8x16_u(vb), 1)));
  v128.store(sv + o, i16x8.add(i16x8.add(ahi, dhi), i16x8.shl(i16x8.extend_high_i8x16_u(vb), 1)), 16);
  v128.store(dv + o, i16x8.sub(dlo, alo));
  v128.store(dv + o, i16x8.sub(dhi, ahi), 16);
}

// @ts-ignore: decorator
@inline
function edgeHorizontal(sv: usize, dv: usize, center: usize, out: usize, i: i32, c: i32): void {
  const o = <usize>(i << 1);
  const cb = <usize>(c << 1);
  const sl = sv + o - cb;
  const sr = sv + o + cb;
  const dl = dv + o - cb;
  const dr = dv + o + cb;
  const dm = dv + o;
  const gxlo = i16x8.sub(v128.load(sr), v128.load(sl));
  const gxhi = i16x8.sub(v128.load(sr, 16), v128.load(sl, 16));
  const gylo = i16x8.add(i16x8.add(v128.load(dl), v128.load(dr)), i16x8.shl(v128.load(dm), 1));
  const gyhi = i16x8.add(i16x8.add(v128.load(dl, 16), v128.load(dr, 16)), i16x8.shl(v128.load(dm, 16), 1));
  let res = i8x16.narrow_i16x8_u(
    i16x8.add(i16x8.abs(gxlo), i16x8.abs(gylo)),
    i16x8.add(i16x8.abs(gxhi), i16x8.abs(gyhi)),
  );
  if (c == 4) res = v128.bitselect(v128.load(center + <usize>i), res, alphaMask());
  v128.store(out + <usize>i, res);
}

// @ts-ignore: decorator
@inline
function edgeImpl(src: usize, dst: usize, w: i32, h: i32, c: i32, scratch: usize): void {
  const n = w * c;
  const sv = scratch + <usize>PAD;
  const dv = sv + <usize>rowBuf16Bytes(n);
  const last = n - 16;
  for (let y = 0; y < h; y++) {
    const r0 = src + <usize>(clampIndex(y - 1, h) * n);
    const r1 = src + <usize>(y * n);
    const r2 = src + <usize>(clampIndex(y + 1, h) * n);
    const out = dst + <usize>(y * n);
    if (n >= 16) {
      for (let i = 0; i < last; i += 16) edgeVertical(r0, r1, r2, sv, dv, i);
      edgeVertical(r0, r1, r2, sv, dv, last);
      padRow16(sv, n, c);
      padRow16(dv, n, c);
      for (let i = 0; i < last; i += 16) edgeHorizontal(sv, dv, r1, out, i, c);
      edgeHorizontal(sv, dv, r1, out, last, c);
    } else {
      for (let i = 0; i < n; i++) {
        const a = <i32>load<u8>(r0 + <usize>i);
        const d = <i32>load<u8>(r2 + <usize>i);
        store<i16>(sv + <usize>(i << 1), <i16>(a + 2 * <i32>load<u8>(r1 + <usize>i) + d));
        store<i16>(dv + <usize>(i << 1), <i16>(d - a));
      }
      padRow16(sv, n, c);
      padRow16(dv, n, c);
      for (let i = 0; i < n; i++) {
        if (c == 4 && (i & 3) == 3) {
          store<u8>(out + <usize>i, load<u8>(r1 + <usize>i));
          continue;
        }
        const gx = <i32>load<i16>(sv + <usize>((i + c) << 1)) - <i32>load<i16>(sv + <usize>((i - c) << 1));
        const gy = <i32>load<i16>(dv + <usize>((i - c) << 1)) + 2 * <i32>load<i16>(dv + <usize>(i << 1)) + <i32>load<i16>(dv + <usize>((i + c) << 1));
        const m = abs(gx) + abs(gy);
        store<u8>(out + <usize>i, <u8>(m > 255 ? 255 : m));
      }
    }
  }
}
