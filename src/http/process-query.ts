import { EFFECTS, type EffectJob } from '../effects/catalog.ts';
import { parseEffectName, parseJob, PROCESS_JOB_DEFAULTS } from '../effects/job-parse.ts';
import { badRequest, tooLarge, unprocessable } from '../errors.ts';
import type { FrameLayout, PixelFormat } from '../frames/layout.ts';

export interface ProcessLimits {
  readonly maxPixels: number;
  readonly maxIters: number;
}

export interface ProcessQuery {
  /** Frame size asked for with `pixels=`, if any (uploaded images bring their own). */
  readonly size: { readonly width: number; readonly height: number } | undefined;
  readonly format: PixelFormat;
  readonly job: EffectJob;
}

export const DEFAULT_SIZE = { width: 1280, height: 720 } as const;

function single(query: Readonly<Record<string, unknown>>, key: string): string | undefined {
  const value = query[key];
  if (value === undefined) return undefined;
  if (typeof value !== 'string') throw badRequest(`${key} must be given once`);
  return value;
}

export function parseSize(raw: string, limits: ProcessLimits): { width: number; height: number } {
  const m = /^(\d{1,9})[xX](\d{1,9})$/.exec(raw);
  if (!m) throw badRequest(`pixels must look like 1280x720, got ${JSON.stringify(raw.slice(0, 40))}`);
  const width = Number(m[1]);
  const height = Number(m[2]);
  if (width < 1 || height < 1) throw unprocessable(`pixels must be at least 1x1, got ${width}x${height}`);
  if (width * height > limits.maxPixels) {
    throw tooLarge(`${width}x${height} is ${width * height} pixels; the limit is ${limits.maxPixels} (MAX_PIXELS)`);
  }
  return { width, height };
}

/**
 * Parses the query of `/process` (pixels, iters, effect, format and the effect's own parameters)
 * into a job. Malformed values are 400, well-formed but out of range 422, frames over MAX_PIXELS 413.
 */
export function parseProcessQuery(query: Readonly<Record<string, unknown>>, limits: ProcessLimits): ProcessQuery {
  const pixels = single(query, 'pixels');
  const size = pixels === undefined || pixels === '' ? undefined : parseSize(pixels, limits);

  const iters = single(query, 'iters');
  if (iters !== undefined && iters !== '' && !/^\d{1,9}$/.test(iters)) {
    throw badRequest(`iters must be a whole number, got ${JSON.stringify(iters.slice(0, 40))}`);
  }
  const effectRaw = single(query, 'effect');
  const formatRaw = single(query, 'format') || 'rgba';
  // Effect, parameters and iters out of range throw InvalidEffectError (422).
  const effect = parseEffectName(effectRaw, PROCESS_JOB_DEFAULTS.effect);
  if (formatRaw !== 'rgba' && formatRaw !== 'i420') throw unprocessable(`format must be rgba or i420, got ${JSON.stringify(formatRaw.slice(0, 40))}`);
  const raw: Record<string, string | undefined> = { effect, iters };
  for (const name of Object.keys(EFFECTS[effect].params)) raw[name] = single(query, name);
  const job = parseJob(raw, { maxIters: limits.maxIters, defaults: PROCESS_JOB_DEFAULTS });
  return { size, format: formatRaw, job };
}

/** The frame of a request without a body: `pixels=` or the default size, within MAX_PIXELS. */
export function layoutOf(query: ProcessQuery, limits: ProcessLimits): FrameLayout {
  const size = query.size ?? parseSize(`${DEFAULT_SIZE.width}x${DEFAULT_SIZE.height}`, limits);
  return { format: query.format, width: size.width, height: size.height };
}

