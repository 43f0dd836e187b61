/**
 * The one check of a job before any backend runs it (WASM, CUDA): frame size and format, iteration
 * count and the limits of the kernels on each effect's parameters. Both backends refuse the same
 * jobs with the same RangeError messages. Request parsing (catalog ranges, MAX_ITERS) happens
 * earlier, at the surfaces; this guards the kernels themselves.
 */
import { frameBytes, type FrameLayout } from '../frames/layout.ts';
import { EFFECTS, isEffectName, isSegmentationEffect, withDefaults, type EffectJob, type EffectName, type EffectParams, type FilterEffectName, type ParamsOf } from './catalog.ts';

/** Largest pixelate block the kernels hold (WASM: 16-bit column sums, 257 * 255 < 65536). */
export const MAX_BLOCK = 256;
/** Largest frame a kernel addresses with 32-bit signed offsets. */
export const MAX_FRAME_BYTES = 0x7fffffff;

/** Throws a RangeError when the kernels cannot take these parameters. */
type ParamCheck<E extends EffectName> = (params: ParamsOf<E>) => void;

const none = (): void => {};

/** The kernels' own limits per effect; a new effect adds its line here (the compiler asks for it). */
const PARAM_CHECKS = {
  blur: none,
  gaussian: ({ sigma }) => {
    const max = EFFECTS.gaussian.params.sigma.max;
    if (!(sigma > 0 && sigma <= max)) throw new RangeError(`gaussian: sigma must be in (0, ${max}], got ${sigma}`);
  },
  pixelate: ({ block }) => {
    if (!(Number.isInteger(block) && block >= 1 && block <= MAX_BLOCK)) {
      throw new RangeError(`pixelate: block must be an integer in [1, ${MAX_BLOCK}], got ${block}`);
    }
  },
  grayscale: none,
  edge: none,
  sharpen: none,
  invert: none,
  'background-blur': ({ strength }) => {
    // The quarter-grid Gaussian (src/segmentation/background.ts) takes sigma = strength / 4 <= 32.
    if (!(strength > 0 && strength <= 128)) throw new RangeError(`background-blur: strength must be in (0, 128], got ${strength}`);
  },
  'background-replace': ({ color }) => {
    if (!(Number.isInteger(color) && color >= 0 && color <= 0xffffff)) throw new RangeError(`background-replace: color must be 0xRRGGBB, got ${color}`);
  },
} satisfies { readonly [E in EffectName]: ParamCheck<E> };

/** Checks the frame of a job: sizes, format and byte count. */
export function checkLayout(layout: FrameLayout): number {
  const { width, height, format } = layout;
  if (!Number.isSafeInteger(width) || !Number.isSafeInteger(height) || width < 1 || height < 1) {
    throw new RangeError(`invalid frame size ${width}x${height}`);
  }
  if (format !== 'rgba' && format !== 'i420') throw new RangeError(`unknown pixel format ${String(format)}`);
  const bytes = frameBytes(layout);
  if (bytes > MAX_FRAME_BYTES) throw new RangeError(`frame of ${width}x${height} is too large`);
  return bytes;
}

/**
 * Checks a job for the kernels and returns its parameters with the effect's defaults filled in.
 * Throws a RangeError naming the problem.
 */
export function checkJob(job: EffectJob): EffectParams {
  if (!isEffectName(job.effect)) throw new RangeError(`unknown effect ${String(job.effect)}`);
  if (!Number.isSafeInteger(job.iters) || job.iters < 0) throw new RangeError(`iters must be an integer >= 0, got ${job.iters}`);
  const params = withDefaults(job.effect, job.params);
  (PARAM_CHECKS[job.effect] as ParamCheck<EffectName>)(params as never);
  return params;
}

/**
 * checkJob for the filter backends (WASM, CUDA, the reference): a segmentation effect is refused,
 * it needs the model and the session's state (src/segmentation/ runs it).
 */
export function checkFilterJob(job: EffectJob): { readonly effect: FilterEffectName; readonly params: EffectParams } {
  const params = checkJob(job);
  if (isSegmentationEffect(job.effect)) throw new RangeError(`${job.effect} is a segmentation effect: src/segmentation/ runs it, not the filter kernels`);
  return { effect: job.effect, params };
}
