import type { HistogramBin, LatencySummaryMs } from '../core/latency.ts';
import { escapeXml, logBarChart } from './svg-chart.ts';

// One look for every rtc-load report (HTTP and WebRTC), so two reports can sit side by side.
const STYLE = `
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; margin: 24px auto; max-width: 1600px; padding: 0 16px; color: #212529; }
h1 { font-size: 20px; margin-bottom: 4px; }
.sub { color: #495057; margin-top: 0; word-break: break-all; }
table { border-collapse: collapse; margin: 12px 0 20px; }
th, td { border-bottom: 1px solid #dee2e6; padding: 4px 12px; text-align: right; }
th:first-child, td:first-child { text-align: left; }
.charts { display: flex; flex-wrap: wrap; gap: 16px; }
figure { margin: 0; }
figcaption { color: #495057; font-size: 12px; max-width: 760px; }
svg { border: 1px solid #e9ecef; max-width: 100%; height: auto; }
`;

/** A self-contained HTML document (inline CSS; the body brings its own inline SVG). */
export function htmlPage(title: string, body: readonly string[]): string {
  return [
    '<!DOCTYPE html>',
    '<html lang="en">',
    '<head>',
    '<meta charset="utf-8">',
    '<meta name="viewport" content="width=device-width, initial-scale=1">',
    `<title>${escapeXml(title)}</title>`,
    `<style>${STYLE}</style>`,
    '</head>',
    '<body>',
    ...body,
    '</body>',
    '</html>',
    '',
  ].join('\n');
}

/** A chart with its caption. */
export function figure(svg: string, caption: string): string {
  return `<figure>\n${svg}\n<figcaption>${escapeXml(caption)}</figcaption>\n</figure>`;
}

export interface HistogramFigure {
  readonly title: string;
  readonly xLabel: string;
  /** What is counted (responses, frames). */
  readonly yLabel: string;
  readonly color: string;
  readonly caption: string;
}

/** The latency histogram of a run (log-scale bins) with its p50 and p99 marked. */
export function latencyHistogramFigure(report: { readonly latencyHistogram: readonly HistogramBin[]; readonly latency: LatencySummaryMs }, look: HistogramFigure): string {
  return figure(
    logBarChart({
      title: look.title,
      xLabel: look.xLabel,
      yLabel: look.yLabel,
      color: look.color,
      bars: report.latencyHistogram.map((bin) => ({ from: bin.fromMs, to: bin.toMs, value: bin.count })),
      markers: [
        { label: 'p50', at: report.latency.p50 },
        { label: 'p99', at: report.latency.p99 },
      ],
    }),
    look.caption,
  );
}
