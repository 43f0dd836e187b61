/**
 * The one parser of a job (effect, its parameters, iterations) for every surface: `/process` query
 * strings and WebRTC (WHIP query strings, data-channel change requests). Each surface passes its
 * own defaults; all of them throw InvalidEffectError (422) naming the problem.
 */
import { EFFECTS, InvalidEffectError, isEffectName, resolveParams, type EffectJob, type EffectName } from './catalog.ts';

export interface JobDefaults {
  readonly effect: EffectName;
  readonly iters: number;
}

/** `/process`: five passes of blur, the benchmark's work unit. */
export const PROCESS_JOB_DEFAULTS = { effect: 'blur', iters: 5 } as const satisfies JobDefaults;
/** WebRTC: one pass per frame unless asked otherwise; `iters=0` sends the decoded frame back untouched. */
export const SESSION_JOB_DEFAULTS = { effect: 'blur', iters: 1 } as const satisfies JobDefaults;

export interface ParseJobOptions {
  readonly maxIters: number;
  readonly defaults: JobDefaults;
  /** The job in force: a change that names no effect keeps its effect, iters and (if none are given) parameters. */
  readonly current?: EffectJob | undefined;
}

export function parseEffectName(raw: unknown, fallback: EffectName): EffectName {
  const effect = raw === undefined || raw === '' ? fallback : raw;
  if (typeof effect !== 'string' || !isEffectName(effect)) {
    throw new InvalidEffectError(`unknown effect ${JSON.stringify(String(effect).slice(0, 40))}; one of ${Object.keys(EFFECTS).join(', ')}`);
  }
  return effect;
}

/**
 * Parses `{effect?, params?, iters?, ...}`: the effect's parameters come from `params` when it is
 * given, else from the top level (a query string).
 */
export function parseJob(raw: Readonly<Record<string, unknown>>, options: ParseJobOptions): EffectJob {
  const { current, maxIters } = options;
  const effect = parseEffectName(raw.effect, current?.effect ?? options.defaults.effect);
  const nested = raw.params;
  if (nested !== undefined && (typeof nested !== 'object' || nested === null || Array.isArray(nested))) {
    throw new InvalidEffectError('params must be an object');
  }
  // A change of iters alone keeps the parameters in force.
  const keepParams = current !== undefined && raw.effect === undefined && nested === undefined;
  const params = keepParams ? current.params : resolveParams(effect, (nested ?? raw) as Readonly<Record<string, unknown>>);

  let iters = current?.iters ?? options.defaults.iters;
  if (raw.iters !== undefined && raw.iters !== '') {
    const n = typeof raw.iters === 'number' ? raw.iters : typeof raw.iters === 'string' ? Number(raw.iters) : Number.NaN;
    if (!Number.isInteger(n) || n < 0 || n > maxIters) throw new InvalidEffectError(`iters must be an integer within [0, ${maxIters}], got ${JSON.stringify(raw.iters)}`);
    iters = n;
  }
  // Defaults obey the limits too: a deployment may set MAX_ITERS below the default.
  if (iters > maxIters) throw new InvalidEffectError(`iters must be at most ${maxIters} (MAX_ITERS), got ${iters}`);
  return { effect, params, iters };
}
