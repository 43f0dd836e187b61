/** Per-byte and per-pixel kernels: invert, grayscale, copy, fill. */

/** 255 - v on every byte, or on R, G, B only when `channels` is 4 (alpha kept). */
export function invert(src: usize, dst: usize, bytes: i32, channels: i32): void {
  const mask = channels == 4 ? i32x4.splat(0x00ffffff) : i8x16.splat(-1);
  const simdEnd = bytes & ~15;
  let i = 0;
  for (; i < simdEnd; i += 16) v128.store(dst + <usize>i, v128.xor(v128.load(src + <usize>i), mask));
  for (; i < bytes; i++) {
    const keep = channels == 4 && (i & 3) == 3;
    const v = load<u8>(src + <usize>i);
    store<u8>(dst + <usize>i, keep ? v : <u8>(255 - v));
  }
}

/**
 * RGBA -> gray: Y = (77 R + 150 G + 29 B + 128) >> 8, R = G = B = Y, alpha kept.
 * Four pixels per v128: widen to 16 bits, i32x4.dot with (77, 150, 29, 0) gives per pixel
 * 77R + 150G and 29B + 0A in adjacent i32 lanes, which are then paired up and summed.
 */
// @ts-ignore: decorator
@inline
function grayChunk(src: usize, dst: usize, i: i32): void {
  const wts = i16x8(77, 150, 29, 0, 77, 150, 29, 0);
  const v = v128.load(src + <usize>i);
  const d0 = i32x4.dot_i16x8_s(i16x8.extend_low_i8x16_u(v), wts);
  const d1 = i32x4.dot_i16x8_s(i16x8.extend_high_i8x16_u(v), wts);
  const sum = i32x4.add(i32x4.shuffle(d0, d1, 0, 2, 4, 6), i32x4.shuffle(d0, d1, 1, 3, 5, 7));
  const y = i32x4.shr_u(i32x4.add(sum, i32x4.splat(128)), 8);
  v128.store(dst + <usize>i, i8x16.shuffle(y, v, 0, 0, 0, 19, 4, 4, 4, 23, 8, 8, 8, 27, 12, 12, 12, 31));
}

export function grayscaleRgba(src: usize, dst: usize, pixels: i32): void {
  const bytes = pixels << 2;
  if (bytes >= 16) {
    const last = bytes - 16;
    for (let i = 0; i < last; i += 16) grayChunk(src, dst, i);
    grayChunk(src, dst, last);
    return;
  }
  for (let i = 0; i < bytes; i += 4) {
    const p = src + <usize>i;
    const y = <u8>((77 * <u32>load<u8>(p) + 150 * <u32>load<u8>(p, 1) + 29 * <u32>load<u8>(p, 2) + 128) >> 8);
    const q = dst + <usize>i;
    store<u8>(q, y);
    store<u8>(q, y, 1);
    store<u8>(q, y, 2);
    store<u8>(q, load<u8>(p, 3), 3);
  }
}

export function copyBytes(src: usize, dst: usize, bytes: i32): void {
  memory.copy(dst, src, <usize>bytes);
}

export function fillBytes(dst: usize, value: i32, bytes: i32): void {
  memory.fill(dst, <u8>value, <usize>bytes);
}
