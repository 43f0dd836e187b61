import { autoscalerPoint, autoscalerText, type AutoscalerSettings } from './autoscaler.ts';
import { formatDurationMs } from './duration.ts';
import type { PrometheusSample } from './prometheus.ts';
import type { LoadRecorder } from './recorder.ts';
import { formatMs } from '../core/format.ts';

const PROGRESS_INTERVAL_MS = 250;

/**
 * One status line on a terminal, rewritten about four times a second. Writes nothing when the
 * stream is not a TTY, so piped and --json output stay clean. Subclasses say what the line reads.
 */
export abstract class TtyStatusLine {
  readonly #stream: NodeJS.WriteStream;
  #timer: NodeJS.Timeout | undefined;
  #lastAtMs = 0;

  constructor(stream: NodeJS.WriteStream) {
    this.#stream = stream;
  }

  start(): void {
    if (!this.#stream.isTTY) return;
    this.#lastAtMs = performance.now();
    this.#timer = setInterval(() => this.#render(), PROGRESS_INTERVAL_MS);
    this.#timer.unref();
  }

  stop(): void {
    if (this.#timer === undefined) return;
    clearInterval(this.#timer);
    this.#timer = undefined;
    this.#stream.write('\r\x1b[2K');
  }

  /** The line's text; `sinceLastMs` is the time since the previous line, for rates. */
  protected abstract line(nowMs: number, sinceLastMs: number): string;

  #render(): void {
    const nowMs = performance.now();
    const text = this.line(nowMs, Math.max(1, nowMs - this.#lastAtMs));
    this.#lastAtMs = nowMs;
    // Never wider than the terminal, or the carriage return would leave wrapped lines behind.
    const columns = this.#stream.columns > 0 ? this.#stream.columns : 120;
    this.#stream.write(`\r\x1b[2K${text.slice(0, Math.max(20, columns - 1))}`);
  }
}

/** "p50 1.2ms  p99 3.4ms" of a recorder's (served) latency histogram, or dashes before the first sample. */
export function percentilesText(recorder: LoadRecorder, prefix = ''): string {
  const latency = recorder.latencyUs;
  if (latency.totalCount === 0) return `${prefix}p50 -  p99 -`;
  return `${prefix}p50 ${formatMs(latency.getValueAtPercentile(50) / 1000)}ms  p99 ${formatMs(latency.getValueAtPercentile(99) / 1000)}ms`;
}

/** The counters the rates on the line are taken from, at one instant. */
interface CounterSnapshot {
  atMs: number;
  offered: number;
  served: number;
  refused: number;
  throttled: number;
}

/** Rates over about the last second: steadier than between two renders, still live. */
const RATE_WINDOW_MS = 1000;

/**
 * The HTTP run's line: elapsed, what was offered, served and refused per second, the served
 * latency, errors, and what the autoscaler would do with served latency and refusals.
 */
export class ProgressLine extends TtyStatusLine {
  readonly #recorder: LoadRecorder;
  readonly #plannedMs: number | undefined;
  readonly #autoscaler: AutoscalerSettings | undefined;
  readonly #samples: readonly PrometheusSample[];
  readonly #history: CounterSnapshot[] = [];

  constructor(
    stream: NodeJS.WriteStream,
    recorder: LoadRecorder,
    plannedMs: number | undefined,
    autoscaler?: AutoscalerSettings,
    samples: readonly PrometheusSample[] = [],
  ) {
    super(stream);
    this.#recorder = recorder;
    this.#plannedMs = plannedMs;
    this.#autoscaler = autoscaler;
    this.#samples = samples;
  }

  protected line(nowMs: number): string {
    const recorder = this.#recorder;
    const now: CounterSnapshot = { atMs: nowMs, offered: recorder.offered, served: recorder.served, refused: recorder.refused, throttled: recorder.throttled };
    this.#history.push(now);
    while (this.#history.length > 2 && nowMs - (this.#history[1]?.atMs ?? nowMs) >= RATE_WINDOW_MS) this.#history.shift();
    const since = this.#history[0] ?? now;
    const spanSeconds = Math.max(0.001, (nowMs - since.atMs) / 1000);
    const rate = (key: 'offered' | 'served' | 'refused' | 'throttled'): string => ((now[key] - since[key]) / spanSeconds).toFixed(0);
    const elapsedSeconds = (nowMs - recorder.startMs) / 1000;
    const planned = this.#plannedMs === undefined ? '' : `/${formatDurationMs(this.#plannedMs)}`;
    const latency = recorder.latencyUs;
    const servedP95 = latency.totalCount === 0 ? '-' : `${formatMs(Math.min(latency.getValueAtPercentile(95), latency.maxValue) / 1000)}ms`;
    // The autoscaler's wish last: on a narrow terminal the line is cut from the right.
    return (
      `  ${elapsedSeconds.toFixed(1)}s${planned}  offered ${rate('offered')}/s served ${rate('served')}/s refused ${rate('refused')}/s` +
      (recorder.throttled > 0 ? ` throttled ${rate('throttled')}/s` : '') +
      `  served p95 ${servedP95}` +
      (recorder.errors > 0 ? `  errors ${recorder.errors}` : '') +
      (this.#autoscaler ? `  ${autoscalerText(autoscalerPoint(this.#autoscaler, recorder.timeline, this.#samples, elapsedSeconds), this.#autoscaler)}` : '')
    );
  }
}
