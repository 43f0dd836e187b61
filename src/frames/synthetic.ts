import { chromaSize, type FrameLayout } from './layout.ts';

/**
 * A deterministic test card: gradients, a checkerboard and a diagonal band, so that every effect
 * changes it visibly and every run processes the same pixels.
 */
export function fillSynthetic(layout: FrameLayout, out: Uint8Array): void {
  const { width, height } = layout;
  const sx = 255 / Math.max(1, width - 1);
  const sy = 255 / Math.max(1, height - 1);
  if (layout.format === 'rgba') {
    for (let y = 0; y < height; y++) {
      for (let x = 0; x < width; x++) {
        const o = (y * width + x) * 4;
        const checker = ((x >> 5) ^ (y >> 5)) & 1;
        const band = Math.abs(x - y) < 24 ? 1 : 0;
        out[o] = Math.round(x * sx);
        out[o + 1] = band ? 255 : Math.round(y * sy);
        out[o + 2] = checker ? 208 : 48;
        out[o + 3] = 255;
      }
    }
    return;
  }
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const checker = ((x >> 5) ^ (y >> 5)) & 1;
      out[y * width + x] = Math.round((x * sx + y * sy) / 2) ^ (checker ? 0x20 : 0);
    }
  }
  const c = chromaSize(width, height);
  const u = width * height;
  const v = u + c.width * c.height;
  for (let y = 0; y < c.height; y++) {
    for (let x = 0; x < c.width; x++) {
      out[u + y * c.width + x] = 64 + ((x * 128) / Math.max(1, c.width - 1)) | 0;
      out[v + y * c.width + x] = 192 - ((y * 128) / Math.max(1, c.height - 1)) | 0;
    }
  }
}
