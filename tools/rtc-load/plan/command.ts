import type { CommandSpec, RunEnvironment } from '../command.ts';
import { runHttpLoad } from '../http/run.ts';
import { renderPlanHtml } from './html.ts';
import { parsePlanCommandLine, PLAN_HELP_TEXT, stepsOfRamp, windowOfStage, type PlanRunOptions } from './args.ts';
import { planCapacity } from './capacity.ts';
import { formatPlan, type PlanReport } from './report.ts';

async function runPlan(options: PlanRunOptions, environment: RunEnvironment): Promise<PlanReport> {
  if (options.ramp === undefined) {
    return { mode: 'plan', source: 'saved run', ...planCapacity(options.savedSteps ?? [], options.sloP95Ms, options.targets) };
  }
  const { http, rates, repeats } = options.ramp;
  const report = await runHttpLoad(http, environment);
  const stages = report.stages ?? [];
  const warmUp = stages[1];
  return {
    mode: 'plan',
    source: report.url,
    ...(warmUp && warmUp.requests > 0 ? { warmUp: { ratePerSecond: warmUp.targetRatePerSecond, ...windowOfStage(warmUp) } } : {}),
    ...planCapacity(stepsOfRamp(stages, rates, repeats), options.sloP95Ms, options.targets),
    ...(report.interrupted ? { interrupted: true } : {}),
  };
}

/** `rtc-load plan ...`. */
export const PLAN_COMMAND: CommandSpec<PlanRunOptions, PlanReport> = {
  name: 'rtc-load plan',
  helpText: PLAN_HELP_TEXT,
  parse: parsePlanCommandLine,
  run: runPlan,
  summary: formatPlan,
  html: (plan) => renderPlanHtml(plan),
  hasFailures: (plan) => plan.knee === null,
};
