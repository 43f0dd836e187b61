import { percentText } from '../core/autoscaler.ts';
import { formatMs } from '../core/format.ts';
import type { CapacityPlan, PlanWindow, StepVerdict } from './capacity.ts';

/** What `rtc-load plan` found: the capacity plan, and where its steps came from. */
export interface PlanReport extends CapacityPlan {
  mode: 'plan';
  /** The URL ramped, or the file read. */
  source: string;
  /** The warm-up hold at the first rate: measured, never counted. */
  warmUp?: PlanWindow & { ratePerSecond: number };
  interrupted?: boolean;
}

const MARKS: Readonly<Record<StepVerdict, string>> = { within: '', over: 'over', noise: 'noise (next step within)' };

/** Why a step is over the limits: the SLO, the goodput, or both. */
function markOf(plan: CapacityPlan, index: number): string {
  const step = plan.steps[index];
  const verdict = plan.verdicts[index] ?? 'within';
  // By rate, not identity: a report read back from JSON holds copies.
  if (step !== undefined && step.ratePerSecond === plan.knee?.ratePerSecond) return plan.kneeIsLowerBound ? '<- within; the knee is above the ramp' : '<- knee';
  if (!step || verdict === 'within') return '';
  const reasons = [
    ...(step.p95Ms > plan.sloP95Ms ? ['p95 over SLO'] : []),
    ...(step.goodputPerSecond < plan.minGoodputShare * step.ratePerSecond ? [`served < ${Math.round(plan.minGoodputShare * 100)}%`] : []),
  ];
  return `${MARKS[verdict]}: ${reasons.join(', ')}`;
}

export function formatPlan(plan: PlanReport): string {
  const lines = [`rtc-load plan  ${plan.source}`, `  SLO: served p95 ${plan.sloP95Ms} ms and at least ${Math.round(plan.minGoodputShare * 100)}% of the offered rate served`];
  if (plan.warmUp) lines.push(`  warm-up at ${plan.warmUp.ratePerSecond} req/s (not counted): p95 ${formatMs(plan.warmUp.p95Ms)} ms`);
  lines.push('', 'Step    rate (req/s)  sent/s    served/s  refused   p95 (ms)  repeats p95 (ms)');
  plan.steps.forEach((step, i) => {
    const repeats = step.repeats.map((w) => formatMs(w.p95Ms)).join(' ');
    const mark = markOf(plan, i);
    lines.push(
      `${String(i + 1).padEnd(8)}${step.ratePerSecond.toFixed(1).padEnd(14)}${step.throughputPerSecond.toFixed(1).padEnd(10)}` +
        `${step.goodputPerSecond.toFixed(1).padEnd(10)}${percentText(step.refusalRatio).padEnd(10)}${formatMs(step.p95Ms).padEnd(10)}${repeats}` +
        (mark === '' ? '' : `  ${mark}`),
    );
  });
  lines.push('  (each figure the median of the step\'s repeats; a breach counts only when the next step breaches too)', '');
  if (!plan.knee) {
    lines.push('No step met the SLO: start the ramp lower (--max-rate) or relax --slo-p95.');
    return `${lines.join('\n')}\n`;
  }
  const top = plan.steps.at(-1)?.ratePerSecond ?? plan.knee.ratePerSecond;
  if (plan.kneeIsLowerBound) {
    lines.push(
      `No knee up to ${top} req/s: the knee is above the ramp. One pod serves at least ${plan.podCapacityRps} req/s within the SLO` +
        `, at least ${plan.podCapacitySessions} sessions; raise --max-rate to find it.`,
    );
  } else {
    lines.push(`One pod: ${plan.podCapacityRps} req/s within the SLO (the knee), about ${plan.podCapacitySessions} sessions (each ${plan.sessionRps} req/s of work).`);
  }
  const r = plan.recommendation;
  if (r) {
    if (r.podsAreUpperBound) {
      lines.push(`Needed: at most ${r.pods} pods (${r.minimumPods} at ${plan.podCapacityRps} req/s each exactly), ${r.gpus} GPUs: an upper bound, a pod does more`);
    } else {
      lines.push(`Needed: ${r.pods} pods (${r.minimumPods} at the knee exactly), ${r.gpus} GPUs`);
    }
    lines.push(
      `Autoscaler: KEDA p95 threshold "${r.autoscaler.p95ThresholdSeconds}", minReplicaCount ${r.autoscaler.minReplicaCount}, maxReplicaCount ${r.autoscaler.maxReplicaCount}` +
        `; an RPS-based HPA would target ${r.autoscaler.targetRpsPerPod} req/s per pod${r.podsAreUpperBound ? ' (or more)' : ''}`,
    );
  } else {
    lines.push('Give --target-rps or --target-sessions for the pods, GPUs and autoscaler settings they need.');
  }
  return `${lines.join('\n')}\n`;
}
