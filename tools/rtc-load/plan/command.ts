import type { CommandSpec, RunEnvironment } from '../command.ts';
import { formatMs } from '../core/format.ts';
import { runHttpLoad } from '../http/run.ts';
import { renderPlanHtml } from '../report/plan-html.ts';
import { parsePlanCommandLine, PLAN_HELP_TEXT, stepsOfStages, type PlanRunOptions } from './args.ts';
import { planCapacity, type CapacityPlan } from './capacity.ts';

export interface PlanReport extends CapacityPlan {
  mode: 'plan';
  /** The URL ramped, or the file read. */
  source: string;
  interrupted?: boolean;
}

async function runPlan(options: PlanRunOptions, environment: RunEnvironment): Promise<PlanReport> {
  if (options.ramp === undefined) {
    return { mode: 'plan', source: 'saved run', ...planCapacity(options.savedSteps ?? [], options.sloP95Ms, options.targets) };
  }
  const report = await runHttpLoad(options.ramp, environment);
  // The first hold is the warm-up.
  const steps = stepsOfStages(report.stages ?? []).slice(1);
  return {
    mode: 'plan',
    source: report.url,
    ...planCapacity(steps, options.sloP95Ms, options.targets),
    ...(report.interrupted ? { interrupted: true } : {}),
  };
}

export function formatPlan(plan: PlanReport): string {
  const lines = [`rtc-load plan  ${plan.source}`, `  SLO p95 ${plan.sloP95Ms} ms`, '', 'Step    rate (req/s)  sent (req/s)  p95 (ms)'];
  plan.steps.forEach((step, i) => {
    const mark = step === plan.knee ? '  <- knee' : step.p95Ms > plan.sloP95Ms ? '  over SLO' : '';
    lines.push(`${String(i + 1).padEnd(8)}${step.ratePerSecond.toFixed(1).padEnd(14)}${step.throughputPerSecond.toFixed(1).padEnd(14)}${formatMs(step.p95Ms)}${mark}`);
  });
  lines.push('');
  if (!plan.knee) {
    lines.push('No step met the SLO: start the ramp lower (--max-rate) or relax --slo-p95.');
    return `${lines.join('\n')}\n`;
  }
  lines.push(
    `One pod: ${plan.podCapacityRps} req/s within p95 ${plan.sloP95Ms} ms${plan.kneeIsLowerBound ? ' (at least: the ramp ended before the SLO was crossed; raise --max-rate)' : ''}` +
      `, about ${plan.podCapacitySessions} sessions`,
  );
  const r = plan.recommendation;
  if (r) {
    lines.push(`Needed: ${r.pods} pods (${r.minimumPods} at the knee exactly), ${r.gpus} GPUs`);
    lines.push(
      `Autoscaler: KEDA p95 threshold "${r.autoscaler.p95ThresholdSeconds}", minReplicaCount ${r.autoscaler.minReplicaCount}, maxReplicaCount ${r.autoscaler.maxReplicaCount}` +
        `; an RPS-based HPA would target ${r.autoscaler.targetRpsPerPod} req/s per pod`,
    );
  } else {
    lines.push('Give --target-rps or --target-sessions for the pods, GPUs and autoscaler settings they need.');
  }
  return `${lines.join('\n')}\n`;
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
