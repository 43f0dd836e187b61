/**
 * Pre- and post-processing of the person-segmentation effects (background blur and replace).
 *
 * The work is planned around a "quarter grid": every plane is processed at 1/4 of its size where
 * detail does not matter (the blurred background, the mask), then brought back with two exact 2x
 * upsamplings whose weights (3/4, 1/4) are two rounding byte averages, 16 lanes at a time. Only
 * the final blend touches every full-resolution byte once.
 *
 *   model input   resizeRgbaToInput / resizeI420ToInput: the frame stretched to the model's input
 *                 (bilinear, half-pixel centres), floats scaled for the model
 *   mask          maskUpdate: temporal smoothing of the model's probability into the session's
 *                 byte mask (model resolution); maskToQuarter: bilinear resize to a plane's quarter
 *                 grid with the feathering ramp; then the 3x3 box blur (box.ts) and upsample2x
 *   background    downsample4 (box mean), gaussian (gaussian.ts) at 1/4, upsample2x twice
 *   blend         blendPlane (two planes) or blendConstant (a colour), by the mask
 *
 * Pointers are byte offsets; planes are tightly packed (stride = width * channels) unless a stride
 * is given. Quarter-grid sizes: qw = ceil(w / 4), qh = ceil(h / 4); the upsampled planes are
 * (4 qw) x (4 qh), at least the plane's size.
 */
import { clampIndex } from './common';

// ---------------------------------------------------------------------------------------------
// Model input

/**
 * Bilinear source coordinate of output index d for a resize from `src` to `dst` samples with
 * half-pixel centres, clamped to [0, src - 1].
 */
// @ts-ignore: decorator
@inline
function sourceCoord(d: i32, src: i32, dst: i32): f32 {
  let s = (<f32>d + 0.5) * (<f32>src / <f32>dst) - 0.5;
  if (s < 0) s = 0;
  const max = <f32>(src - 1);
  if (s > max) s = max;
  return s;
}

/**
 * RGBA frame (w x h) -> model input (W x H x 3 float32, HWC RGB): bilinear with half-pixel
 * centres, value * scale + offset. Matches src/segmentation/cpu-mask.ts (the reference).
 */
export function resizeRgbaToInput(src: usize, w: i32, h: i32, dst: usize, W: i32, H: i32, scale: f32, offset: f32): void {
  resizeRgbaRectToInput(src, w, h, 0, 0, <f32>w, <f32>h, 0, dst, W, H, scale, offset);
}

/**
 * Where output pixel (x, y) of a W x H model input samples a rectangle turned by `turns` quarter
 * turns clockwise (the model sees the rectangle's content rotated: a person lying with the head
 * to the right, turned 3 times, stands): the rectangle's own coordinates in [0, 1], returned as
 * the two lanes of a v128 (f32 lanes 0 and 1). maskPlaceRect inverts it.
 */
// @ts-ignore: decorator
@inline
function turnedUnit(x: i32, y: i32, W: i32, H: i32, turns: i32): v128 {
  const t = (<f32>x + 0.5) / <f32>W;
  const s = (<f32>y + 0.5) / <f32>H;
  let u = t;
  let v = s;
  if (turns == 1) {
    u = s;
    v = 1 - t;
  } else if (turns == 2) {
    u = 1 - t;
    v = 1 - s;
  } else if (turns == 3) {
    u = 1 - s;
    v = t;
  }
  return f32x4(u, v, 0, 0);
}

/**
 * Frame coordinate (pixel index units) of the unit position `unit` along a rectangle from
 * `origin` of `size` frame pixels; NaN where it falls outside the frame (more than half a pixel
 * past its first or last pixel), else clamped to [0, src - 1].
 */
// @ts-ignore: decorator
@inline
function rectCoord(unit: f32, origin: f32, size: f32, src: i32): f32 {
  let s = origin + unit * size - 0.5;
  if (s < -0.5 || s > <f32>src - 0.5) return NaN;
  if (s < 0) s = 0;
  const max = <f32>(src - 1);
  if (s > max) s = max;
  return s;
}

/**
 * A rectangle of an RGBA frame (from (rx, ry), rw x rh frame pixels, which may reach past the
 * frame), turned by `turns` quarter turns clockwise (0..3), -> model input as resizeRgbaToInput;
 * samples outside the frame are black (0 * scale + offset). The whole frame (0, 0, w, h, 0) is
 * resizeRgbaToInput.
 */
export function resizeRgbaRectToInput(src: usize, w: i32, h: i32, rx: f32, ry: f32, rw: f32, rh: f32, turns: i32, dst: usize, W: i32, H: i32, scale: f32, offset: f32): void {
  for (let y = 0; y < H; y++) {
    for (let x = 0; x < W; x++) {
      const unit = turnedUnit(x, y, W, H, turns);
      const sx = rectCoord(f32x4.extract_lane(unit, 0), rx, rw, w);
      const sy = rectCoord(f32x4.extract_lane(unit, 1), ry, rh, h);
      const o = dst + <usize>((y * W + x) * 12);
      if (isNaN(sx) || isNaN(sy)) {
        store<f32>(o, offset);
        store<f32>(o + 4, offset);
        store<f32>(o + 8, offset);
        continue;
      }
      const x0 = <i32>sx;
      const x1 = min(w - 1, x0 + 1);
      const wx = sx - <f32>x0;
      const y0 = <i32>sy;
      const y1 = min(h - 1, y0 + 1);
      const wy = sy - <f32>y0;
      const r0 = src + <usize>(y0 * w * 4);
      const r1 = src + <usize>(y1 * w * 4);
      for (let c = 0; c < 3; c++) {
        const a = <f32>load<u8>(r0 + <usize>(x0 * 4 + c));
        const b = <f32>load<u8>(r0 + <usize>(x1 * 4 + c));
        const cc = <f32>load<u8>(r1 + <usize>(x0 * 4 + c));
        const d = <f32>load<u8>(r1 + <usize>(x1 * 4 + c));
        const top = a + (b - a) * wx;
        const bottom = cc + (d - cc) * wx;
        store<f32>(o + <usize>(c * 4), (top + (bottom - top) * wy) * scale + offset);
      }
    }
  }
}

/** Bilinear sample of one 8-bit plane (1 channel, stride = width) at (sx, sy), already clamped. */
// @ts-ignore: decorator
@inline
function samplePlane(p: usize, pw: i32, ph: i32, sx: f32, sy: f32): f32 {
  const x0 = <i32>sx;
  const y0 = <i32>sy;
  const x1 = min(pw - 1, x0 + 1);
  const y1 = min(ph - 1, y0 + 1);
  const wx = sx - <f32>x0;
  const wy = sy - <f32>y0;
  const a = <f32>load<u8>(p + <usize>(y0 * pw + x0));
  const b = <f32>load<u8>(p + <usize>(y0 * pw + x1));
  const c = <f32>load<u8>(p + <usize>(y1 * pw + x0));
  const d = <f32>load<u8>(p + <usize>(y1 * pw + x1));
  const top = a + (b - a) * wx;
  const bottom = c + (d - c) * wx;
  return top + (bottom - top) * wy;
}

/**
 * I420 frame (planes y, u, v; chroma (w+1)/2 x (h+1)/2) -> model input, BT.601 limited range to
 * RGB. Each plane is sampled bilinearly at the output's half-pixel centre in that plane's grid.
 */
export function resizeI420ToInput(yp: usize, up: usize, vp: usize, w: i32, h: i32, dst: usize, W: i32, H: i32, scale: f32, offset: f32): void {
  resizeI420RectToInput(yp, up, vp, w, h, 0, 0, <f32>w, <f32>h, 0, dst, W, H, scale, offset);
}

/** A rectangle of an I420 frame (in luma pixels, turned, as resizeRgbaRectToInput) -> model input; outside the frame: black. */
export function resizeI420RectToInput(yp: usize, up: usize, vp: usize, w: i32, h: i32, rx: f32, ry: f32, rw: f32, rh: f32, turns: i32, dst: usize, W: i32, H: i32, scale: f32, offset: f32): void {
  const cw = (w + 1) >> 1;
  const ch = (h + 1) >> 1;
  // The chroma grid covers the luma one at (w / cw, h / ch) luma pixels per sample.
  const kx = <f32>cw / <f32>w;
  const ky = <f32>ch / <f32>h;
  for (let y = 0; y < H; y++) {
    for (let x = 0; x < W; x++) {
      const unit = turnedUnit(x, y, W, H, turns);
      const ux = f32x4.extract_lane(unit, 0);
      const uy = f32x4.extract_lane(unit, 1);
      const sx = rectCoord(ux, rx, rw, w);
      const sy = rectCoord(uy, ry, rh, h);
      const cx = rectCoord(ux, rx * kx, rw * kx, cw);
      const cy = rectCoord(uy, ry * ky, rh * ky, ch);
      const o = dst + <usize>((y * W + x) * 12);
      if (isNaN(sx) || isNaN(sy) || isNaN(cx) || isNaN(cy)) {
        store<f32>(o, offset);
        store<f32>(o + 4, offset);
        store<f32>(o + 8, offset);
        continue;
      }
      const Y = (samplePlane(yp, w, h, sx, sy) - 16) * 1.164;
      const U = samplePlane(up, cw, ch, cx, cy) - 128;
      const V = samplePlane(vp, cw, ch, cx, cy) - 128;
      store<f32>(o, clampByte(Y + 1.596 * V) * scale + offset);
      store<f32>(o + 4, clampByte(Y - 0.813 * V - 0.391 * U) * scale + offset);
      store<f32>(o + 8, clampByte(Y + 2.018 * U) * scale + offset);
    }
  }
}

// @ts-ignore: decorator
@inline
function clampByte(v: f32): f32 {
  return v < 0 ? 0 : v > 255 ? 255 : v;
}

// ---------------------------------------------------------------------------------------------
// Mask

/**
 * Temporal smoothing: state = state + (p * 255 - state) * keep', where the new probability `prob`
 * (n float32 in [0, 1]) enters with weight `newWeightQ8` / 256 (256: no smoothing). `fresh` != 0
 * takes the new mask as is (a session's first frame).
 */
export function maskUpdate(prob: usize, state: usize, n: i32, newWeightQ8: i32, fresh: i32): void {
  const wNew = fresh != 0 ? <f32>1 : <f32>newWeightQ8 / 256;
  for (let i = 0; i < n; i++) {
    let p = load<f32>(prob + <usize>(i << 2));
    p = p < 0 ? 0 : p > 1 ? 1 : p;
    const old = <f32>load<u8>(state + <usize>i);
    const v = old + (p * 255 - old) * wNew;
    store<u8>(state + <usize>i, <u8>(<i32>(v + 0.5)));
  }
}

/**
 * A model output over a rectangle of the frame (prob: W x H float32; the rectangle from (rx, ry),
 * rw x rh frame pixels, turned by `turns` quarter turns as resizeRgbaRectToInput saw it) placed
 * back onto the frame's mask grid (dst: mw x mh float32 over the whole fw x fh frame): each grid
 * cell whose centre lies in the rectangle takes the larger of its value and the bilinear sample
 * of prob there (several people: the union).
 */
export function maskPlaceRect(prob: usize, W: i32, H: i32, rx: f32, ry: f32, rw: f32, rh: f32, turns: i32, fw: i32, fh: i32, dst: usize, mw: i32, mh: i32): void {
  const cellX = <f32>fw / <f32>mw;
  const cellY = <f32>fh / <f32>mh;
  for (let y = 0; y < mh; y++) {
    const v = ((<f32>y + 0.5) * cellY - ry) / rh;
    if (v < 0 || v > 1) continue;
    for (let x = 0; x < mw; x++) {
      const u = ((<f32>x + 0.5) * cellX - rx) / rw;
      if (u < 0 || u > 1) continue;
      // The inverse of turnedUnit: (u, v) on the rectangle -> (t, s) on the model's grid.
      let t = u;
      let s = v;
      if (turns == 1) {
        t = 1 - v;
        s = u;
      } else if (turns == 2) {
        t = 1 - u;
        s = 1 - v;
      } else if (turns == 3) {
        t = v;
        s = 1 - u;
      }
      let sx = t * <f32>W - 0.5;
      let sy = s * <f32>H - 0.5;
      sx = sx < 0 ? 0 : sx > <f32>(W - 1) ? <f32>(W - 1) : sx;
      sy = sy < 0 ? 0 : sy > <f32>(H - 1) ? <f32>(H - 1) : sy;
      const x0 = <i32>sx;
      const x1 = min(W - 1, x0 + 1);
      const wx = sx - <f32>x0;
      const y0 = <i32>sy;
      const y1 = min(H - 1, y0 + 1);
      const wy = sy - <f32>y0;
      const a = load<f32>(prob + <usize>((y0 * W + x0) << 2));
      const b = load<f32>(prob + <usize>((y0 * W + x1) << 2));
      const c = load<f32>(prob + <usize>((y1 * W + x0) << 2));
      const d = load<f32>(prob + <usize>((y1 * W + x1) << 2));
      const top = a + (b - a) * wx;
      const p = top + (c + (d - c) * wx - top) * wy;
      const o = dst + <usize>((y * mw + x) << 2);
      if (p > load<f32>(o)) store<f32>(o, p);
    }
  }
}

/**
 * The model-resolution mask (mw x mh bytes) resized bilinearly onto the quarter grid of a w x h
 * plane (qw x qh, qw = ceil(w / 4)), each value passed through the feathering ramp: values at or
 * below `lo` become 0, at or above `hi` 255, linear between (lo < hi, both in 0..255).
 */
export function maskToQuarter(mask: usize, mw: i32, mh: i32, w: i32, h: i32, dst: usize, lo: i32, hi: i32): void {
  const qw = (w + 3) >> 2;
  const qh = (h + 3) >> 2;
  const flo = <f32>lo;
  const gain = <f32>255 / <f32>max(1, hi - lo);
  for (let y = 0; y < qh; y++) {
    // The quarter grid's pixel centres sit at full-resolution 4y + 1.5; map those to the mask.
    let sy = ((<f32>y * 4 + 2) / <f32>h) * <f32>mh - 0.5;
    sy = sy < 0 ? 0 : sy > <f32>(mh - 1) ? <f32>(mh - 1) : sy;
    for (let x = 0; x < qw; x++) {
      let sx = ((<f32>x * 4 + 2) / <f32>w) * <f32>mw - 0.5;
      sx = sx < 0 ? 0 : sx > <f32>(mw - 1) ? <f32>(mw - 1) : sx;
      let v = (samplePlane(mask, mw, mh, sx, sy) - flo) * gain;
      v = v < 0 ? 0 : v > 255 ? 255 : v;
      store<u8>(dst + <usize>(y * qw + x), <u8>(<i32>(v + 0.5)));
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Quarter grid: downsample and 2x upsample

/**
 * Box mean of each 4x4 block of a w x h plane of `channels` (1 or 4) bytes into qw x qh; blocks
 * past the right or bottom edge repeat the last column / row.
 */
export function downsample4(src: usize, w: i32, h: i32, channels: i32, dst: usize): void {
  if (channels == 4) downsample4Impl(src, w, h, 4, dst);
  else downsample4Impl(src, w, h, 1, dst);
}

// @ts-ignore: decorator
@inline
function downsample4Impl(src: usize, w: i32, h: i32, c: i32, dst: usize): void {
  const qw = (w + 3) >> 2;
  const qh = (h + 3) >> 2;
  const rowBytes = w * c;
  // Whole 16-byte groups hold 4 RGBA pixels (one output) or 16 grey pixels (four outputs).
  const fullBlocks = c == 4 ? w >> 2 : (w >> 4) << 2;
  const round = i16x8.splat(8);
  for (let qy = 0; qy < qh; qy++) {
    const r0 = src + <usize>(clampIndex(qy * 4, h) * rowBytes);
    const r1 = src + <usize>(clampIndex(qy * 4 + 1, h) * rowBytes);
    const r2 = src + <usize>(clampIndex(qy * 4 + 2, h) * rowBytes);
    const r3 = src + <usize>(clampIndex(qy * 4 + 3, h) * rowBytes);
    const out = dst + <usize>(qy * qw * c);
    let qx = 0;
    if (c == 4) {
      for (; qx < fullBlocks; qx++) {
        const o = <usize>(qx * 16);
        const a = v128.load(r0 + o);
        const b = v128.load(r1 + o);
        const cc = v128.load(r2 + o);
        const d = v128.load(r3 + o);
        let lo = i16x8.add(i16x8.add(i16x8.extend_low_i8x16_u(a), i16x8.extend_low_i8x16_u(b)), i16x8.add(i16x8.extend_low_i8x16_u(cc), i16x8.extend_low_i8x16_u(d)));
        let hi = i16x8.add(i16x8.add(i16x8.extend_high_i8x16_u(a), i16x8.extend_high_i8x16_u(b)), i16x8.add(i16x8.extend_high_i8x16_u(cc), i16x8.extend_high_i8x16_u(d)));
        // lanes 0..3: pixel 0 (+2), lanes 4..7: pixel 1 (+3)
        const s = i16x8.add(lo, hi);
        const t = i16x8.add(s, i8x16.shuffle(s, s, 8, 9, 10, 11, 12, 13, 14, 15, 0, 1, 2, 3, 4, 5, 6, 7));
        const mean = i16x8.shr_u(i16x8.add(t, round), 4);
        v128.store32_lane(out + <usize>(qx * 4), i8x16.narrow_i16x8_u(mean, mean), 0);
      }
    } else {
      for (; qx < fullBlocks; qx += 4) {
        const o = <usize>(qx * 4);
        const a = i16x8.extadd_pairwise_i8x16_u(v128.load(r0 + o));
        const b = i16x8.extadd_pairwise_i8x16_u(v128.load(r1 + o));
        const cc = i16x8.extadd_pairwise_i8x16_u(v128.load(r2 + o));
        const d = i16x8.extadd_pairwise_i8x16_u(v128.load(r3 + o));
        const s = i32x4.extadd_pairwise_i16x8_u(i16x8.add(i16x8.add(a, b), i16x8.add(cc, d)));
        const mean = i32x4.shr_u(i32x4.add(s, i32x4.splat(8)), 4);
        const n16 = i16x8.narrow_i32x4_s(mean, mean);
        v128.store32_lane(out + <usize>qx, i8x16.narrow_i16x8_u(n16, n16), 0);
      }
    }
    for (; qx < qw; qx++) {
      for (let k = 0; k < c; k++) {
        let sum = 0;
        for (let dx = 0; dx < 4; dx++) {
          const o = <usize>(clampIndex(qx * 4 + dx, w) * c + k);
          sum += <i32>load<u8>(r0 + o) + <i32>load<u8>(r1 + o) + <i32>load<u8>(r2 + o) + <i32>load<u8>(r3 + o);
        }
        store<u8>(out + <usize>(qx * c + k), <u8>((sum + 8) >> 4));
      }
    }
  }
}

/** Bytes of scratch upsample2x needs for a source of sw pixels of `channels`. */
export function upsample2xScratch(sw: i32, channels: i32): i32 {
  return (sw * channels + 64 + 15) & ~15;
}

/**
 * Exact 2x bilinear upsampling (weights 3/4 and 1/4, edges clamped) of sw x sh pixels of
 * `channels` (1 or 4) into 2sw x 2sh. Each weight pair is avgr(a, avgr(a, b)): within one unit of
 * (3a + b) / 4. Rows of dst are written in 32-byte steps and may spill up to 31 bytes past the
 * plane's end: dst must have that much slack.
 */
export function upsample2x(src: usize, sw: i32, sh: i32, channels: i32, dst: usize, scratch: usize): void {
  if (channels == 4) upsample2xImpl(src, sw, sh, 4, dst, scratch);
  else upsample2xImpl(src, sw, sh, 1, dst, scratch);
}

// @ts-ignore: decorator
@inline
function upsample2xImpl(src: usize, sw: i32, sh: i32, c: i32, dst: usize, scratch: usize): void {
  const rowBytes = sw * c;
  const outRow = rowBytes * 2;
  // The vertically blended row sits 16 bytes into the scratch, with its edge pixel repeated on
  // both sides so that the neighbour loads at -c and +c need no branch.
  const tmp = scratch + 16;
  for (let oy = 0; oy < sh * 2; oy++) {
    const j = oy >> 1;
    const n = clampIndex((oy & 1) == 0 ? j - 1 : j + 1, sh);
    const a = src + <usize>(j * rowBytes);
    const b = src + <usize>(n * rowBytes);
    let i = 0;
    for (; i + 16 <= rowBytes; i += 16) {
      const va = v128.load(a + <usize>i);
      v128.store(tmp + <usize>i, i8x16.avgr_u(va, i8x16.avgr_u(va, v128.load(b + <usize>i))));
    }
    for (; i < rowBytes; i++) {
      const va = <u32>load<u8>(a + <usize>i);
      const vm = (va + <u32>load<u8>(b + <usize>i) + 1) >> 1;
      store<u8>(tmp + <usize>i, <u8>((va + vm + 1) >> 1));
    }
    for (let k = 0; k < c; k++) {
      store<u8>(tmp + <usize>(k - c), load<u8>(tmp + <usize>k));
      store<u8>(tmp + <usize>(rowBytes + k), load<u8>(tmp + <usize>(rowBytes - c + k)));
    }
    const out = dst + <usize>(oy * outRow);
    for (let x = 0; x < rowBytes; x += 16) {
      const v = v128.load(tmp + <usize>x);
      const left = v128.load(tmp + <usize>(x - c));
      const right = v128.load(tmp + <usize>(x + c));
      const even = i8x16.avgr_u(v, i8x16.avgr_u(v, left));
      const odd = i8x16.avgr_u(v, i8x16.avgr_u(v, right));
      if (c == 4) {
        v128.store(out + <usize>(x * 2), i8x16.shuffle(even, odd, 0, 1, 2, 3, 16, 17, 18, 19, 4, 5, 6, 7, 20, 21, 22, 23));
        v128.store(out + <usize>(x * 2 + 16), i8x16.shuffle(even, odd, 8, 9, 10, 11, 24, 25, 26, 27, 12, 13, 14, 15, 28, 29, 30, 31));
      } else {
        v128.store(out + <usize>(x * 2), i8x16.shuffle(even, odd, 0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23));
        v128.store(out + <usize>(x * 2 + 16), i8x16.shuffle(even, odd, 8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31));
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Blend

// (v * 257 + 257) >> 16 == round(v / 255) for v in 0..65025 within one unit; q = m * s + (255 - m) * b.
// @ts-ignore: decorator
@inline
function div255x8(v: v128): v128 {
  // i16x8 lanes hold values up to 65025 as unsigned: add 128, then (x + (x >> 8)) >> 8.
  const x = i16x8.add(v, i16x8.splat(128));
  return i16x8.shr_u(i16x8.add(x, i16x8.shr_u(x, 8)), 8);
}

/** The mask of 4 pixels (4 bytes at m) spread over their 16 RGBA lanes, or 16 grey lanes as is. */
// @ts-ignore: decorator
@inline
function maskLanes(m: usize, c: i32): v128 {
  if (c == 4) return i8x16.swizzle(v128.load32_zero(m), i8x16(0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3));
  return v128.load(m);
}

/**
 * dst = (src * m + bg * (255 - m)) / 255 per byte, for a w x h plane of `channels` (1 or 4) with
 * the mask (1 byte per pixel, row stride maskStride) and the background plane (row stride bgStride
 * bytes) both at least w x h.
 */
export function blendPlane(src: usize, dst: usize, w: i32, h: i32, channels: i32, bg: usize, bgStride: i32, mask: usize, maskStride: i32): void {
  if (channels == 4) blendImpl(src, dst, w, h, 4, bg, bgStride, mask, maskStride, false, 0);
  else blendImpl(src, dst, w, h, 1, bg, bgStride, mask, maskStride, false, 0);
}

/** As blendPlane with a constant background: `colour` is RGBA bytes (little-endian u32) or, for one channel, its low byte. */
export function blendConstant(src: usize, dst: usize, w: i32, h: i32, channels: i32, colour: u32, mask: usize, maskStride: i32): void {
  if (channels == 4) blendImpl(src, dst, w, h, 4, 0, 0, mask, maskStride, true, colour);
  else blendImpl(src, dst, w, h, 1, 0, 0, mask, maskStride, true, colour & 0xff);
}

// @ts-ignore: decorator
@inline
function blendImpl(src: usize, dst: usize, w: i32, h: i32, c: i32, bg: usize, bgStride: i32, mask: usize, maskStride: i32, constant: bool, colour: u32): void {
  const rowBytes = w * c;
  const full = i16x8.splat(255);
  const k = c == 4 ? i32x4.splat(colour) : i8x16.splat(<i8>colour);
  for (let y = 0; y < h; y++) {
    const s = src + <usize>(y * rowBytes);
    const d = dst + <usize>(y * rowBytes);
    const b = bg + <usize>(y * bgStride);
    const m = mask + <usize>(y * maskStride);
    let x = 0;
    for (; x + 16 <= rowBytes; x += 16) {
      const vs = v128.load(s + <usize>x);
      const vb = constant ? k : v128.load(b + <usize>x);
      const vm = maskLanes(m + <usize>(x / c), c);
      const mlo = i16x8.extend_low_i8x16_u(vm);
      const mhi = i16x8.extend_high_i8x16_u(vm);
      const lo = i16x8.add(i16x8.mul(i16x8.extend_low_i8x16_u(vs), mlo), i16x8.mul(i16x8.extend_low_i8x16_u(vb), i16x8.sub(full, mlo)));
      const hi = i16x8.add(i16x8.mul(i16x8.extend_high_i8x16_u(vs), mhi), i16x8.mul(i16x8.extend_high_i8x16_u(vb), i16x8.sub(full, mhi)));
      v128.store(d + <usize>x, i8x16.narrow_i16x8_u(div255x8(lo), div255x8(hi)));
    }
    for (; x < rowBytes; x++) {
      const mv = <u32>load<u8>(m + <usize>(x / c));
      const bv = constant ? (colour >> (<u32>(x % c) * 8)) & 0xff : <u32>load<u8>(b + <usize>x);
      const q = <u32>load<u8>(s + <usize>x) * mv + bv * (255 - mv) + 128;
      store<u8>(d + <usize>x, <u8>((q + (q >> 8)) >> 8));
    }
  }
}
