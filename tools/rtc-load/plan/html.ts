import { percentText } from '../core/autoscaler.ts';
import { formatMs } from '../core/format.ts';
import type { PlanReport } from './report.ts';
import { htmlPage } from '../report/html-page.ts';
import { escapeXml, lineChart, type ChartSeries } from '../report/svg-chart.ts';

/** The planner's report: served p95 and goodput against the offered rate, the SLO line and the knee. */
export function renderPlanHtml(plan: PlanReport, generatedAt: Date = new Date()): string {
  const body: string[] = [];
  const share = Math.round(plan.minGoodputShare * 100);
  body.push('<h1>rtc-load capacity plan</h1>');
  body.push(`<p class="sub">${escapeXml(plan.source)}<br>SLO: served p95 ${plan.sloP95Ms} ms and at least ${share}% of the offered rate served</p>`);
  const maxRate = Math.max(1, ...plan.steps.map((s) => s.ratePerSecond));
  const knee = plan.knee;
  const series: ChartSeries[] = [
    { name: 'served p95 (median of repeats)', color: '#e67700', points: plan.steps.map((s) => [s.ratePerSecond, s.p95Ms] as const) },
    { name: `SLO ${plan.sloP95Ms} ms`, color: '#868e96', points: [[0, plan.sloP95Ms], [maxRate, plan.sloP95Ms]], dashed: true },
    { name: 'served/s', color: '#2b8a3e', points: plan.steps.map((s) => [s.ratePerSecond, s.goodputPerSecond] as const), axis: 'right' },
    { name: 'offered/s', color: '#1c7ed6', points: [[0, 0], [maxRate, maxRate]], axis: 'right', dashed: true },
  ];
  if (knee) {
    const label = plan.kneeIsLowerBound ? `no knee up to ${maxRate} req/s` : `knee ${knee.ratePerSecond} req/s`;
    series.push({ name: label, color: '#c92a2a', points: [[knee.ratePerSecond, 0], [knee.ratePerSecond, Math.max(knee.p95Ms, plan.sloP95Ms)]], dashed: true });
  }
  const chart = lineChart({ title: 'Served p95 and goodput against load (one pod)', xLabel: 'offered load (req/s)', leftLabel: 'p95 (ms)', rightLabel: 'requests per second', series, xMax: maxRate });
  body.push(
    `<div class="charts"><figure>${chart}<figcaption>Each point is one step, held ${plan.steps[0]?.repeats.length ?? 1} times at a constant offered rate ` +
      `(open loop, latency from the intended send time); its figures are the medians of the holds. A step breaches when its served p95 is over the SLO ` +
      `or it serves less than ${share}% of the offered rate; a breach counts only when the next step breaches too. The knee is the last step within ` +
      `before the first counted breach.</figcaption></figure></div>`,
  );
  const rows = plan.steps.map((s, i) => {
    // By rate, not identity: a report read back from JSON holds copies.
    const verdict = s.ratePerSecond === knee?.ratePerSecond ? (plan.kneeIsLowerBound ? 'within; the knee is above' : 'knee') : plan.verdicts[i] === 'over' ? 'over' : plan.verdicts[i] === 'noise' ? 'noise (next step within)' : '';
    return (
      `<tr><td>${s.ratePerSecond.toFixed(1)}</td><td>${s.throughputPerSecond.toFixed(1)}</td><td>${s.goodputPerSecond.toFixed(1)}</td>` +
      `<td>${percentText(s.refusalRatio)}</td><td>${formatMs(s.p95Ms)}</td><td>${s.repeats.map((w) => formatMs(w.p95Ms)).join(' ')}</td><td>${verdict}</td></tr>`
    );
  });
  body.push(
    '<table><tr><th>rate (req/s)</th><th>sent/s</th><th>served/s</th><th>refused</th><th>p95 (ms)</th><th>repeats p95 (ms)</th><th></th></tr>' +
      `${rows.join('')}</table>`,
  );
  if (plan.warmUp) body.push(`<p class="sub">Warm-up at ${plan.warmUp.ratePerSecond} req/s, not counted: p95 ${formatMs(plan.warmUp.p95Ms)} ms.</p>`);
  body.push(facts(plan).map((f) => `<p>${f}</p>`).join(''));
  body.push(`<p class="sub">Generated ${escapeXml(generatedAt.toISOString())} by rtc-load plan.</p>`);
  return htmlPage('rtc-load capacity plan', body);
}

function facts(plan: PlanReport): string[] {
  const knee = plan.knee;
  if (!knee) return ['No step met the SLO.'];
  const top = plan.steps.at(-1)?.ratePerSecond ?? knee.ratePerSecond;
  const capacity = plan.kneeIsLowerBound
    ? `No knee up to ${top} req/s: the knee is above the ramp. One pod serves <b>at least ${plan.podCapacityRps} req/s</b> within the SLO, at least ${plan.podCapacitySessions} sessions.`
    : `One pod: <b>${plan.podCapacityRps} req/s</b> within the SLO, about ${plan.podCapacitySessions} sessions.`;
  const r = plan.recommendation;
  if (!r) return [capacity];
  return [
    capacity,
    r.podsAreUpperBound
      ? `Needed: <b>at most ${r.pods} pods</b>, ${r.gpus} GPUs (an upper bound: a pod does more than the ramp reached).`
      : `Needed: <b>${r.pods} pods</b>, <b>${r.gpus} GPUs</b> (${r.minimumPods} pods at the knee exactly).`,
    `Autoscaler: KEDA p95 threshold ${r.autoscaler.p95ThresholdSeconds}, replicas ${r.autoscaler.minReplicaCount}–${r.autoscaler.maxReplicaCount}; RPS target ${r.autoscaler.targetRpsPerPod} req/s per pod${r.podsAreUpperBound ? ' (or more)' : ''}.`,
  ];
}
