import { formatMs } from '../core/format.ts';
import type { LoadReport } from './report.ts';

function formatCount(value: number): string {
  return Math.round(value).toLocaleString('en-US');
}

function row(cells: readonly string[], widths: readonly number[]): string {
  return cells.map((cell, i) => cell.padEnd(widths[i] ?? 10)).join('').trimEnd();
}

/** The human-readable end-of-run table. */
export function formatSummary(report: LoadReport): string {
  const lines: string[] = [];
  const shape =
    report.mode === 'closed'
      ? `closed loop, concurrency ${report.concurrency ?? 0}`
      : report.stages
        ? `open loop, ${report.stages.length} stages, up to ${report.connections} connections`
        : `open loop, ${report.targetRatePerSecond ?? 0} req/s, up to ${report.connections} connections`;
  lines.push(`rtc-load  ${report.method} ${report.url}`);
  lines.push(`  ${shape}${report.interrupted ? ' (interrupted)' : ''}`);
  lines.push(
    `  ${formatCount(report.requests)} requests in ${report.durationSeconds.toFixed(2)} s, ` +
      `${report.throughputPerSecond.toFixed(1)} req/s`,
  );
  lines.push('');
  const widths = [16, 10, 10, 10, 10, 10, 10, 10, 10];
  const { latency } = report;
  lines.push(row(['Latency (ms)', 'min', 'mean', 'p50', 'p90', 'p95', 'p99', 'p99.9', 'max'], widths));
  lines.push(
    row(
      ['', latency.min, latency.mean, latency.p50, latency.p90, latency.p95, latency.p99, latency.p999, latency.max].map((v) =>
        typeof v === 'number' ? formatMs(v) : v,
      ),
      widths,
    ),
  );
  if (report.mode === 'open') lines.push('  (open loop: measured from each intended send time)');
  lines.push('');
  const statuses = Object.entries(report.statusCounts).map(([code, count]) => `${code}: ${formatCount(count)}`);
  lines.push(row(['Status codes', statuses.length > 0 ? statuses.join('   ') : 'none'], [16, 0]));
  const errors = Object.entries(report.errors).map(([cause, count]) => `${cause}: ${formatCount(count)}`);
  lines.push(row(['Errors', errors.length > 0 ? errors.join('   ') : 'none'], [16, 0]));
  if (report.stages) {
    lines.push('');
    const stageWidths = [8, 16, 16, 12, 10, 10, 10];
    lines.push(row(['Stage', 'time (s)', 'rate (req/s)', 'requests', 'p50', 'p95', 'p99'], stageWidths));
    for (const stage of report.stages) {
      const endSeconds = stage.startSeconds + stage.durationSeconds;
      lines.push(
        row(
          [
            String(stage.index + 1),
            `${stage.startSeconds}-${endSeconds}`,
            `${stage.fromRatePerSecond} -> ${stage.targetRatePerSecond}`,
            formatCount(stage.requests),
            formatMs(stage.p50),
            formatMs(stage.p95),
            formatMs(stage.p99),
          ],
          stageWidths,
        ),
      );
    }
  }
  if (report.prometheus) {
    const { samples, failures } = report.prometheus;
    const last = samples.at(-1);
    lines.push('');
    lines.push(
      `Prometheus      ${samples.length} samples, ${failures} failed queries` +
        (last ? `; last: replicas ${last.replicas ?? 'n/a'}, server p95 ${last.p95Ms === null ? 'n/a' : `${formatMs(last.p95Ms)} ms`}` : ''),
    );
  }
  const points = report.autoscaler?.points ?? [];
  const last = points[points.length - 1];
  if (report.autoscaler && last) {
    const peak = Math.max(...points.map((p) => p.desiredReplicas));
    lines.push(
      `Autoscaler      ${last.replicas} replica${last.replicas === 1 ? '' : 's'}, p95 ${formatMs(last.p95Ms)} ms (${last.source}) vs target ${report.autoscaler.targetP95Ms} ms: ` +
        `the HPA asks for ${last.desiredReplicas} now, ${peak} at peak`,
    );
  }
  return `${lines.join('\n')}\n`;
}
