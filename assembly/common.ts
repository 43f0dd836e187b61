/** Helpers shared by the kernels. Pointers are byte offsets into linear memory. */

/** Clamp-to-edge row index. */
// @ts-ignore: decorator
@inline
export function clampIndex(v: i32, n: i32): i32 {
  return v < 0 ? 0 : v >= n ? n - 1 : v;
}

/**
 * Row buffers of 16-bit lanes keep PAD bytes on each side so that the clamped neighbours of the
 * first and last pixel (up to 4 channels = 8 bytes) are ordinary lanes and the SIMD loops need no
 * border branches.
 */
export const PAD: i32 = 16;

/** Bytes of one padded 16-bit row buffer for a row of `n` bytes (16-aligned). */
// @ts-ignore: decorator
@inline
export function rowBuf16Bytes(n: i32): i32 {
  return (n * 2 + PAD * 2 + 15) & ~15;
}

/**
 * Writes the clamp-to-edge neighbours of a 16-bit row buffer: lanes -c..-1 repeat pixel 0 and
 * lanes n..n+c-1 repeat the last pixel. `buf` points at lane 0.
 */
// @ts-ignore: decorator
@inline
export function padRow16(buf: usize, n: i32, c: i32): void {
  for (let k = 0; k < c; k++) {
    store<u16>(buf + <usize>((k - c) << 1), load<u16>(buf + <usize>(k << 1)));
    store<u16>(buf + <usize>((n + k) << 1), load<u16>(buf + <usize>((n - c + k) << 1)));
  }
}

/** Alpha lanes of 4 RGBA pixels, for v128.bitselect. */
// @ts-ignore: decorator
@inline
export function alphaMask(): v128 {
  return i32x4.splat(0xff000000);
}
