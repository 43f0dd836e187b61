import { EFFECTS, InvalidEffectError, isEffectName, resolveParams, type EffectJob } from '../effects/catalog.ts';

/** One pass per frame unless asked otherwise; `iters=0` sends the decoded frame back untouched. */
export const DEFAULT_FRAME_ITERS = 1;
export const DEFAULT_SESSION_EFFECT = 'blur';

/**
 * The effect of a session from a WHIP query string (`effect=gaussian&sigma=4&iters=1`) or from a
 * change request (`{"effect": "gaussian", "params": {"sigma": 4}}`), over the current job if any:
 * a change that names no effect keeps the current one. Throws InvalidEffectError (422).
 */
export function parseJob(raw: Readonly<Record<string, unknown>>, maxIters: number, current?: EffectJob): EffectJob {
  const effect = raw.effect === undefined || raw.effect === '' ? (current?.effect ?? DEFAULT_SESSION_EFFECT) : raw.effect;
  if (typeof effect !== 'string' || !isEffectName(effect)) {
    throw new InvalidEffectError(`unknown effect ${JSON.stringify(String(effect).slice(0, 40))}; one of ${Object.keys(EFFECTS).join(', ')}`);
  }
  const nested = raw.params;
  if (nested !== undefined && (typeof nested !== 'object' || nested === null || Array.isArray(nested))) {
    throw new InvalidEffectError('params must be an object');
  }
  // A change of iters alone keeps the parameters in force.
  const keepParams = current !== undefined && raw.effect === undefined && nested === undefined;
  const params = keepParams ? current.params : resolveParams(effect, (nested ?? raw) as Readonly<Record<string, unknown>>);

  let iters = current?.iters ?? DEFAULT_FRAME_ITERS;
  if (raw.iters !== undefined && raw.iters !== '') {
    const n = typeof raw.iters === 'number' ? raw.iters : typeof raw.iters === 'string' ? Number(raw.iters) : Number.NaN;
    if (!Number.isInteger(n) || n < 0 || n > maxIters) throw new InvalidEffectError(`iters must be an integer within [0, ${maxIters}], got ${JSON.stringify(raw.iters)}`);
    iters = n;
  }
  return { effect, params, iters };
}
