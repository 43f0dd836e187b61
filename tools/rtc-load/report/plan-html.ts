import { formatMs } from '../core/format.ts';
import type { PlanReport } from '../plan/command.ts';
import { htmlPage } from './html-page.ts';
import { escapeXml, lineChart } from './svg-chart.ts';

/** The planner's report: p95 against the offered rate, the SLO line and the knee. */
export function renderPlanHtml(plan: PlanReport, generatedAt: Date = new Date()): string {
  const body: string[] = [];
  body.push('<h1>rtc-load capacity plan</h1>');
  body.push(`<p class="sub">${escapeXml(plan.source)}<br>SLO p95 ${plan.sloP95Ms} ms</p>`);
  const maxRate = Math.max(1, ...plan.steps.map((s) => s.ratePerSecond));
  const knee = plan.knee;
  const chart = lineChart({
    title: 'p95 latency against load (one pod)',
    xLabel: 'offered load (req/s)',
    leftLabel: 'p95 (ms)',
    series: [
      { name: 'p95', color: '#e67700', points: plan.steps.map((s) => [s.ratePerSecond, s.p95Ms] as const) },
      { name: `SLO ${plan.sloP95Ms} ms`, color: '#868e96', points: [[0, plan.sloP95Ms], [maxRate, plan.sloP95Ms]], dashed: true },
      ...(knee ? [{ name: `knee ${knee.ratePerSecond} req/s`, color: '#c92a2a', points: [[knee.ratePerSecond, 0], [knee.ratePerSecond, Math.max(knee.p95Ms, plan.sloP95Ms)]] as const, dashed: true }] : []),
    ],
    xMax: maxRate,
  });
  body.push(`<div class="charts"><figure>${chart}<figcaption>Each point is one step held at a constant offered rate (open loop, latency from the intended send time). The knee is the last step under the SLO.</figcaption></figure></div>`);
  const rows = plan.steps.map(
    (s) =>
      `<tr><td>${s.ratePerSecond.toFixed(1)}</td><td>${s.throughputPerSecond.toFixed(1)}</td><td>${formatMs(s.p95Ms)}</td><td>${s === knee ? 'knee' : s.p95Ms > plan.sloP95Ms ? 'over SLO' : ''}</td></tr>`,
  );
  body.push(`<table><tr><th>rate (req/s)</th><th>sent (req/s)</th><th>p95 (ms)</th><th></th></tr>${rows.join('')}</table>`);
  const r = plan.recommendation;
  const facts = [
    knee ? `One pod: <b>${plan.podCapacityRps} req/s</b> within the SLO${plan.kneeIsLowerBound ? ' (at least)' : ''}, about ${plan.podCapacitySessions} sessions.` : 'No step met the SLO.',
    ...(r
      ? [
          `Needed: <b>${r.pods} pods</b>, <b>${r.gpus} GPUs</b> (${r.minimumPods} pods at the knee exactly).`,
          `Autoscaler: KEDA p95 threshold ${r.autoscaler.p95ThresholdSeconds}, replicas ${r.autoscaler.minReplicaCount}–${r.autoscaler.maxReplicaCount}; RPS target ${r.autoscaler.targetRpsPerPod} req/s per pod.`,
        ]
      : []),
  ];
  body.push(facts.map((f) => `<p>${f}</p>`).join(''));
  body.push(`<p class="sub">Generated ${escapeXml(generatedAt.toISOString())} by rtc-load plan.</p>`);
  return htmlPage('rtc-load capacity plan', body);
}
