import type { LoadReport } from './report.ts';
import { clientsText } from './summary.ts';
import { figure, htmlPage, latencyHistogramFigure } from '../report/html-page.ts';
import { percentText } from '../core/autoscaler.ts';
import { formatMs } from '../core/format.ts';
import type { LatencySummaryMs } from '../core/latency.ts';
import { type ChartSeries, escapeXml, lineChart } from '../report/svg-chart.ts';

const COLORS = {
  p50: '#2b8a3e',
  p95: '#e67700',
  p99: '#c92a2a',
  throughput: '#1c7ed6',
  errors: '#868e96',
  server: '#7048e8',
  replicas: '#0b7285',
  offered: '#1c7ed6',
  served: '#2b8a3e',
  refused: '#c92a2a',
  throttled: '#e67700',
};

/** A self-contained HTML document (inline CSS and SVG only) for one run. */
export function renderHtmlReport(report: LoadReport, generatedAt: Date = new Date()): string {
  const body: string[] = [];
  body.push(`<h1>rtc-load report</h1>`);
  body.push(`<p class="sub">${escapeXml(report.method)} ${escapeXml(report.url)}<br>${escapeXml(describeRun(report))}</p>`);
  body.push(summaryTable(report));
  body.push('<div class="charts">');
  body.push(figure(latencyChart(report), latencyCaption(report)));
  body.push(figure(outcomesChart(report), outcomesCaption(report)));
  if (report.autoscaler && report.autoscaler.points.length > 0) body.push(figure(autoscalerChart(report), autoscalerCaption(report)));
  body.push(
    latencyHistogramFigure(report, {
      title: 'Latency histogram',
      xLabel: 'latency (ms, log scale)',
      yLabel: 'served responses',
      color: COLORS.throughput,
      caption: 'Served (2xx) responses per latency bin (eight bins per doubling).',
    }),
  );
  body.push('</div>');
  if (report.stages) body.push(stagesTable(report));
  body.push(`<p class="sub">Generated ${escapeXml(generatedAt.toISOString())} by rtc-load.</p>`);
  return htmlPage(`rtc-load report: ${report.url}`, body);
}

function describeRun(report: LoadReport): string {
  const shape =
    report.mode === 'closed'
      ? `closed loop, concurrency ${report.concurrency ?? 0}`
      : report.stages
        ? `open loop, ${report.stages.length} stages`
        : `open loop, ${report.targetRatePerSecond ?? 0} req/s`;
  return (
    `${shape}, ${clientsText(report.clients)}; ${report.requests} requests in ${report.durationSeconds.toFixed(2)} s ` +
    `(${report.throughputPerSecond.toFixed(1)} req/s)${report.interrupted ? '; interrupted' : ''}`
  );
}

function latencyCells(latency: LatencySummaryMs): string {
  const values = [latency.min, latency.mean, latency.p50, latency.p90, latency.p95, latency.p99, latency.p999, latency.max];
  return values.map((v) => `<td>${formatMs(v)}</td>`).join('');
}

function summaryTable(report: LoadReport): string {
  const names = ['min', 'mean', 'p50', 'p90', 'p95', 'p99', 'p99.9', 'max'];
  const statuses = Object.entries(report.statusCounts).map(([code, count]) => `${code}: ${count}`);
  const errors = Object.entries(report.errors).map(([cause, count]) => `${cause}: ${count}`);
  const errorCount = report.requests - report.responses;
  const perSecond = (count: number): string => (report.durationSeconds > 0 ? count / report.durationSeconds : 0).toFixed(1);
  return [
    '<table>',
    '<tr><th>outcome</th><th>offered</th><th>served</th><th>refused</th><th>other</th><th>errors</th><th>throttled</th></tr>',
    `<tr><td>total</td>${[report.offered, report.served, report.refused, report.otherResponses, errorCount, report.throttled].map((n) => `<td>${n}</td>`).join('')}</tr>`,
    `<tr><td>per second</td>${[report.offered, report.served, report.refused, report.otherResponses, errorCount, report.throttled].map((n) => `<td>${perSecond(n)}</td>`).join('')}</tr>`,
    `<tr><td>refused</td><td colspan="6">${percentText(report.refusalRatio)} of the answers; ${report.connectionsOpened} connections opened</td></tr>`,
    '</table>',
    '<table>',
    `<tr><th>latency (ms)</th>${names.map((n) => `<th>${n}</th>`).join('')}</tr>`,
    `<tr><td>served</td>${latencyCells(report.latency)}</tr>`,
    ...(report.refused > 0 ? [`<tr><td>refused</td>${latencyCells(report.refusalLatency)}</tr>`] : []),
    '</table>',
    '<table>',
    `<tr><th>status codes</th><td>${escapeXml(statuses.join(', ') || 'none')}</td></tr>`,
    `<tr><th>errors</th><td>${escapeXml(errors.join(', ') || 'none')}</td></tr>`,
    '</table>',
  ].join('\n');
}

function latencyChart(report: LoadReport): string {
  const buckets = report.timeline.filter((point) => point.served > 0);
  const mid = (t: number): number => t + 0.5;
  const series: ChartSeries[] = [
    { name: 'p50', color: COLORS.p50, points: buckets.map((p) => [mid(p.tSeconds), p.p50] as const) },
    { name: 'p95', color: COLORS.p95, points: buckets.map((p) => [mid(p.tSeconds), p.p95] as const) },
    { name: 'p99', color: COLORS.p99, points: buckets.map((p) => [mid(p.tSeconds), p.p99] as const) },
  ];
  const samples = report.prometheus?.samples ?? [];
  const serverP95 = samples.filter((s) => s.p95Ms !== null).map((s) => [s.tSeconds, s.p95Ms ?? 0] as const);
  const replicas = samples.filter((s) => s.replicas !== null).map((s) => [s.tSeconds, s.replicas ?? 0] as const);
  if (serverP95.length > 0) series.push({ name: 'server p95 (Prometheus)', color: COLORS.server, points: serverP95, dashed: true });
  if (replicas.length > 0) series.push({ name: 'replicas', color: COLORS.replicas, points: replicas, axis: 'right', step: true });
  return lineChart({
    title: replicas.length > 0 ? 'Latency and replicas over time' : 'Latency over time',
    xLabel: 'time since start (s)',
    leftLabel: 'latency (ms)',
    ...(replicas.length > 0 ? { rightLabel: 'replicas' } : {}),
    series,
    xMax: Math.max(1, Math.ceil(report.durationSeconds)),
  });
}

function latencyCaption(report: LoadReport): string {
  const origin = report.mode === 'open' ? 'from each request’s intended send time' : 'from each request’s send time';
  const prometheus = report.prometheus
    ? ` Dashed: server-side p95 from Prometheus; step line: replicas (right axis), sampled ${report.prometheus.samples.length} times.`
    : '';
  return `Served (2xx) answers per one-second bucket, measured ${origin}; refusals are left out (their latency is in the table).${prometheus}`;
}

function outcomesChart(report: LoadReport): string {
  const mid = (t: number): number => t + 0.5;
  const line = (name: string, color: string, value: (p: LoadReport['timeline'][number]) => number, dashed = false): ChartSeries => ({
    name,
    color,
    points: report.timeline.map((p) => [mid(p.tSeconds), value(p)] as const),
    ...(dashed ? { dashed } : {}),
  });
  const series: ChartSeries[] = [
    line('offered/s', COLORS.offered, (p) => p.offeredPerSecond),
    line('served/s', COLORS.served, (p) => p.servedPerSecond),
    line('refused/s', COLORS.refused, (p) => p.refusedPerSecond),
  ];
  if (report.throttled > 0) series.push(line('throttled/s', COLORS.throttled, (p) => p.throttled, true));
  if (report.timeline.some((p) => p.errors > 0)) series.push(line('errors/s', COLORS.errors, (p) => p.errors, true));
  return lineChart({
    title: 'Offered, served and refused per second',
    xLabel: 'time since start (s)',
    leftLabel: 'requests per second',
    series,
    xMax: Math.max(1, Math.ceil(report.durationSeconds)),
  });
}

function outcomesCaption(report: LoadReport): string {
  const throttled = report.throttled > 0 ? '; throttled: rejected by the client itself, never sent' : '';
  return (
    `Offered: requests sent in each second, retries included; served: 2xx answers; refused: 503 and 429 answers ` +
    `(by the second they arrived); errors: transport failures${throttled}. Overall ${percentText(report.refusalRatio)} of the answers were refusals.`
  );
}

function stagesTable(report: LoadReport): string {
  const rows = (report.stages ?? []).map(
    (s) =>
      `<tr><td>${s.index + 1}</td><td>${s.startSeconds}–${s.startSeconds + s.durationSeconds}</td>` +
      `<td>${s.fromRatePerSecond} → ${s.targetRatePerSecond}</td><td>${s.requests}</td>` +
      `<td>${s.goodputPerSecond.toFixed(1)}</td><td>${percentText(s.refusalRatio)}</td>` +
      `<td>${formatMs(s.p50)}</td><td>${formatMs(s.p95)}</td><td>${formatMs(s.p99)}</td></tr>`,
  );
  return [
    '<table>',
    '<tr><th>stage</th><th>time (s)</th><th>rate (req/s)</th><th>requests</th><th>served/s</th><th>refused</th><th>p50 (ms)</th><th>p95 (ms)</th><th>p99 (ms)</th></tr>',
    ...rows,
    '</table>',
  ].join('\n');
}


function autoscalerChart(report: LoadReport): string {
  const { points, targetP95Ms } = report.autoscaler ?? { points: [], targetP95Ms: 0 };
  return lineChart({
    title: 'What the autoscaler sees',
    xLabel: 'time since start (s)',
    leftLabel: 'p95 (ms)',
    rightLabel: 'replicas',
    series: [
      { name: 'served p95 the HPA reads', color: COLORS.p95, points: points.flatMap((p) => (p.p95Ms === null ? [] : [[p.tSeconds, p.p95Ms] as const])) },
      { name: `target ${targetP95Ms} ms`, color: COLORS.errors, points: points.map((p) => [p.tSeconds, targetP95Ms] as const), dashed: true },
      { name: 'replicas', color: COLORS.replicas, points: points.map((p) => [p.tSeconds, p.replicas] as const), axis: 'right', step: true },
      { name: 'HPA asks for', color: COLORS.server, points: points.map((p) => [p.tSeconds, p.desiredReplicas] as const), axis: 'right', step: true, dashed: true },
    ],
    xMax: Math.max(1, Math.ceil(report.durationSeconds)),
  });
}

function autoscalerCaption(report: LoadReport): string {
  const autoscaler = report.autoscaler;
  if (!autoscaler) return '';
  const source = autoscaler.points.some((p) => p.source === 'prometheus')
    ? 'replicas, the server’s served p95 and refusal ratio from Prometheus'
    : `one replica and this run’s own served p95 and refusal ratio over the trailing 10 s (no Prometheus)`;
  const peak = Math.max(...autoscaler.points.map((p) => p.desiredReplicas));
  const peakRefused = Math.max(...autoscaler.points.map((p) => p.refusalRatio));
  const tolerance = Math.round(autoscaler.tolerance * 100);
  return (
    `desired = max(ceil(replicas × served p95 / ${autoscaler.targetP95Ms} ms), ceil(replicas × offered / served)), each unchanged within ±${tolerance}%, ` +
    `at most max(2 × replicas, replicas + 4) a step; ${source}. Refused at most ${percentText(peakRefused)}; peak ask: ${peak} replica${peak === 1 ? '' : 's'}.`
  );
}
