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
 * - each iteration applies the effect again to the previous output; 0 iterations copy the frame.
 */
import { planesOf, type FrameLayout, type PlaneLayout } from '../frames/layout.ts';
import { isEffectName, isSegmentationEffect, withDefaults, type EffectJob, type EffectParams, type FilterEffectName, type ParamsOf } from './catalog.ts';

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

/** Horizontal pass kept unrounded in float64, then the vertical pass, rounded half up. */
function gaussian(src: Plane, dst: Plane, sigma: number): void {
  const w = gaussianWeights(sigma);
  const r = w.length - 1;
  const { width, height, channels } = src;
  const horizontal = new Float64Array(width * height * channels);
  const hIndex = (x: number, y: number, ch: number) => (y * width + x) * channels + ch;
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
