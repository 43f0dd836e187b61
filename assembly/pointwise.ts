/** Per-byte and per-pixel kernels: invert, grayscale, copy, fill. */

/**
 * 255 - v on every byte, or on R, G, B only when `channels` is 4 (alpha kept). 64 bytes an
 * iteration: one v128 an iteration spends as much on the loop as on the work.
 */
export function invert(src: usize, dst: usize, bytes: i32, channels: i32): void {
  const mask = channels == 4 ? i32x4.splat(0x00ffffff) : i8x16.splat(-1);
  const blockEnd = bytes & ~63;
  const simdEnd = bytes & ~15;
  let i = 0;
  for (; i < blockEnd; i += 64) {
    const p = src + <usize>i;
    const q = dst + <usize>i;
    v128.store(q, v128.xor(v128.load(p), mask));
    v128.store(q, v128.xor(v128.load(p, 16), mask), 16);
    v128.store(q, v128.xor(v128.load(p, 32), mask), 32);
    v128.store(q, v128.xor(v128.load(p, 48), mask), 48);
  }
  for (; i < simdEnd; i += 16) v128.store(dst + <usize>i, v128.xor(v128.load(src + <usize>i), mask));
  for (; i < bytes; i++) {
    const keep = channels == 4 && (i & 3) == 3;
    const v = load<u8>(src + <usize>i);
    store<u8>(dst + <usize>i, keep ? v : <u8>(255 - v));
  }
}

/**
 * RGBA -> gray: Y = (77 R + 150 G + 29 B + 128) >> 8, R = G = B = Y, alpha kept.
 * Four pixels per v128, as 16-bit lanes (R | G << 8, B | A << 8): masking keeps (R, B), a shift
 * gives (G, A), and two i32x4.dot with (77, 29) and (150, 0) give 77 R + 29 B and 150 G per
 * pixel. The sum plus 128 is below 2^16, so Y is its second byte: one shuffle picks it three
 * times and the source's alpha once.
 */
// @ts-ignore: decorator
@inline
function grayChunk(src: usize, dst: usize, i: i32): void {
  const v = v128.load(src + <usize>i);
  const rb = i32x4.dot_i16x8_s(v128.and(v, i32x4.splat(0x00ff00ff)), i16x8(77, 29, 77, 29, 77, 29, 77, 29));
  const g = i32x4.dot_i16x8_s(i16x8.shr_u(v, 8), i16x8(150, 0, 150, 0, 150, 0, 150, 0));
  const y = i32x4.add(i32x4.add(rb, g), i32x4.splat(128));
  v128.store(dst + <usize>i, i8x16.shuffle(y, v, 1, 1, 1, 19, 5, 5, 5, 23, 9, 9, 9, 27, 13, 13, 13, 31));
}

export function grayscaleRgba(src: usize, dst: usize, pixels: i32): void {
  const bytes = pixels << 2;
  if (bytes >= 16) {
    const last = bytes - 16;
    let i = 0;
    // Four independent chunks an iteration: the loop's own cost shared, the chunks overlapped.
    for (; i + 64 <= last; i += 64) {
      grayChunk(src, dst, i);
      grayChunk(src, dst, i + 16);
      grayChunk(src, dst, i + 32);
      grayChunk(src, dst, i + 48);
    }
    for (; i < last; i += 16) grayChunk(src, dst, i);
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
