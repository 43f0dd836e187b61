import { figure, htmlPage, latencyHistogramFigure } from '../report/html-page.ts';
import { formatMs } from '../core/format.ts';
import { type ChartSeries, escapeXml, lineChart } from '../report/svg-chart.ts';
import type { WebRtcReport } from './report.ts';

const COLORS = { p50: '#2b8a3e', p95: '#e67700', p99: '#c92a2a', frames: '#1c7ed6', sent: '#868e96', sessions: '#0b7285' };

/** A self-contained HTML document (inline CSS and SVG only) for one `rtc-load webrtc` run. */
export function renderWebRtcHtmlReport(report: WebRtcReport, generatedAt: Date = new Date()): string {
  const { sessions } = report;
  const body: string[] = [];
  body.push('<h1>rtc-load webrtc report</h1>');
  body.push(
    `<p class="sub">${escapeXml(report.url)}<br>${escapeXml(
      `${sessions.requested} sessions of ${report.resolution} at ${report.targetFps} fps, effect ${report.effect ?? 'default'}; ` +
        `${sessions.established} established, ${sessions.rejected} rejected, ${sessions.failed} failed; ${report.durationSeconds.toFixed(2)} s` +
        (report.interrupted ? '; interrupted' : ''),
    )}</p>`,
  );
  body.push(summaryTables(report));
  body.push('<div class="charts">');
  const mid = (t: number): number => t + 0.5;
  const xMax = Math.max(1, Math.ceil(report.durationSeconds));
  if (report.frameIds) {
    const buckets = report.timeline.filter((p) => p.p50 > 0);
    body.push(
      figure(
        lineChart({
          title: 'Frame round trip over time',
          xLabel: 'time since start (s)',
          leftLabel: 'round trip (ms)',
          series: [
            { name: 'p50', color: COLORS.p50, points: buckets.map((p) => [mid(p.tSeconds), p.p50] as const) },
            { name: 'p95', color: COLORS.p95, points: buckets.map((p) => [mid(p.tSeconds), p.p95] as const) },
            { name: 'p99', color: COLORS.p99, points: buckets.map((p) => [mid(p.tSeconds), p.p99] as const) },
          ],
          xMax,
        }),
        'Per one-second bucket (by receipt time): a frame id handed to libwebrtc until the processed frame with that id is received.',
      ),
    );
  }
  const frameSeries: ChartSeries[] = [
    { name: 'frames back/s', color: COLORS.frames, points: report.timeline.map((p) => [mid(p.tSeconds), p.framesReceived] as const) },
    { name: 'frames sent/s', color: COLORS.sent, dashed: true, points: report.timeline.map((p) => [mid(p.tSeconds), p.framesSent] as const) },
    { name: 'sessions', color: COLORS.sessions, axis: 'right', step: true, points: report.timeline.map((p) => [mid(p.tSeconds), p.sessions] as const) },
  ];
  body.push(
    figure(
      lineChart({ title: 'Frames over time', xLabel: 'time since start (s)', leftLabel: 'frames per second (all sessions)', rightLabel: 'sessions receiving', series: frameSeries, xMax }),
      'Frames sent and returned per second over all sessions; step line: sessions that received frames in that second (right axis).',
    ),
  );
  if (report.frameIds) {
    body.push(
      latencyHistogramFigure(report, {
        title: 'Round-trip histogram',
        xLabel: 'round trip (ms, log scale)',
        yLabel: 'frames',
        color: COLORS.frames,
        caption: 'Returned frames per round-trip bin (eight bins per doubling).',
      }),
    );
  }
  body.push('</div>');
  body.push(sessionsTable(report));
  body.push(`<p class="sub">Generated ${escapeXml(generatedAt.toISOString())} by rtc-load webrtc.</p>`);
  return htmlPage(`rtc-load webrtc report: ${report.url}`, body);
}

function latencyRow(title: string, l: WebRtcReport['latency']): string {
  const values = [l.min, l.mean, l.p50, l.p90, l.p95, l.p99, l.p999, l.max];
  return `<tr><td>${escapeXml(title)}</td>${values.map((v) => `<td>${formatMs(v)}</td>`).join('')}</tr>`;
}

function summaryTables(report: WebRtcReport): string {
  const { frames, fps } = report;
  const errors = Object.entries(report.errors).map(([message, n]) => `${message}: ${n}`);
  const deletes = Object.entries(report.deletes).map(([status, n]) => `${status}: ${n}`);
  return [
    '<table>',
    `<tr><th>ms</th>${['min', 'mean', 'p50', 'p90', 'p95', 'p99', 'p99.9', 'max'].map((n) => `<th>${n}</th>`).join('')}</tr>`,
    report.frameIds ? latencyRow('frame round trip', report.latency) : '<tr><td>frame round trip</td><td colspan="8">no frame id read back (the effect wipes the code)</td></tr>',
    latencyRow('setup (offer → first frame)', report.setupMs),
    '</table>',
    '<table>',
    `<tr><th>returned fps</th><td>mean ${fps.mean.toFixed(1)}, min ${fps.min.toFixed(1)}, max ${fps.max.toFixed(1)} (sent at ${fps.target})</td></tr>`,
    `<tr><th>frames</th><td>sent ${frames.sent}, received ${frames.received}, with id ${frames.withId}, lost ${frames.lost}</td></tr>`,
    `<tr><th>WHIP errors</th><td>${escapeXml(errors.join(', ') || 'none')}</td></tr>`,
    `<tr><th>DELETE</th><td>${escapeXml(deletes.join(', ') || 'none')}</td></tr>`,
    '</table>',
  ].join('\n');
}

function sessionsTable(report: WebRtcReport): string {
  const cell = (v: number | string | undefined): string => `<td>${v === undefined ? '–' : escapeXml(typeof v === 'number' ? formatMs(v) : v)}</td>`;
  const rows = report.perSession.map(
    (s) =>
      `<tr><td>${s.index + 1}</td>${cell(s.status)}${cell(s.setupMs)}<td>${s.fps.toFixed(1)}</td><td>${s.sent}</td><td>${s.received}</td>` +
      `<td>${s.lost}</td>${cell(s.roundTripP50)}${cell(s.roundTripP99)}${cell(s.returnedSize ?? s.error)}</tr>`,
  );
  return [
    '<table>',
    '<tr><th>session</th><th>status</th><th>setup (ms)</th><th>fps</th><th>sent</th><th>received</th><th>lost</th><th>rt p50 (ms)</th><th>rt p99 (ms)</th><th>size / error</th></tr>',
    ...rows,
    '</table>',
  ].join('\n');
}

