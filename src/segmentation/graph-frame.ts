/**
 * The steps around the network, in plain TypeScript, as the CUDA kernels of src/cuda/segment.cu
 * do them (this is their oracle):
 *
 * 1. frame -> model input: bilinear resize (half-pixel centres, as TensorFlow's ResizeBilinear)
 *    of the RGBA frame to the model's input size, RGB scaled to [0, 1];
 * 2. model output (person probability, model resolution) -> alpha at frame resolution: bilinear
 *    upsampling, then a smoothstep between FEATHER_LOW and FEATHER_HIGH, which keeps the soft
 *    edge of the upsampled mask (the feather) and drops the low-confidence halo around it;
 * 3. background blur: separable Gaussian of the frame (clamped edges, float sums), then
 *    out = alpha * frame + (1 - alpha) * blurred, rounded half up; alpha channel kept.
 */
import { gaussianWeights } from '../effects/reference.ts';
import type { Shape } from './graph.ts';
import { resizeAxis } from './graph-reference.ts';

export const FEATHER_LOW = 0.3;
export const FEATHER_HIGH = 0.7;

/** The person mask counts a pixel as person where the model's probability is at least this. */
export const MASK_THRESHOLD = 0.5;

export function frameToModelInput(rgba: Uint8Array, width: number, height: number, input: Shape): Float32Array {
  if (input.c !== 3) throw new RangeError(`the model takes ${input.c} channels, not RGB`);
  const out = new Float32Array(input.h * input.w * 3);
  const ay = resizeAxis(height, input.h, true, false);
  const ax = resizeAxis(width, input.w, true, false);
  for (let oy = 0; oy < input.h; oy++) {
    const [y0, y1, fy] = ay(oy);
    for (let ox = 0; ox < input.w; ox++) {
      const [x0, x1, fx] = ax(ox);
      for (let c = 0; c < 3; c++) {
        const at = (y: number, x: number) => rgba[(y * width + x) * 4 + c]!;
        const top = at(y0, x0) + (at(y0, x1) - at(y0, x0)) * fx;
        const bottom = at(y1, x0) + (at(y1, x1) - at(y1, x0)) * fx;
        out[(oy * input.w + ox) * 3 + c] = (top + (bottom - top) * fy) / 255;
      }
    }
  }
  return out;
}

export function smoothstep(low: number, high: number, v: number): number {
  const t = Math.min(Math.max((v - low) / (high - low), 0), 1);
  return t * t * (3 - 2 * t);
}

/** The model's probability bilinearly upsampled to the frame (not yet feathered). */
export function upsampleMask(mask: Float32Array, mask2: Shape, width: number, height: number): Float32Array {
  const out = new Float32Array(width * height);
  const ay = resizeAxis(mask2.h, height, true, false);
  const ax = resizeAxis(mask2.w, width, true, false);
  for (let y = 0; y < height; y++) {
    const [y0, y1, fy] = ay(y);
    for (let x = 0; x < width; x++) {
      const [x0, x1, fx] = ax(x);
      const at = (yy: number, xx: number) => mask[(yy * mask2.w + xx) * mask2.c]!;
      const top = at(y0, x0) + (at(y0, x1) - at(y0, x0)) * fx;
      const bottom = at(y1, x0) + (at(y1, x1) - at(y1, x0)) * fx;
      out[y * width + x] = top + (bottom - top) * fy;
    }
  }
  return out;
}

/** Blurs the background of an RGBA frame behind the person that `mask` (model output) finds. */
export function backgroundBlurReference(rgba: Uint8Array, width: number, height: number, mask: Float32Array, maskShape: Shape, sigma: number): Uint8Array {
  const alpha = upsampleMask(mask, maskShape, width, height).map((m) => smoothstep(FEATHER_LOW, FEATHER_HIGH, m));
  const w = gaussianWeights(sigma);
  const r = w.length - 1;
  const rows = new Float64Array(width * height * 4);
  for (let y = 0; y < height; y++)
    for (let x = 0; x < width; x++)
      for (let c = 0; c < 4; c++) {
        let sum = 0;
        for (let k = -r; k <= r; k++) sum += w[Math.abs(k)]! * rgba[(y * width + Math.min(Math.max(x + k, 0), width - 1)) * 4 + c]!;
        rows[(y * width + x) * 4 + c] = sum;
      }
  const out = new Uint8Array(rgba.length);
  for (let y = 0; y < height; y++)
    for (let x = 0; x < width; x++) {
      const a = alpha[y * width + x]!;
      for (let c = 0; c < 4; c++) {
        const i = (y * width + x) * 4 + c;
        if (c === 3) {
          out[i] = rgba[i]!;
          continue;
        }
        let blurred = 0;
        for (let k = -r; k <= r; k++) blurred += w[Math.abs(k)]! * rows[(Math.min(Math.max(y + k, 0), height - 1) * width + x) * 4 + c]!;
        out[i] = Math.min(255, Math.max(0, Math.floor(a * rgba[i]! + (1 - a) * blurred + 0.5)));
      }
    }
  return out;
}

/** Intersection over union of two probability masks thresholded at MASK_THRESHOLD. */
export function maskIoU(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new RangeError(`masks of ${a.length} and ${b.length} values`);
  let inter = 0;
  let union = 0;
  for (let i = 0; i < a.length; i++) {
    const pa = a[i]! >= MASK_THRESHOLD;
    const pb = b[i]! >= MASK_THRESHOLD;
    if (pa && pb) inter++;
    if (pa || pb) union++;
  }
  return union === 0 ? 1 : inter / union;
}
