import { build } from 'hdr-histogram-js';
import type { WebRtcRunOptions } from './args.ts';
import type { LoadRecorder } from '../core/recorder.ts';
import { histogramBins, summarize, type HistogramBin, type LatencySummaryMs } from '../core/latency.ts';
import { formatMs } from '../core/format.ts';
import type { SessionStatus, SyntheticSession } from './session.ts';

export interface WebRtcSessionReport {
  index: number;
  status: SessionStatus;
  /** The server's refusal (`503 unavailable: ...`) or the transport failure. */
  error?: string;
  /** Offer → first returned frame. */
  setupMs?: number;
  fps: number;
  sent: number;
  received: number;
  withId: number;
  lost: number;
  roundTripP50?: number;
  roundTripP99?: number;
  returnedSize?: string;
  deleteStatus?: number;
  connectionProblems?: number;
  /** Gaps (ms) of this session's moves to another pod after drain notices; null: no frame came back after the move. */
  moveGapsMs?: (number | null)[];
}

export interface WebRtcTimelinePoint {
  tSeconds: number;
  /** Sessions that received at least one frame in this second. */
  sessions: number;
  framesSent: number;
  framesReceived: number;
  p50: number;
  p95: number;
  p99: number;
}

/** The `--json` document of `rtc-load webrtc`; the table and the HTML report are drawn from it. */
export interface WebRtcReport {
  url: string;
  mode: 'webrtc';
  effect: string | null;
  resolution: string;
  targetFps: number;
  rampSeconds: number;
  durationSeconds: number;
  sessions: { requested: number; established: number; rejected: number; failed: number; withFrames: number };
  /** Whether frame ids were read back at all (false: the effect wiped the code; no round trip). */
  frameIds: boolean;
  /** Frame round trip in ms: a frame id handed to libwebrtc → the processed frame with that id received. */
  latency: LatencySummaryMs;
  latencyHistogram: HistogramBin[];
  /** Returned frames per second, per established session (0 for one that returned nothing). */
  fps: { target: number; mean: number; min: number; max: number };
  /** Offer created → first returned frame, ms, over sessions that returned frames. */
  setupMs: LatencySummaryMs;
  frames: { sent: number; received: number; withId: number; withoutId: number; lost: number };
  /** WHIP failures by message, e.g. `503 unavailable: ...`. */
  errors: Record<string, number>;
  /** DELETE statuses at the end (0: the DELETE itself failed). */
  deletes: Record<string, number>;
  /**
   * Drain notices heard (a pod shutting down told its publishers on the control channel), the
   * moves to another pod that followed, those that found none before the old session's end, and
   * the gaps in the returned video (ms: the draining pod's last frame to the new pod's first).
   */
  moves: { notices: number; moved: number; failed: number; gapMs: { p50: number; max: number } | null };
  perSession: WebRtcSessionReport[];
  timeline: WebRtcTimelinePoint[];
  interrupted?: boolean;
}

export interface WebRtcReportInputs {
  options: WebRtcRunOptions;
  sessions: readonly SyntheticSession[];
  /** Round trips (ms) as responses; returned frames without a usable id as errors. */
  recorder: LoadRecorder;
  sentPerSecond: readonly number[];
  sessionsPerSecond: readonly number[];
  endMs: number;
  interrupted: boolean;
}

const round3 = (value: number): number => Math.round(value * 1000) / 1000;

export function buildWebRtcReport(inputs: WebRtcReportInputs): WebRtcReport {
  const { options, sessions, recorder } = inputs;
  const established = sessions.filter((s) => s.status === 'established');
  const errors = new Map<string, number>();
  for (const s of sessions) if (s.error) errors.set(s.error.message, (errors.get(s.error.message) ?? 0) + 1);
  const deletes = new Map<string, number>();
  for (const s of established) if (s.deleteStatus !== undefined) deletes.set(String(s.deleteStatus), (deletes.get(String(s.deleteStatus)) ?? 0) + 1);

  const setupUs = build({ lowestDiscernibleValue: 1, highestTrackableValue: 10_000_000, autoResize: true, numberOfSignificantValueDigits: 3 });
  for (const s of established) {
    const setup = s.setupMs;
    if (setup !== undefined) setupUs.recordValue(Math.max(1, Math.round(setup * 1000)));
  }
  const fpsList = established.map((s) => s.returnedFps);
  const sum = (f: (s: SyntheticSession) => number): number => sessions.reduce((acc, s) => acc + f(s), 0);
  const durationSeconds = Math.max(0, (inputs.endMs - recorder.startMs) / 1000);

  const report: WebRtcReport = {
    url: options.url.href,
    mode: 'webrtc',
    effect: options.effect ?? null,
    resolution: `${options.width}x${options.height}`,
    targetFps: options.fps,
    rampSeconds: round3(options.rampMs / 1000),
    durationSeconds: round3(durationSeconds),
    sessions: {
      requested: options.sessions,
      established: established.length,
      rejected: sessions.filter((s) => s.status === 'rejected').length,
      failed: sessions.filter((s) => s.status === 'failed').length,
      withFrames: established.filter((s) => s.received > 0).length,
    },
    frameIds: sum((s) => s.withId) > 0,
    latency: summarize(recorder.latencyUs),
    latencyHistogram: histogramBins(recorder.histogramBins),
    fps: {
      target: options.fps,
      mean: round3(fpsList.length === 0 ? 0 : fpsList.reduce((a, b) => a + b, 0) / fpsList.length),
      min: round3(fpsList.length === 0 ? 0 : Math.min(...fpsList)),
      max: round3(fpsList.length === 0 ? 0 : Math.max(...fpsList)),
    },
    setupMs: summarize(setupUs),
    frames: {
      sent: sum((s) => s.sent),
      received: sum((s) => s.received),
      withId: sum((s) => s.withId),
      withoutId: sum((s) => s.withoutId),
      lost: sum((s) => s.lost),
    },
    errors: Object.fromEntries([...errors].sort(([a], [b]) => a.localeCompare(b))),
    deletes: Object.fromEntries([...deletes].sort(([a], [b]) => a.localeCompare(b))),
    moves: movesOf(sessions),
    perSession: sessions.map(sessionReport),
    timeline: timeline(inputs, durationSeconds),
  };
  if (inputs.interrupted) report.interrupted = true;
  return report;
}

function movesOf(sessions: readonly SyntheticSession[]): WebRtcReport['moves'] {
  const gaps = sessions
    .flatMap((s) => s.moves.map((m) => m.gapMs))
    .filter((gap): gap is number => gap !== undefined)
    .sort((a, b) => a - b);
  return {
    notices: sessions.reduce((n, s) => n + s.drainNotices, 0),
    moved: sessions.reduce((n, s) => n + s.moves.length, 0),
    failed: sessions.reduce((n, s) => n + s.moveFailures, 0),
    gapMs: gaps.length === 0 ? null : { p50: round3(gaps[Math.floor((gaps.length - 1) / 2)] ?? 0), max: round3(gaps.at(-1) ?? 0) },
  };
}

function sessionReport(s: SyntheticSession): WebRtcSessionReport {
  const out: WebRtcSessionReport = {
    index: s.index,
    status: s.status,
    fps: round3(s.returnedFps),
    sent: s.sent,
    received: s.received,
    withId: s.withId,
    lost: s.lost,
  };
  if (s.error) out.error = s.error.message;
  if (s.setupMs !== undefined) out.setupMs = round3(s.setupMs);
  if (s.roundTripUs.totalCount > 0) {
    const summary = summarize(s.roundTripUs);
    out.roundTripP50 = summary.p50;
    out.roundTripP99 = summary.p99;
  }
  if (s.returnedSize !== undefined) out.returnedSize = s.returnedSize;
  if (s.deleteStatus !== undefined) out.deleteStatus = s.deleteStatus;
  if (s.connectionProblems > 0) out.connectionProblems = s.connectionProblems;
  if (s.moves.length > 0) out.moveGapsMs = s.moves.map((m) => (m.gapMs === undefined ? null : round3(m.gapMs)));
  return out;
}

function timeline(inputs: WebRtcReportInputs, durationSeconds: number): WebRtcTimelinePoint[] {
  const { recorder, sentPerSecond, sessionsPerSecond } = inputs;
  const length = Math.max(recorder.timeline.length, sentPerSecond.length, Math.ceil(durationSeconds));
  return Array.from({ length }, (_, tSeconds) => {
    const bucket = recorder.timeline[tSeconds];
    const latency = bucket && bucket.latencyUs.totalCount > 0 ? summarize(bucket.latencyUs) : undefined;
    return {
      tSeconds,
      sessions: sessionsPerSecond[tSeconds] ?? 0,
      framesSent: sentPerSecond[tSeconds] ?? 0,
      framesReceived: bucket?.requests ?? 0,
      p50: latency?.p50 ?? 0,
      p95: latency?.p95 ?? 0,
      p99: latency?.p99 ?? 0,
    };
  });
}

// ---- the end-of-run table -----------------------------------------------------------------------

function row(cells: readonly string[], widths: readonly number[]): string {
  return cells.map((cell, i) => cell.padEnd(widths[i] ?? 10)).join('').trimEnd();
}

/** Beyond this the table lists the first sessions only; the JSON and HTML reports have them all. */
const MAX_SESSION_ROWS = 20;

const count = (value: number): string => Math.round(value).toLocaleString('en-US');

function latencyRows(title: string, latency: LatencySummaryMs, widths: readonly number[]): string[] {
  const values = [latency.min, latency.mean, latency.p50, latency.p90, latency.p95, latency.p99, latency.p999, latency.max];
  return [row([title, 'min', 'mean', 'p50', 'p90', 'p95', 'p99', 'p99.9', 'max'], widths), row(['', ...values.map(formatMs)], widths)];
}

export function formatWebRtcSummary(report: WebRtcReport): string {
  const lines: string[] = [];
  const { sessions, frames, fps } = report;
  lines.push(`rtc-load webrtc  ${report.url}`);
  lines.push(
    `  ${sessions.requested} session${sessions.requested === 1 ? '' : 's'} of ${report.resolution} at ${report.targetFps} fps` +
      `${report.rampSeconds > 0 ? `, ramp ${report.rampSeconds} s` : ''}, ${report.durationSeconds.toFixed(2)} s in all` +
      `${report.interrupted ? ' (interrupted)' : ''}`,
  );
  lines.push(
    `  sessions: ${sessions.established} established, ${sessions.rejected} rejected, ${sessions.failed} failed; ` +
      `${sessions.withFrames} returned frames`,
  );
  lines.push('');
  const widths = [18, 10, 10, 10, 10, 10, 10, 10, 10];
  if (report.frameIds) {
    lines.push(...latencyRows('Round trip (ms)', report.latency, widths));
    lines.push('  (frame id handed to libwebrtc -> processed frame with that id received)');
  } else if (frames.received > 0) {
    lines.push('Round trip (ms)   n/a: no frame id could be read back (the effect wipes the code; edge does)');
  } else {
    lines.push('Round trip (ms)   n/a: no frame came back');
  }
  if (sessions.withFrames > 0) {
    lines.push(...latencyRows('Setup (ms)', report.setupMs, widths));
    lines.push('  (offer created -> first processed frame received)');
  } else {
    lines.push('Setup (ms)        n/a: no session returned a frame');
  }
  lines.push('');
  lines.push(row(['Returned fps', `mean ${fps.mean.toFixed(1)}   min ${fps.min.toFixed(1)}   max ${fps.max.toFixed(1)}   (sent at ${fps.target})`], [18, 0]));
  lines.push(
    row(
      ['Frames', `sent ${count(frames.sent)}   received ${count(frames.received)}   with id ${count(frames.withId)}   lost ${count(frames.lost)}`],
      [18, 0],
    ),
  );
  const errors = Object.entries(report.errors).map(([message, n]) => `${message}: ${n}`);
  lines.push(row(['WHIP errors', errors.length > 0 ? errors.join('   ') : 'none'], [18, 0]));
  const deletes = Object.entries(report.deletes).map(([status, n]) => `${status}: ${n}`);
  lines.push(row(['DELETE', deletes.length > 0 ? deletes.join('   ') : 'none'], [18, 0]));
  const { moves } = report;
  if (moves.notices > 0) {
    const gap = moves.gapMs === null ? 'no frame back yet' : `gap p50 ${formatMs(moves.gapMs.p50)} ms, max ${formatMs(moves.gapMs.max)} ms`;
    lines.push(row(['Drain notices', `${moves.notices}: moved ${moves.moved} (${gap}), found no pod ${moves.failed}`], [18, 0]));
  }
  lines.push('');
  const sessionWidths = [9, 13, 11, 8, 9, 10, 8, 10, 10, 11];
  lines.push(row(['Session', 'status', 'setup ms', 'fps', 'sent', 'received', 'lost', 'rt p50', 'rt p99', 'size'], sessionWidths));
  for (const s of report.perSession.slice(0, MAX_SESSION_ROWS)) {
    lines.push(
      row(
        [
          String(s.index + 1),
          s.status,
          s.setupMs === undefined ? '-' : formatMs(s.setupMs),
          s.fps.toFixed(1),
          count(s.sent),
          count(s.received),
          count(s.lost),
          s.roundTripP50 === undefined ? '-' : formatMs(s.roundTripP50),
          s.roundTripP99 === undefined ? '-' : formatMs(s.roundTripP99),
          s.returnedSize ?? (s.error ?? '-'),
        ],
        sessionWidths,
      ),
    );
  }
  if (report.perSession.length > MAX_SESSION_ROWS) lines.push(`... ${report.perSession.length - MAX_SESSION_ROWS} more sessions (see --json or --html)`);
  return `${lines.join('\n')}\n`;
}
