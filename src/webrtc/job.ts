import type { EffectJob } from '../effects/catalog.ts';
import { parseJob as parseEffectJob, SESSION_JOB_DEFAULTS } from '../effects/job-parse.ts';

/**
 * The effect of a session from a WHIP query string (`effect=gaussian&sigma=4&iters=1`) or from a
 * change request (`{"effect": "gaussian", "params": {"sigma": 4}}`), over the current job if any:
 * a change that names no effect keeps the current one. Throws InvalidEffectError (422).
 */
export function parseJob(raw: Readonly<Record<string, unknown>>, maxIters: number, current?: EffectJob): EffectJob {
  return parseEffectJob(raw, { maxIters, defaults: SESSION_JOB_DEFAULTS, current });
}
