import { autoscalerPoint, autoscalerText, windowP95Ms, type AutoscalerSettings } from './autoscaler.ts';
import { DEFAULT_PLAIN_PROGRESS_INTERVAL_MS } from './args.ts';
import { formatDurationMs } from './duration.ts';
import type { PrometheusSample } from './prometheus.ts';
import type { LoadRecorder } from './recorder.ts';
import { formatMs } from '../core/format.ts';

const PROGRESS_INTERVAL_MS = 250;

/**
 * Progress while a run goes on. On a terminal one line rewritten about four times a second;
 * anywhere else (a pipe, a file, a Kubernetes Job's log) a plain line every `plainIntervalMs`
 * (0: none), so that `kubectl logs -f` shows the run as it goes instead of nothing until the
 * summary. Subclasses say what the line reads; `plain` tells them which kind they write.
 */
export abstract class StatusLine {
  readonly #stream: NodeJS.WriteStream;
  readonly #plainIntervalMs: number;
  #timer: NodeJS.Timeout | undefined;
  #lastAtMs = 0;
  #tty = false;

  constructor(stream: NodeJS.WriteStream, plainIntervalMs = DEFAULT_PLAIN_PROGRESS_INTERVAL_MS) {
    this.#stream = stream;
    this.#plainIntervalMs = plainIntervalMs;
  }

  start(): void {
    this.#tty = this.#stream.isTTY === true;
    const intervalMs = this.#tty ? PROGRESS_INTERVAL_MS : this.#plainIntervalMs;
    if (intervalMs <= 0) return;
    this.#lastAtMs = performance.now();
    this.#timer = setInterval(() => this.#render(), intervalMs);
    this.#timer.unref();
  }

  stop(): void {
    if (this.#timer === undefined) return;
    clearInterval(this.#timer);
    this.#timer = undefined;
    if (this.#tty) this.#stream.write('\r\x1b[2K');
  }

  /**
   * The line's text; `sinceLastMs` is the time since the previous line, for rates; `plain` is
   * true off a terminal (a line every few seconds: figures over that interval read best).
   */
  protected abstract line(nowMs: number, sinceLastMs: number, plain: boolean): string;

  #render(): void {
    const nowMs = performance.now();
    const text = this.line(nowMs, Math.max(1, nowMs - this.#lastAtMs), !this.#tty);
    this.#lastAtMs = nowMs;
    if (!this.#tty) {
      this.#stream.write(`${text.trimStart()}\n`);
      return;
    }
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

/** On a terminal, rates over about the last second: steadier than between two renders, still live. */
const RATE_WINDOW_MS = 1000;

/**
 * The HTTP run's line: elapsed, what was offered, served and refused per second, the served
 * latency, errors, and what the autoscaler would do with served latency and refusals. On a
 * terminal the p95 is the run's so far; a plain line gives the rates and the p95 of its own
 * interval, so that a log read later shows the load rise and fall.
 */
export class ProgressLine extends StatusLine {
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
    plainIntervalMs?: number,
  ) {
    super(stream, plainIntervalMs);
    this.#recorder = recorder;
    this.#plannedMs = plannedMs;
    this.#autoscaler = autoscaler;
    this.#samples = samples;
  }

  protected line(nowMs: number, _sinceLastMs: number, plain: boolean): string {
    const recorder = this.#recorder;
    const now: CounterSnapshot = { atMs: nowMs, offered: recorder.offered, served: recorder.served, refused: recorder.refused, throttled: recorder.throttled };
    const previous = this.#history.at(-1) ?? { atMs: recorder.startMs, offered: 0, served: 0, refused: 0, throttled: 0 };
    this.#history.push(now);
    while (this.#history.length > 2 && (plain || nowMs - (this.#history[1]?.atMs ?? nowMs) >= RATE_WINDOW_MS)) this.#history.shift();
    const since = plain ? previous : (this.#history[0] ?? now);
    const spanSeconds = Math.max(0.001, (nowMs - since.atMs) / 1000);
    const rate = (key: 'offered' | 'served' | 'refused' | 'throttled'): string => ((now[key] - since[key]) / spanSeconds).toFixed(plain ? 1 : 0);
    const elapsedSeconds = (nowMs - recorder.startMs) / 1000;
    const planned = this.#plannedMs === undefined ? '' : `/${formatDurationMs(this.#plannedMs)}`;
    const p95Ms = plain ? intervalP95Ms(recorder, since.atMs, nowMs) : runP95Ms(recorder);
    const servedP95 = p95Ms === undefined ? '-' : `${formatMs(p95Ms)}ms`;
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

/** The served p95 of the run so far (ms), undefined before the first answer. */
function runP95Ms(recorder: LoadRecorder): number | undefined {
  const latency = recorder.latencyUs;
  return latency.totalCount === 0 ? undefined : Math.min(latency.getValueAtPercentile(95), latency.maxValue) / 1000;
}

/** The served p95 (ms) of the answers that arrived from `fromMs` to `toMs`, to the second (the timeline's resolution). */
function intervalP95Ms(recorder: LoadRecorder, fromMs: number, toMs: number): number | undefined {
  const first = Math.floor((fromMs - recorder.startMs) / 1000);
  const last = Math.floor((toMs - recorder.startMs) / 1000);
  return windowP95Ms(recorder.timeline, first, last + 1);
}
