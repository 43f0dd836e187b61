import { InvalidEffectError } from '../errors.ts';
import { SEGMENTATION_WEIGHT_WITH_MODEL } from './segmentation-cost.ts';
import type { PixelFormat } from '../frames/layout.ts';

/**
 * From this sigma on, gaussian is the recursive filter (src/effects/reference.ts): it costs the
 * same whatever sigma, and on the WASM kernels it is faster than the FIR from about here (npm run
 * bench). assembly/gaussian-iir.ts holds the same constant; a test checks that they agree.
 */
export const GAUSSIAN_RECURSIVE_MIN_SIGMA = 5;

/**
 * The gaussian's cost in blur passes of the same frame, per CPU kernels (`npm run bench -- --native
 * auto|avx2|off --sigmas 1,2,4.9,8,24`, 720p and 1080p, Node 22; docs/benchmarks.md, "Native
 * kernels"): below sigma 5 fixed + perTap x (2r + 1), from 5 on `recursive`. The native
 * recursive filter gathers I420's one-channel planes side by side first, so there it costs
 * relatively more (`recursiveI420`, before admission's 0.4 for I420's bytes).
 */
const GAUSSIAN_COST: Readonly<Record<CpuKernels, { fixed: number; perTap: number; recursive: number; recursiveI420: number }>> = {
  wasm: { fixed: 0, perTap: 0.66, recursive: 18, recursiveI420: 18 },
  avx2: { fixed: 0.75, perTap: 0.25, recursive: 8, recursiveI420: 10 },
  avx512: { fixed: 0.5, perTap: 0.15, recursive: 4.5, recursiveI420: 7.5 },
};

/**
 * The effects the engine offers and their parameters. This is the single description used by
 * validation (HTTP, WebRTC), by `GET /effects` and by every backend.
 */
export interface ParamSpec {
  readonly min: number;
  readonly max: number;
  readonly default: number;
  readonly integer: boolean;
  readonly description: string;
}

/** The CPU kernels a pod runs (src/effects/native.ts): the WASM ones alone, or native ones beside them. */
export type CpuKernels = 'wasm' | 'avx2' | 'avx512';

/** What an effect's cost depends on besides its parameters. */
export interface CostContext {
  readonly cpu: CpuKernels;
  readonly format: PixelFormat;
}

export interface EffectSpec {
  readonly description: string;
  readonly params: Readonly<Record<string, ParamSpec>>;
  /**
   * Compute per pixel per pass relative to one 3x3 box-blur pass on RGBA (= 1), for these
   * parameters (defaults filled in), on these kernels; admission scales it by the format's bytes
   * (admission.ts). Admission predicts a job's time from it, so every effect must give one;
   * measure it with `npm run bench [-- --native off|avx2]` (docs/benchmarks.md).
   */
  readonly weight: (params: Readonly<Record<string, number>>, context: CostContext) => number;
  /**
   * A person-segmentation effect (src/segmentation/): a model and a mask per frame, state per
   * session, one pass. The others are filters: pure kernels with a WASM, CUDA and reference form.
   */
  readonly segmentation?: true;
}

export const EFFECTS = {
  blur: { description: '3x3 box blur, edges clamped; one iteration is one pass (the benchmark work unit)', params: {}, weight: () => 1 },
  gaussian: {
    description: 'Gaussian blur, edges clamped: exact separable FIR of radius ceil(3*sigma) below sigma 5, from 5 on a recursive filter whose cost does not grow with sigma (within 0.13 levels of the exact Gaussian)',
    params: { sigma: { min: 0.5, max: 32, default: 2, integer: false, description: 'standard deviation in pixels' } },
    // Below sigma 5 two 1-D passes of 2r+1 taps; from 5 on the recursive filter, the same whatever
    // sigma; each as fast as the kernels in use make it (GAUSSIAN_COST).
    weight: (p, { cpu, format }) => {
      const sigma = p.sigma ?? 2;
      const cost = GAUSSIAN_COST[cpu];
      if (sigma >= GAUSSIAN_RECURSIVE_MIN_SIGMA) return format === 'i420' ? cost.recursiveI420 : cost.recursive;
      return cost.fixed + cost.perTap * (2 * Math.ceil(3 * sigma) + 1);
    },
  },
  pixelate: {
    description: 'mosaic: each block x block tile takes its mean colour',
    params: { block: { min: 2, max: 256, default: 16, integer: true, description: 'tile edge in pixels' } },
    weight: () => 1,
  },
  grayscale: { description: 'BT.601 luma; I420 keeps Y and sets chroma to 128', params: {}, weight: (_, { cpu }) => (cpu === 'wasm' ? 0.6 : 0.2) },
  edge: { description: 'Sobel gradient magnitude |gx|+|gy| per channel (I420: on Y, chroma 128)', params: {}, weight: () => 1.7 },
  sharpen: { description: '3x3 sharpen [0,-1,0; -1,5,-1; 0,-1,0], edges clamped', params: {}, weight: () => 0.9 },
  invert: { description: 'negative: 255 - v on colour channels (alpha kept)', params: {}, weight: () => 0.2 },
  'background-blur': {
    description: 'person segmentation (MediaPipe selfie model): the background blurred, the person kept sharp; iters is ignored (one pass)',
    segmentation: true,
    // The model dominates and does not grow with the frame: calibrated at 720p (src/effects/segmentation-cost.ts).
    weight: () => SEGMENTATION_WEIGHT_WITH_MODEL,
    params: { strength: { min: 2, max: 64, default: 16, integer: false, description: 'blur of the background: Gaussian sigma in pixels of the frame' } },
  },
  'background-replace': {
    description: "person segmentation: the background replaced by a colour, or by the session's image (PUT /whip/{id}/background); iters is ignored",
    segmentation: true,
    weight: () => SEGMENTATION_WEIGHT_WITH_MODEL,
    params: { color: { min: 0, max: 0xffffff, default: 0x00b140, integer: true, description: 'backdrop colour 0xRRGGBB (the query takes 0x00b140 or decimal)' } },
  },
} as const satisfies Record<string, EffectSpec>;

export type EffectName = keyof typeof EFFECTS;
export const EFFECT_NAMES = Object.keys(EFFECTS) as EffectName[];

/** The person-segmentation effects (`segmentation: true`), run by src/segmentation/. */
export type SegmentationEffectName = {
  [K in EffectName]: (typeof EFFECTS)[K] extends { readonly segmentation: true } ? K : never;
}[EffectName];
/** The filters: effects with kernels in every backend and a naive reference. */
export type FilterEffectName = Exclude<EffectName, SegmentationEffectName>;

export function isSegmentationEffect(name: string): name is SegmentationEffectName {
  return isEffectName(name) && (EFFECTS[name] as EffectSpec).segmentation === true;
}
export const FILTER_EFFECT_NAMES = EFFECT_NAMES.filter((name): name is FilterEffectName => !isSegmentationEffect(name));

/** Resolved parameters: every parameter of the effect present, validated, in range. */
export type EffectParams = Readonly<Record<string, number>>;

/** The parameters of one effect by name, as its backends read them (defaults filled in). */
export type ParamsOf<E extends EffectName> = { readonly [K in keyof (typeof EFFECTS)[E]['params']]: number };

/**
 * `params` over the effect's defaults, without range checks: what a backend reads. Parameters the
 * effect does not have are dropped.
 */
export function withDefaults<E extends EffectName>(effect: E, params: EffectParams): ParamsOf<E> {
  const specs: Readonly<Record<string, ParamSpec>> = EFFECTS[effect].params;
  const out: Record<string, number> = {};
  for (const [name, spec] of Object.entries(specs)) out[name] = params[name] ?? spec.default;
  return out as ParamsOf<E>;
}

export function isEffectName(name: string): name is EffectName {
  return Object.hasOwn(EFFECTS, name);
}

/** An effect, parameter or iteration count out of range: 422 `unprocessable` (src/errors.ts). */
export { InvalidEffectError };

/**
 * Turns raw parameter strings (a query string, a data-channel message) into the effect's parameters,
 * with defaults. Unknown keys are ignored; present ones must parse and sit in range.
 */
export function resolveParams(effect: EffectName, raw: Readonly<Record<string, unknown>>): EffectParams {
  const specs: Readonly<Record<string, ParamSpec>> = EFFECTS[effect].params;
  const out: Record<string, number> = {};
  for (const [name, spec] of Object.entries(specs)) {
    const value = raw[name];
    if (value === undefined || value === '') {
      out[name] = spec.default;
      continue;
    }
    const n = typeof value === 'number' ? value : typeof value === 'string' ? Number(value) : Number.NaN;
    if (!Number.isFinite(n)) throw new InvalidEffectError(`${effect}: ${name} must be a number, got ${JSON.stringify(value)}`);
    if (spec.integer && !Number.isInteger(n)) throw new InvalidEffectError(`${effect}: ${name} must be an integer, got ${n}`);
    if (n < spec.min || n > spec.max) {
      throw new InvalidEffectError(`${effect}: ${name} must be within [${spec.min}, ${spec.max}], got ${n}`);
    }
    out[name] = n;
  }
  return out;
}

/** What one unit of work asks of a backend. */
export interface EffectJob {
  readonly effect: EffectName;
  readonly params: EffectParams;
  readonly iters: number;
}
