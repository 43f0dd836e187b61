/**
 * The steps around the network, in plain TypeScript, as the CUDA kernels of src/cuda/segment.cu
 * do them (this is their oracle):
 *
 * 1. frame -> model input: bilinear resize (half-pixel centres, as TensorFlow's ResizeBilinear)
 *    to the model's input size, RGB scaled to [0, 1]; an I420 frame samples each plane on its own
 *    grid and converts BT.601 limited range to RGB, as the CPU path does;
 * 2. model output -> the person mask, one byte per model pixel: mask += (p * 255 - mask) * w,
 *    w = 1 - smoothing (w = 1 on a session's first frame), as the CPU path's maskUpdate;
 * 3. per plane: the mask bilinearly upsampled to the plane, /255, through a smoothstep between
 *    FEATHER_LOW and FEATHER_HIGH (the feathered edge), and out = alpha * frame + (1 - alpha) *
 *    backdrop, rounded half up; RGBA keeps its alpha channel. The blur backdrop is computed on
 *    the plane's quarter grid, as the CPU path does (quarterBlur: 4x4 box means, the gaussian
 *    effect's Gaussian of sigma strength / 4, halved again on the half-size chroma planes of
 *    I420, FIR or recursive as src/effects/reference.ts defines it) and sampled back bilinearly.
 */
import { GAUSSIAN_RECURSIVE_MIN_SIGMA, gaussianWeights, recursiveGaussianCoefficients, recursiveGaussianLine } from '../effects/reference.ts';
import { planesOf, type FrameLayout } from '../frames/layout.ts';
import type { Shape } from './graph.ts';
import { resizeAxis } from './graph-reference.ts';

/** The alpha ramp on the mask (as the CPU path's 80..176 of 255). */
export const FEATHER_LOW = 80 / 255;
export const FEATHER_HIGH = 176 / 255;

/** The person mask counts a pixel as person where the model's probability is at least this. */
export const MASK_THRESHOLD = 0.5;

/** The largest blur sigma on the quarter grid: the kernels' radius ceil(3 sigma) <= 96. */
export const MAX_QUARTER_SIGMA = 32;

export type ReferenceBackdrop =
  | { readonly kind: 'blur'; readonly strengthPx: number }
  /** The value of each plane: RGBA as a little-endian u32, I420 the Y, U or V byte. */
  | { readonly kind: 'colour'; readonly planeValues: readonly number[] }
  | { readonly kind: 'image'; readonly frame: Uint8Array };

/** Bilinear sample (half-pixel centres) of a w x h one-channel grid at output (ox, oy) of ow x oh. */
function sampler(values: ArrayLike<number>, w: number, h: number, ow: number, oh: number, stride = 1, offset = 0) {
  const ay = resizeAxis(h, oh, true, false);
  const ax = resizeAxis(w, ow, true, false);
  return (ox: number, oy: number): number => {
    const [y0, y1, fy] = ay(oy);
    const [x0, x1, fx] = ax(ox);
    const at = (y: number, x: number) => values[(y * w + x) * stride + offset]!;
    const top = at(y0, x0) + (at(y0, x1) - at(y0, x0)) * fx;
    const bottom = at(y1, x0) + (at(y1, x1) - at(y1, x0)) * fx;
    return top + (bottom - top) * fy;
  };
}

export function frameToModelInput(frame: Uint8Array, layout: FrameLayout, input: Shape): Float32Array {
  if (input.c !== 3) throw new RangeError(`the model takes ${input.c} channels, not RGB`);
  const out = new Float32Array(input.h * input.w * 3);
  const { width, height } = layout;
  if (layout.format === 'rgba') {
    const channel = [0, 1, 2].map((c) => sampler(frame, width, height, input.w, input.h, 4, c));
    for (let y = 0; y < input.h; y++)
      for (let x = 0; x < input.w; x++) for (let c = 0; c < 3; c++) out[(y * input.w + x) * 3 + c] = channel[c]!(x, y) / 255;
    return out;
  }
  const [yp, up, vp] = planesOf(layout).map((p) => sampler(frame.subarray(p.offset, p.offset + p.width * p.height), p.width, p.height, input.w, input.h));
  const clamp = (v: number) => Math.min(255, Math.max(0, v));
  for (let y = 0; y < input.h; y++)
    for (let x = 0; x < input.w; x++) {
      const Y = (yp!(x, y) - 16) * 1.164;
      const U = up!(x, y) - 128;
      const V = vp!(x, y) - 128;
      const o = (y * input.w + x) * 3;
      out[o] = clamp(Y + 1.596 * V) / 255;
      out[o + 1] = clamp(Y - 0.813 * V - 0.391 * U) / 255;
      out[o + 2] = clamp(Y + 2.018 * U) / 255;
    }
  return out;
}

/** The mask update of step 2, in place. */
export function updateMask(mask: Uint8Array, probability: Float32Array, channels: number, newWeight: number): void {
  for (let i = 0; i < mask.length; i++) {
    const p = Math.min(1, Math.max(0, probability[i * channels]!));
    mask[i] = Math.floor(mask[i]! + (p * 255 - mask[i]!) * newWeight + 0.5);
  }
}

export function smoothstep(low: number, high: number, v: number): number {
  const t = Math.min(Math.max((v - low) / (high - low), 0), 1);
  return t * t * (3 - 2 * t);
}

/** The person alpha of step 3 on a width x height plane. */
export function planeAlpha(mask: Uint8Array, maskShape: Shape, width: number, height: number): Float32Array {
  const sample = sampler(mask, maskShape.w, maskShape.h, width, height);
  const out = new Float32Array(width * height);
  for (let y = 0; y < height; y++) for (let x = 0; x < width; x++) out[y * width + x] = smoothstep(FEATHER_LOW, FEATHER_HIGH, sample(x, y) / 255);
  return out;
}

/** Composes person (from `frame`) over the backdrop, as step 3 says. */
export function composeReference(frame: Uint8Array, layout: FrameLayout, mask: Uint8Array, maskShape: Shape, backdrop: ReferenceBackdrop): Uint8Array {
  const out = new Uint8Array(frame.length);
  planesOf(layout).forEach((p, index) => {
    const { width, height, channels: c } = p;
    const src = frame.subarray(p.offset, p.offset + width * height * c);
    const alpha = planeAlpha(mask, maskShape, width, height);
    let back: (i: number, ch: number) => number;
    if (backdrop.kind === 'blur') {
      const blurred = quarterBlur(src, width, height, c, quarterSigma(backdrop.strengthPx, layout.format === 'i420' && index > 0));
      const qw = (width + 3) >> 2;
      const qh = (height + 3) >> 2;
      const ay = quarterAxis(qh);
      const ax = quarterAxis(qw);
      back = (i, ch) => {
        const x = i % width;
        const [y0, y1, fy] = ay((i - x) / width);
        const [x0, x1, fx] = ax(x);
        const at = (yy: number, xx: number) => blurred[(yy * qw + xx) * c + ch]!;
        const top = at(y0, x0) + (at(y0, x1) - at(y0, x0)) * fx;
        const bottom = at(y1, x0) + (at(y1, x1) - at(y1, x0)) * fx;
        return top + (bottom - top) * fy;
      };
    } else if (backdrop.kind === 'image') {
      const bg = backdrop.frame.subarray(p.offset, p.offset + width * height * c);
      back = (i, ch) => bg[i * c + ch]!;
    } else {
      const value = backdrop.planeValues[index]!;
      back = (_i, ch) => (value >>> (8 * ch)) & 0xff;
    }
    const dst = out.subarray(p.offset, p.offset + width * height * c);
    for (let i = 0; i < width * height; i++) {
      const a = alpha[i]!;
      for (let ch = 0; ch < c; ch++) {
        if (c === 4 && ch === 3) {
          dst[i * 4 + 3] = src[i * 4 + 3]!;
          continue;
        }
        dst[i * c + ch] = Math.min(255, Math.max(0, Math.floor(a * src[i * c + ch]! + (1 - a) * back(i, ch) + 0.5)));
      }
    }
  });
  return out;
}

/** The blur's sigma on the quarter grid (chroma: half again), within the kernels' range, as the CPU path. */
export function quarterSigma(strengthPx: number, chroma: boolean): number {
  if (!(strengthPx > 0 && Number.isFinite(strengthPx))) throw new RangeError(`background blur: strength must be > 0, got ${strengthPx}`);
  return Math.min(MAX_QUARTER_SIGMA, Math.max(0.5, strengthPx / (chroma ? 8 : 4)));
}

/** Bilinear positions on a quarter grid of `size` cells for full-resolution pixel o (cell q centred on 4q + 1.5). */
function quarterAxis(size: number): (o: number) => [number, number, number] {
  return (o) => {
    const src = (o + 0.5) * 0.25 - 0.5;
    const floor = Math.floor(src);
    return [Math.min(Math.max(floor, 0), size - 1), Math.max(Math.min(Math.ceil(src), size - 1), 0), src - floor];
  };
}

/**
 * The blur backdrop of a plane on its quarter grid: 4x4 box means (edge pixels repeated past the
 * plane), then the Gaussian of sigmaQ with clamped edges (the FIR, or from
 * GAUSSIAN_RECURSIVE_MIN_SIGMA on the recursive filter), all in floats.
 */
export function quarterBlur(src: Uint8Array, width: number, height: number, c: number, sigmaQ: number): Float64Array {
  const qw = (width + 3) >> 2;
  const qh = (height + 3) >> 2;
  const means = new Float64Array(qw * qh * c);
  for (let qy = 0; qy < qh; qy++)
    for (let qx = 0; qx < qw; qx++)
      for (let ch = 0; ch < c; ch++) {
        let sum = 0;
        for (let dy = 0; dy < 4; dy++)
          for (let dx = 0; dx < 4; dx++) sum += src[(Math.min(4 * qy + dy, height - 1) * width + Math.min(4 * qx + dx, width - 1)) * c + ch]!;
        means[(qy * qw + qx) * c + ch] = sum / 16;
      }
  if (sigmaQ >= GAUSSIAN_RECURSIVE_MIN_SIGMA) {
    const sections = recursiveGaussianCoefficients(sigmaQ);
    const rows = new Float64Array(means.length);
    const out = new Float64Array(means.length);
    for (let y = 0; y < qh; y++) for (let ch = 0; ch < c; ch++) recursiveGaussianLine(sections, means, y * qw * c + ch, c, qw, rows);
    for (let x = 0; x < qw; x++) for (let ch = 0; ch < c; ch++) recursiveGaussianLine(sections, rows, x * c + ch, qw * c, qh, out);
    return out;
  }
  const w = gaussianWeights(sigmaQ);
  const r = w.length - 1;
  const pass = (input: Float64Array, rows: boolean) => {
    const out = new Float64Array(input.length);
    for (let y = 0; y < qh; y++)
      for (let x = 0; x < qw; x++)
        for (let ch = 0; ch < c; ch++) {
          let sum = 0;
          for (let k = -r; k <= r; k++) {
            const j = rows ? y * qw + Math.min(Math.max(x + k, 0), qw - 1) : Math.min(Math.max(y + k, 0), qh - 1) * qw + x;
            sum += w[Math.abs(k)]! * input[j * c + ch]!;
          }
          out[(y * qw + x) * c + ch] = sum;
        }
    return out;
  };
  return pass(pass(means, true), false);
}

/** Intersection over union of two probability masks thresholded at MASK_THRESHOLD. */
export function maskIoU(a: ArrayLike<number>, b: ArrayLike<number>, threshold = MASK_THRESHOLD): number {
  if (a.length !== b.length) throw new RangeError(`masks of ${a.length} and ${b.length} values`);
  let inter = 0;
  let union = 0;
  for (let i = 0; i < a.length; i++) {
    const pa = a[i]! >= threshold;
    const pb = b[i]! >= threshold;
    if (pa && pb) inter++;
    if (pa || pb) union++;
  }
  return union === 0 ? 1 : inter / union;
}
