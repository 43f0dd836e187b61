/**
 * The steps around the network, in plain TypeScript, as the CUDA kernels of src/cuda/segment.cu
 * do them (this is their oracle):
 *
 * 1. frame -> model input: bilinear resize (half-pixel centres, as TensorFlow's ResizeBilinear)
 *    to the model's input size, RGB scaled to [0, 1]; an I420 frame samples each plane on its own
 *    grid and converts BT.601 limited range to RGB, as the CPU path does;
 * 2. model output -> the person mask, one byte per model pixel: mask += (p * 255 - mask) * w,
 *    w = 1 - smoothing (w = 1 on a session's first frame), as the CPU path's maskUpdate;
 * 3. per plane: the edge (edgeMask, the one definition both paths use): the mask bilinearly
 *    resized to the plane's quarter grid through the linear ramp EDGE_LOW..EDGE_HIGH, a 3x3 box
 *    mean, two exact 2x upsamplings of rounding byte averages; then per byte
 *    out = (frame * m + backdrop * (255 - m)) / 255 rounded (blendByte), every channel (RGBA's
 *    alpha too, as the CPU path's SIMD blend). The blur backdrop is computed on
 *    the plane's quarter grid, as the CPU path does (quarterBlur: 4x4 box means, the gaussian
 *    effect's Gaussian of sigma strength / 4, halved again on the half-size chroma planes of
 *    I420, FIR or recursive as src/effects/reference.ts defines it) and sampled back bilinearly.
 */
import { GAUSSIAN_RECURSIVE_MIN_SIGMA, gaussianWeights, recursiveGaussianCoefficients, recursiveGaussianLine } from '../effects/reference.ts';
import { planesOf, type FrameLayout } from '../frames/layout.ts';
import type { Shape } from './graph.ts';
import { resizeAxis } from './graph-reference.ts';

/**
 * The feathering ramp on the (smoothed) mask byte: at or below EDGE_LOW background, at or above
 * EDGE_HIGH person, linear between. A ramp narrower than the model's own soft edge keeps hair and
 * shoulders from ghosting; the 3x3 mean on the quarter grid and the upsampling then spread the
 * edge over about 8 full-resolution pixels.
 */
export const EDGE_LOW = 80;
export const EDGE_HIGH = 176;
/** The ramp as fractions of 255 (the CUDA kernels' argument struct carries these). */
export const FEATHER_LOW = EDGE_LOW / 255;
export const FEATHER_HIGH = EDGE_HIGH / 255;

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

/**
 * The edge of step 3 on a width x height plane, one byte per pixel (the person's weight): the
 * quarter grid (qw = ceil(width / 4) by qh) samples the model-resolution mask bilinearly at its
 * cells' centres (full-resolution 4q + 1.5) through the ramp, then a 3x3 mean (edges repeated,
 * (sum + 4) / 9), then two 2x upsamplings whose weights 3/4, 1/4 are two rounding byte averages
 * (avg(a, avg(a, b)), vertical then horizontal, edges repeated). The arithmetic is float32 where
 * the kernels use floats, so that WASM, CUDA and this agree to the level (one at a rounding tie).
 * Returns (4 qw) x (4 qh) bytes, row stride 4 qw: at least the plane.
 */
export function edgeMask(mask: Uint8Array, maskWidth: number, maskHeight: number, width: number, height: number): Uint8Array {
  const f = Math.fround;
  const qw = (width + 3) >> 2;
  const qh = (height + 3) >> 2;
  const gain = f(255 / Math.max(1, EDGE_HIGH - EDGE_LOW));
  const quarter = new Uint8Array(qw * qh);
  const coord = (q: number, size: number, m: number) => Math.min(m - 1, Math.max(0, f(f(f(f(q * 4) + 2) / size) * m) - 0.5));
  for (let y = 0; y < qh; y++) {
    const sy = f(coord(y, height, maskHeight));
    const y0 = Math.floor(sy);
    const y1 = Math.min(maskHeight - 1, y0 + 1);
    const wy = f(sy - y0);
    for (let x = 0; x < qw; x++) {
      const sx = f(coord(x, width, maskWidth));
      const x0 = Math.floor(sx);
      const x1 = Math.min(maskWidth - 1, x0 + 1);
      const wx = f(sx - x0);
      const at = (yy: number, xx: number) => mask[yy * maskWidth + xx]!;
      const top = f(at(y0, x0) + f(f(at(y0, x1) - at(y0, x0)) * wx));
      const bottom = f(at(y1, x0) + f(f(at(y1, x1) - at(y1, x0)) * wx));
      const v = Math.min(255, Math.max(0, f(f(f(top + f(f(bottom - top) * wy)) - EDGE_LOW) * gain)));
      quarter[y * qw + x] = Math.trunc(f(v + 0.5));
    }
  }
  const box = new Uint8Array(qw * qh);
  for (let y = 0; y < qh; y++)
    for (let x = 0; x < qw; x++) {
      let sum = 0;
      for (let dy = -1; dy <= 1; dy++)
        for (let dx = -1; dx <= 1; dx++) sum += quarter[Math.min(qh - 1, Math.max(0, y + dy)) * qw + Math.min(qw - 1, Math.max(0, x + dx))]!;
      box[y * qw + x] = Math.floor((sum + 4) / 9);
    }
  return upsample2x(upsample2x(box, qw, qh), qw * 2, qh * 2);
}

const avg = (a: number, b: number): number => (a + b + 1) >> 1;

/** Exact 2x upsampling of sw x sh bytes: avg(a, avg(a, b)) down the columns, then along the rows. */
function upsample2x(src: Uint8Array, sw: number, sh: number): Uint8Array {
  const out = new Uint8Array(4 * sw * sh);
  const column = new Uint8Array(sw);
  for (let oy = 0; oy < 2 * sh; oy++) {
    const j = oy >> 1;
    const n = Math.min(sh - 1, Math.max(0, oy & 1 ? j + 1 : j - 1));
    for (let x = 0; x < sw; x++) column[x] = avg(src[j * sw + x]!, avg(src[j * sw + x]!, src[n * sw + x]!));
    for (let ox = 0; ox < 2 * sw; ox++) {
      const x = ox >> 1;
      const nx = Math.min(sw - 1, Math.max(0, ox & 1 ? x + 1 : x - 1));
      out[oy * 2 * sw + ox] = avg(column[x]!, avg(column[x]!, column[nx]!));
    }
  }
  return out;
}

/** One blended byte: (s * m + b * (255 - m)) / 255, rounded as the SIMD blend does. */
export function blendByte(s: number, b: number, m: number): number {
  const q = s * m + b * (255 - m) + 128;
  return (q + (q >> 8)) >> 8;
}

/** Composes person (from `frame`) over the backdrop, as step 3 says. */
export function composeReference(frame: Uint8Array, layout: FrameLayout, mask: Uint8Array, maskShape: Shape, backdrop: ReferenceBackdrop): Uint8Array {
  const out = new Uint8Array(frame.length);
  planesOf(layout).forEach((p, index) => {
    const { width, height, channels: c } = p;
    const src = frame.subarray(p.offset, p.offset + width * height * c);
    const edge = edgeMask(mask, maskShape.w, maskShape.h, width, height);
    const edgeStride = ((width + 3) >> 2) * 4;
    let back: (i: number, ch: number) => number;
    if (backdrop.kind === 'blur') {
      const blurred = quarterBlur(src, width, height, c, quarterSigma(backdrop.strengthPx, layout.format === 'i420' && index > 0));
      const qw = (width + 3) >> 2;
      const qh = (height + 3) >> 2;
      // Each channel's quarter grid brought up by the edge's two exact 2x steps.
      const full = Array.from({ length: c }, (_, ch) => {
        const plane = Uint8Array.from({ length: qw * qh }, (_, i) => blurred[i * c + ch]!);
        return upsample2x(upsample2x(plane, qw, qh), 2 * qw, 2 * qh);
      });
      back = (i, ch) => {
        const x = i % width;
        return full[ch]![((i - x) / width) * 4 * qw + x]!;
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
      const x = i % width;
      const m = edge[((i - x) / width) * edgeStride + x]!;
      for (let ch = 0; ch < c; ch++) dst[i * c + ch] = blendByte(src[i * c + ch]!, Math.min(255, Math.max(0, Math.floor(back(i, ch) + 0.5))), m);
    }
  });
  return out;
}

/** The blur's sigma on the quarter grid (chroma: half again), within the kernels' range, as the CPU path. */
export function quarterSigma(strengthPx: number, chroma: boolean): number {
  if (!(strengthPx > 0 && Number.isFinite(strengthPx))) throw new RangeError(`background blur: strength must be > 0, got ${strengthPx}`);
  return Math.min(MAX_QUARTER_SIGMA, Math.max(0.5, strengthPx / (chroma ? 8 : 4)));
}

/**
 * The blur backdrop of a plane on its quarter grid: 4x4 box means (edge pixels repeated past the
 * plane) rounded to bytes, then the Gaussian of sigmaQ with clamped edges (the FIR, or from
 * GAUSSIAN_RECURSIVE_MIN_SIGMA on the recursive filter) in floats, rounded to bytes, as the CPU
 * path's byte kernels keep them.
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
        means[(qy * qw + qx) * c + ch] = (sum + 8) >> 4;
      }
  if (sigmaQ >= GAUSSIAN_RECURSIVE_MIN_SIGMA) {
    const sections = recursiveGaussianCoefficients(sigmaQ);
    const rows = new Float64Array(means.length);
    const out = new Float64Array(means.length);
    for (let y = 0; y < qh; y++) for (let ch = 0; ch < c; ch++) recursiveGaussianLine(sections, means, y * qw * c + ch, c, qw, rows);
    for (let x = 0; x < qw; x++) for (let ch = 0; ch < c; ch++) recursiveGaussianLine(sections, rows, x * c + ch, qw * c, qh, out);
    return out.map(toByte);
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
  return pass(pass(means, true), false).map(toByte);
}

const toByte = (v: number): number => Math.min(255, Math.max(0, Math.floor(v + 0.5)));

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
