import { percentText } from '../core/autoscaler.ts';
import { formatMs } from '../core/format.ts';
import type { LatencySummaryMs } from '../core/latency.ts';
import type { ClientBehaviourReport, LoadReport } from './report.ts';

function formatCount(value: number): string {
  return Math.round(value).toLocaleString('en-US');
}

function row(cells: readonly string[], widths: readonly number[]): string {
  return cells.map((cell, i) => cell.padEnd(widths[i] ?? 10)).join('').trimEnd();
}

/** "polite clients: wait Retry-After x [0.5, 1.5]" and the like, for the run's second line. */
export function clientsText(clients: ClientBehaviourReport): string {
  const throttle = clients.adaptiveThrottleK === undefined ? '' : `, adaptive throttle K=${clients.adaptiveThrottleK}`;
  if (clients.retry === 'never') return `each scheduled request sent once${throttle}`;
  if (clients.retry === 'immediately') return `storm clients: refusals retried at once${throttle}`;
  const jitter = clients.retryAfterJitter ?? 0;
  return `polite clients: wait Retry-After x [${1 - jitter}, ${1 + jitter}]${throttle}`;
}

function latencyRow(label: string, latency: LatencySummaryMs, widths: readonly number[]): string {
  return row(
    [label, latency.min, latency.mean, latency.p50, latency.p90, latency.p95, latency.p99, latency.p999, latency.max].map((v) => (typeof v === 'number' ? formatMs(v) : v)),
    widths,
  );
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
  lines.push(`  ${shape}; ${clientsText(report.clients)}${report.interrupted ? ' (interrupted)' : ''}`);
  lines.push(
    `  ${formatCount(report.requests)} requests in ${report.durationSeconds.toFixed(2)} s, ` +
      `${report.throughputPerSecond.toFixed(1)} req/s`,
  );
  lines.push('');
  const widths = [16, 10, 10, 10, 10, 10, 10, 10, 10];
  lines.push(row(['Outcome', 'offered', 'served', 'refused', 'other', 'errors', 'throttled'], widths));
  lines.push(row(['  total', ...[report.offered, report.served, report.refused, report.otherResponses, report.requests - report.responses, report.throttled].map(formatCount)], widths));
  const errorsPerSecond = report.durationSeconds > 0 ? (report.requests - report.responses) / report.durationSeconds : 0;
  const otherPerSecond = report.durationSeconds > 0 ? report.otherResponses / report.durationSeconds : 0;
  lines.push(
    row(
      ['  per second', ...[report.offeredPerSecond, report.servedPerSecond, report.refusedPerSecond, otherPerSecond, errorsPerSecond, report.throttledPerSecond].map((v) => v.toFixed(1))],
      widths,
    ),
  );
  lines.push(`  refused ${percentText(report.refusalRatio)} of the answers; ${formatCount(report.connectionsOpened)} connection${report.connectionsOpened === 1 ? '' : 's'} opened`);
  lines.push('');
  lines.push(row(['Latency (ms)', 'min', 'mean', 'p50', 'p90', 'p95', 'p99', 'p99.9', 'max'], widths));
  lines.push(latencyRow(report.served > 0 ? '  served' : '  served (none)', report.latency, widths));
  if (report.refused > 0) lines.push(latencyRow('  refused', report.refusalLatency, widths));
  lines.push(`  (${report.mode === 'open' ? 'open loop: from each intended send time; ' : ''}percentiles of 2xx answers; refusals (503, 429) apart)`);
  lines.push('');
  const statuses = Object.entries(report.statusCounts).map(([code, count]) => `${code}: ${formatCount(count)}`);
  lines.push(row(['Status codes', statuses.length > 0 ? statuses.join('   ') : 'none'], [16, 0]));
  const errors = Object.entries(report.errors).map(([cause, count]) => `${cause}: ${formatCount(count)}`);
  lines.push(row(['Errors', errors.length > 0 ? errors.join('   ') : 'none'], [16, 0]));
  if (report.stages) {
    lines.push('');
    const stageWidths = [8, 16, 16, 12, 10, 10, 10, 10, 10];
    lines.push(row(['Stage', 'time (s)', 'rate (req/s)', 'requests', 'served/s', 'refused', 'p50', 'p95', 'p99'], stageWidths));
    for (const stage of report.stages) {
      const endSeconds = stage.startSeconds + stage.durationSeconds;
      lines.push(
        row(
          [
            String(stage.index + 1),
            `${stage.startSeconds}-${endSeconds}`,
            `${stage.fromRatePerSecond} -> ${stage.targetRatePerSecond}`,
            formatCount(stage.requests),
            stage.goodputPerSecond.toFixed(1),
            percentText(stage.refusalRatio),
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
        (last
          ? `; last: replicas ${last.replicas ?? 'n/a'}, server p95 ${last.p95Ms === null ? 'n/a' : `${formatMs(last.p95Ms)} ms`}` +
            `, refused ${last.refusalRatio === null ? 'n/a' : percentText(last.refusalRatio)}`
          : ''),
    );
  }
  const points = report.autoscaler?.points ?? [];
  const last = points[points.length - 1];
  if (report.autoscaler && last) {
    if (!report.prometheus) lines.push('');
    const peak = Math.max(...points.map((p) => p.desiredReplicas));
    const p95 = last.p95Ms === null ? 'nothing served' : `${formatMs(last.p95Ms)} ms`;
    lines.push(
      `Autoscaler      ${last.replicas} replica${last.replicas === 1 ? '' : 's'}, served p95 ${p95} vs target ${report.autoscaler.targetP95Ms} ms, ` +
        `refused ${percentText(last.refusalRatio)} (${last.source}): the HPA asks for ${last.desiredReplicas} now ` +
        `(${last.desiredByLatency} by latency, ${last.desiredByRefusals} by refusals), ${peak} at peak`,
    );
  }
  return `${lines.join('\n')}\n`;
}
