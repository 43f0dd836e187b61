import { formatDurationMs } from './duration.ts';
import type { LoadRecorder } from './recorder.ts';
import { formatMs } from './summary.ts';

const PROGRESS_INTERVAL_MS = 250;

/**
 * One status line on a terminal, rewritten about four times a second. Writes nothing when
 * the stream is not a TTY, so piped and --json output stay clean.
 */
export class ProgressLine {
  readonly #stream: NodeJS.WriteStream;
  readonly #recorder: LoadRecorder;
  readonly #plannedMs: number | undefined;
  #timer: NodeJS.Timeout | undefined;
  #lastRequests = 0;
  #lastAtMs = 0;

  constructor(stream: NodeJS.WriteStream, recorder: LoadRecorder, plannedMs: number | undefined) {
    this.#stream = stream;
    this.#recorder = recorder;
    this.#plannedMs = plannedMs;
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

  #render(): void {
    const nowMs = performance.now();
    const recorder = this.#recorder;
    const rate = ((recorder.requests - this.#lastRequests) * 1000) / Math.max(1, nowMs - this.#lastAtMs);
    this.#lastRequests = recorder.requests;
    this.#lastAtMs = nowMs;
    const elapsedSeconds = (nowMs - recorder.startMs) / 1000;
    const planned = this.#plannedMs === undefined ? '' : `/${formatDurationMs(this.#plannedMs)}`;
    const latency = recorder.latencyUs;
    const percentiles =
      latency.totalCount === 0
        ? 'p50 -  p99 -'
        : `p50 ${formatMs(latency.getValueAtPercentile(50) / 1000)}ms  p99 ${formatMs(latency.getValueAtPercentile(99) / 1000)}ms`;
    const line =
      `  ${elapsedSeconds.toFixed(1)}s${planned}  ${recorder.requests} req  ${rate.toFixed(0)} req/s  ${percentiles}` +
      `  non-2xx ${recorder.nonSuccessResponses()}  errors ${recorder.errors}`;
    // Never wider than the terminal, or the carriage return would leave wrapped lines behind.
    const columns = this.#stream.columns > 0 ? this.#stream.columns : 120;
    this.#stream.write(`\r\x1b[2K${line.slice(0, Math.max(20, columns - 1))}`);
  }
}
