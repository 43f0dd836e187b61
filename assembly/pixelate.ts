/**
 * Pixelate (mosaic) over one plane of `channels` interleaved 8-bit channels: tiles of block x block
 * aligned to (0, 0), clipped at the frame edge; each takes the per-channel mean of its pixels,
 * rounded half up: (sum + floor(count / 2)) / count.
 *
 * Per band of `block` rows the column sums are accumulated in 16-bit SIMD lanes (at most
 * 256 * 255 = 65280, so `block` must be <= 257), then each tile sums its columns, the band's
 * first output row is written and copied to the band's other rows.
 */
export function pixelateScratch(width: i32, channels: i32): i32 {
  return (width * channels * 2 + 15) & ~15;
}

export function pixelate(src: usize, dst: usize, width: i32, height: i32, channels: i32, block: i32, scratch: usize): void {
  if (channels == 4) pixelateImpl(src, dst, width, height, 4, block, scratch);
  else pixelateImpl(src, dst, width, height, 1, block, scratch);
}

// @ts-ignore: decorator
@inline
function pixelateImpl(src: usize, dst: usize, w: i32, h: i32, c: i32, block: i32, sums: usize): void {
  const n = w * c;
  const simdEnd = n & ~15;
  for (let by = 0; by < h; by += block) {
    const bh = min(block, h - by);
    memory.fill(sums, 0, <usize>(n << 1));
    for (let yy = 0; yy < bh; yy++) {
      const row = src + <usize>((by + yy) * n);
      let i = 0;
      for (; i < simdEnd; i += 16) {
        const v = v128.load(row + <usize>i);
        const p = sums + <usize>(i << 1);
        v128.store(p, i16x8.add(v128.load(p), i16x8.extend_low_i8x16_u(v)));
        v128.store(p, i16x8.add(v128.load(p, 16), i16x8.extend_high_i8x16_u(v)), 16);
      }
      for (; i < n; i++) {
        const p = sums + <usize>(i << 1);
        store<u16>(p, load<u16>(p) + <u16>load<u8>(row + <usize>i));
      }
    }

    const out = dst + <usize>(by * n);
    for (let tx = 0; tx < w; tx += block) {
      const bw = min(block, w - tx);
      const count = <u32>(bw * bh);
      const half = count >> 1;
      for (let ch = 0; ch < c; ch++) {
        const first = tx * c + ch;
        let sum: u32 = 0;
        for (let k = 0; k < bw; k++) sum += <u32>load<u16>(sums + <usize>((first + k * c) << 1));
        const mean = <u8>((sum + half) / count);
        for (let k = 0; k < bw; k++) store<u8>(out + <usize>(first + k * c), mean);
      }
    }
    for (let yy = 1; yy < bh; yy++) memory.copy(out + <usize>(yy * n), out, <usize>n);
  }
}
