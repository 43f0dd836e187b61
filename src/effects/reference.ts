/**
 * The reference effects: plain per-pixel TypeScript, written to be obviously right rather than
 * fast. It is the oracle of the kernel tests and the baseline of the benchmark, and it is the
 * definition of the semantics every backend (WASM, CUDA) must reproduce:
 *
 * - neighbourhood filters sample clamp-to-edge;
 * - RGBA: blur, gaussian, pixelate and sharpen filter all four channels (alpha included);
 *   grayscale, edge and invert keep alpha;
 * - I420: each plane is filtered on its own at its own size; pixelate uses `block` on Y and
 *   max(1, block >> 1) on U and V; grayscale and edge leave U = V = 128;
 * - each iteration applies the effect again to the previous output; 0 iterations copy the frame;
 * - gaussian: below GAUSSIAN_RECURSIVE_MIN_SIGMA the sampled Gaussian truncated at radius
 *   ceil(3 sigma) (an exact FIR); from it on, Deriche's 4th-order recursive approximation of the
 *   untruncated sampled Gaussian, whose cost does not grow with sigma (see recursiveGaussianLine).
 */
import { planesOf, type FrameLayout, type PlaneLayout } from '../frames/layout.ts';
import {
  GAUSSIAN_RECURSIVE_MIN_SIGMA,
  isEffectName,
  isSegmentationEffect,
  withDefaults,
  type EffectJob,
  type EffectParams,
  type FilterEffectName,
  type ParamsOf,
} from './catalog.ts';

export { GAUSSIAN_RECURSIVE_MIN_SIGMA };

export function referenceApply(layout: FrameLayout, job: EffectJob, src: Uint8Array): Uint8Array {
  if (!isEffectName(job.effect)) throw new RangeError(`unknown effect ${String(job.effect)}`);
  if (isSegmentationEffect(job.effect)) throw new RangeError(`${job.effect} has no naive reference: it needs the model (src/segmentation/cpu-mask.ts)`);
  let frame: Uint8Array = src.slice();
  for (let i = 0; i < job.iters; i++) frame = applyOnce(layout, job, frame);
  return frame;
}

/** One plane of `frame`, read with clamp-to-edge coordinates. */
class Plane {
  constructor(
    readonly frame: Uint8Array,
    readonly layout: PlaneLayout,
  ) {}

  get width(): number {
    return this.layout.width;
  }

  get height(): number {
    return this.layout.height;
  }

  get channels(): number {
    return this.layout.channels;
  }

  index(x: number, y: number, ch: number): number {
    return this.layout.offset + y * this.layout.stride + x * this.layout.channels + ch;
  }

  /** The value at (x, y), coordinates clamped into the plane. */
  at(x: number, y: number, ch: number): number {
    const cx = Math.min(Math.max(x, 0), this.width - 1);
    const cy = Math.min(Math.max(y, 0), this.height - 1);
    return this.frame[this.index(cx, cy, ch)] ?? 0;
  }
}

function applyOnce(layout: FrameLayout, job: EffectJob, frame: Uint8Array): Uint8Array {
  const out = new Uint8Array(frame.length);
  const rgba = layout.format === 'rgba';
  const effect = REFERENCE[job.effect as FilterEffectName] as ReferencePass<EffectParams>;
  const params = withDefaults(job.effect, job.params);
  planesOf(layout).forEach((planeLayout, planeIndex) => {
    effect({ src: new Plane(frame, planeLayout), dst: new Plane(out, planeLayout), rgba, chroma: !rgba && planeIndex > 0 }, params);
  });
  return out;
}

/** One plane of one pass: read `src`, write every sample of `dst`. `chroma`: U or V of I420. */
interface ReferencePlane {
  readonly src: Plane;
  readonly dst: Plane;
  readonly rgba: boolean;
  readonly chroma: boolean;
}
type ReferencePass<P> = (plane: ReferencePlane, params: P) => void;

/** The definition of each effect; a new effect adds its entry here (the compiler asks for it). */
const REFERENCE = {
  blur: ({ src, dst }) => forEachSample(src, dst, (x, y, ch) => Math.floor((sum3x3(src, x, y, ch, [1, 1, 1, 1, 1, 1, 1, 1, 1]) + 4) / 9)),
  sharpen: ({ src, dst }) => forEachSample(src, dst, (x, y, ch) => clampByte(sum3x3(src, x, y, ch, [0, -1, 0, -1, 5, -1, 0, -1, 0]))),
  edge: ({ src, dst, rgba, chroma }) => {
    if (chroma) return fill(dst, 128);
    forEachSample(src, dst, (x, y, ch) => (rgba && ch === 3 ? src.at(x, y, ch) : sobel(src, x, y, ch)));
  },
  invert: ({ src, dst, rgba }) => forEachSample(src, dst, (x, y, ch) => (rgba && ch === 3 ? src.at(x, y, ch) : 255 - src.at(x, y, ch))),
  grayscale: ({ src, dst, rgba, chroma }) => {
    if (chroma) return fill(dst, 128);
    if (!rgba) return forEachSample(src, dst, (x, y, ch) => src.at(x, y, ch));
    forEachSample(src, dst, (x, y, ch) =>
      ch === 3 ? src.at(x, y, 3) : (77 * src.at(x, y, 0) + 150 * src.at(x, y, 1) + 29 * src.at(x, y, 2) + 128) >> 8,
    );
  },
  pixelate: ({ src, dst, chroma }, { block }) => pixelate(src, dst, chroma ? Math.max(1, block >> 1) : block),
  gaussian: ({ src, dst }, { sigma }) => gaussian(src, dst, sigma),
} satisfies { readonly [E in FilterEffectName]: ReferencePass<ParamsOf<E>> };

function forEachCoordinate(p: Plane, f: (x: number, y: number, ch: number) => void): void {
  for (let y = 0; y < p.height; y++) {
    for (let x = 0; x < p.width; x++) {
      for (let ch = 0; ch < p.channels; ch++) f(x, y, ch);
    }
  }
}

/** dst(x, y, ch) = f(x, y, ch) for every sample of the plane. */
function forEachSample(src: Plane, dst: Plane, f: (x: number, y: number, ch: number) => number): void {
  forEachCoordinate(src, (x, y, ch) => {
    dst.frame[dst.index(x, y, ch)] = f(x, y, ch);
  });
}

function fill(dst: Plane, value: number): void {
  forEachSample(dst, dst, () => value);
}

function clampByte(v: number): number {
  return Math.min(255, Math.max(0, v));
}

/** Sum of the 3x3 neighbourhood weighted by `k` (row-major, top-left first). */
function sum3x3(p: Plane, x: number, y: number, ch: number, k: readonly number[]): number {
  let sum = 0;
  for (let dy = -1; dy <= 1; dy++) {
    for (let dx = -1; dx <= 1; dx++) sum += (k[(dy + 1) * 3 + dx + 1] ?? 0) * p.at(x + dx, y + dy, ch);
  }
  return sum;
}

function sobel(p: Plane, x: number, y: number, ch: number): number {
  const gx = sum3x3(p, x, y, ch, [-1, 0, 1, -2, 0, 2, -1, 0, 1]);
  const gy = sum3x3(p, x, y, ch, [-1, -2, -1, 0, 0, 0, 1, 2, 1]);
  return Math.min(255, Math.abs(gx) + Math.abs(gy));
}

function pixelate(src: Plane, dst: Plane, block: number): void {
  for (let ty = 0; ty < src.height; ty += block) {
    for (let tx = 0; tx < src.width; tx += block) {
      const xEnd = Math.min(tx + block, src.width);
      const yEnd = Math.min(ty + block, src.height);
      const count = (xEnd - tx) * (yEnd - ty);
      for (let ch = 0; ch < src.channels; ch++) {
        let sum = 0;
        for (let y = ty; y < yEnd; y++) for (let x = tx; x < xEnd; x++) sum += src.at(x, y, ch);
        const mean = Math.floor((sum + Math.floor(count / 2)) / count);
        for (let y = ty; y < yEnd; y++) for (let x = tx; x < xEnd; x++) dst.frame[dst.index(x, y, ch)] = mean;
      }
    }
  }
}

/** Normalised weights w[0..r] of the Gaussian, r = ceil(3 sigma). */
export function gaussianWeights(sigma: number): number[] {
  const r = Math.ceil(3 * sigma);
  const w: number[] = [];
  for (let i = 0; i <= r; i++) w.push(Math.exp(-(i * i) / (2 * sigma * sigma)));
  const total = w.reduce((s, v, i) => s + (i === 0 ? v : 2 * v), 0);
  return w.map((v) => v / total);
}

/**
 * Horizontal pass kept unrounded in float64, then the vertical pass, rounded half up: the FIR
 * below GAUSSIAN_RECURSIVE_MIN_SIGMA, the recursive filter from it on.
 */
function gaussian(src: Plane, dst: Plane, sigma: number): void {
  const { width, height, channels } = src;
  const horizontal = new Float64Array(width * height * channels);
  const hIndex = (x: number, y: number, ch: number) => (y * width + x) * channels + ch;
  if (sigma >= GAUSSIAN_RECURSIVE_MIN_SIGMA) {
    const both = new Float64Array(width * height * channels);
    forEachCoordinate(src, (x, y, ch) => {
      both[hIndex(x, y, ch)] = src.at(x, y, ch);
    });
    const coefficients = recursiveGaussianCoefficients(sigma);
    for (let y = 0; y < height; y++) {
      for (let ch = 0; ch < channels; ch++) recursiveGaussianLine(coefficients, both, hIndex(0, y, ch), channels, width, horizontal);
    }
    for (let x = 0; x < width; x++) {
      for (let ch = 0; ch < channels; ch++) recursiveGaussianLine(coefficients, horizontal, hIndex(x, 0, ch), width * channels, height, both);
    }
    forEachSample(src, dst, (x, y, ch) => clampByte(Math.floor((both[hIndex(x, y, ch)] ?? 0) + 0.5)));
    return;
  }
  const w = gaussianWeights(sigma);
  const r = w.length - 1;
  forEachCoordinate(src, (x, y, ch) => {
    let acc = 0;
    for (let k = -r; k <= r; k++) acc += (w[Math.abs(k)] ?? 0) * src.at(x + k, y, ch);
    horizontal[hIndex(x, y, ch)] = acc;
  });
  forEachSample(src, dst, (x, y, ch) => {
    let acc = 0;
    for (let k = -r; k <= r; k++) {
      const yy = Math.min(Math.max(y + k, 0), height - 1);
      acc += (w[Math.abs(k)] ?? 0) * (horizontal[hIndex(x, yy, ch)] ?? 0);
    }
    return clampByte(Math.floor(acc + 0.5));
  });
}

/**
 * Deriche's 4th-order fit of the Gaussian (R. Deriche, "Recursively implementing the Gaussian and
 * its derivatives", INRIA RR-1893, 1993; the constants as tabulated by P. Getreuer, "A Survey of
 * Gaussian Convolution Algorithms", IPOL 2013): exp(-t^2 / 2) is approximated for t >= 0 by
 * sum_j 2 Re(alpha_j exp(-lambda_j t)), two complex-conjugate pairs.
 */
const DERICHE = [
  { alphaRe: 0.84, alphaIm: 1.8675, lambdaRe: 1.783, lambdaIm: 0.6318 },
  { alphaRe: -0.34015, alphaIm: -0.1299, lambdaRe: 1.723, lambdaIm: 1.997 },
] as const;

/**
 * One conjugate pair of poles as a second-order section: the causal part (k >= 0) of its term
 * 2 Re(alpha beta^k), beta = exp(-lambda / sigma), is (c0 + c1 z^-1) / (1 + a1 z^-1 + a2 z^-2),
 * the anticausal part (k >= 1) (d1 z + d2 z^2) / (1 + a1 z + a2 z^2).
 */
export interface RecursiveGaussianSection {
  readonly a1: number;
  readonly a2: number;
  readonly c0: number;
  readonly c1: number;
  readonly d1: number;
  readonly d2: number;
}

/**
 * The two sections for `sigma`, numerators scaled so that the whole impulse response sums to 1
 * (a constant line stays constant).
 */
export function recursiveGaussianCoefficients(sigma: number): readonly [RecursiveGaussianSection, RecursiveGaussianSection] {
  const raw = DERICHE.map(({ alphaRe, alphaIm, lambdaRe, lambdaIm }) => {
    const mag = Math.exp(-lambdaRe / sigma);
    const betaRe = mag * Math.cos(lambdaIm / sigma);
    const betaIm = -mag * Math.sin(lambdaIm / sigma);
    const a1 = -2 * betaRe;
    const a2 = mag * mag;
    const c0 = 2 * alphaRe;
    const c1 = -2 * (alphaRe * betaRe + alphaIm * betaIm); // -2 Re(alpha conj(beta))
    const d1 = 2 * (alphaRe * betaRe - alphaIm * betaIm); // 2 Re(alpha beta)
    const d2 = -2 * alphaRe * a2;
    return { a1, a2, c0, c1, d1, d2 };
  });
  const total = raw.reduce((sum, s) => sum + (s.c0 + s.c1 + s.d1 + s.d2) / (1 + s.a1 + s.a2), 0);
  const [first, second] = raw.map((s) => ({ ...s, c0: s.c0 / total, c1: s.c1 / total, d1: s.d1 / total, d2: s.d2 / total }));
  return [first!, second!];
}

/**
 * The recursive Gaussian along one line of `length` samples of `input`, from `start` every
 * `stride`, into the same positions of `output`: the causal and the anticausal sums of both
 * sections. The lines extend their first and last samples forever (clamp-to-edge), which a
 * section's steady state for a constant input, x / (1 + a1 + a2), expresses exactly: the filter
 * starts in it.
 */
export function recursiveGaussianLine(
  sections: readonly RecursiveGaussianSection[],
  input: ArrayLike<number>,
  start: number,
  stride: number,
  length: number,
  output: Float64Array,
): void {
  const at = (i: number) => input[start + i * stride] ?? 0;
  for (let i = 0; i < length; i++) output[start + i * stride] = 0;
  for (const { a1, a2, c0, c1, d1, d2 } of sections) {
    let w1 = at(0) / (1 + a1 + a2);
    let w2 = w1;
    for (let i = 0; i < length; i++) {
      const w = at(i) - a1 * w1 - a2 * w2;
      output[start + i * stride] = (output[start + i * stride] ?? 0) + c0 * w + c1 * w1;
      w2 = w1;
      w1 = w;
    }
    w1 = at(length - 1) / (1 + a1 + a2);
    w2 = w1;
    for (let i = length - 1; i >= 0; i--) {
      output[start + i * stride] = (output[start + i * stride] ?? 0) + d1 * w1 + d2 * w2;
      const w = at(i) - a1 * w1 - a2 * w2;
      w2 = w1;
      w1 = w;
    }
  }
}
