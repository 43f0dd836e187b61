/**
 * The soak's HTTP load: an open-loop scheduler over a mix of /process requests, every filter of
 * the catalog at its defaults (a new effect joins the soak by itself) at sizes from 320x240 to
 * 1280x720, plus a POST of a raw RGBA body and a 1080p blur.
 */
import { Pool } from 'undici';
import { FILTER_EFFECT_NAMES } from '../../src/effects/catalog.ts';
import { errorCause } from '../../tools/rtc-load/core/error-cause.ts';
import type { LoadRecorder } from '../../tools/rtc-load/core/recorder.ts';

const HTTP_TICK_MS = 20;
export const HTTP_MAX_IN_FLIGHT = 256;
const HTTP_CONNECTIONS = 16;
const HTTP_TIMEOUT_MS = 10_000;

interface MixEntry {
  readonly method: 'GET' | 'POST';
  readonly path: string;
  readonly body?: Buffer;
}

/** The sizes the filters cycle through. */
const MIX_SIZES = ['320x240', '640x480', '1280x720', '640x360', '1280x720', '320x240', '640x480'];
const RAW_BODY = Buffer.alloc(160 * 120 * 4, 0x7f);
const HTTP_MIX: readonly MixEntry[] = [
  ...FILTER_EFFECT_NAMES.map((effect, i): MixEntry => ({ method: 'GET', path: `/process?pixels=${MIX_SIZES[i % MIX_SIZES.length]}&effect=${effect}&iters=1` })),
  { method: 'POST', path: '/process?pixels=160x120&effect=blur&iters=1', body: RAW_BODY },
  { method: 'GET', path: '/process?pixels=1920x1080&effect=blur&iters=1' },
];

/** Open loop: requests leave on a timetable; latency counts from each intended send time. */
export class HttpLoad {
  readonly recorder: LoadRecorder;
  skipped = 0;
  #pool: Pool | undefined;
  #timer: NodeJS.Timeout | undefined;
  #inFlight = new Set<Promise<void>>();
  #issued = 0;
  #startMs = 0;
  readonly #base: string;
  readonly #rate: number;

  constructor(base: string, rate: number, recorder: LoadRecorder) {
    this.#base = base;
    this.#rate = rate;
    this.recorder = recorder;
  }

  start(): void {
    if (this.#rate <= 0) return;
    this.#pool = new Pool(this.#base, { connections: HTTP_CONNECTIONS, pipelining: 1, headersTimeout: HTTP_TIMEOUT_MS, bodyTimeout: HTTP_TIMEOUT_MS });
    this.#startMs = performance.now();
    this.#issued = 0;
    this.#timer = setInterval(() => this.#tick(), HTTP_TICK_MS);
  }

  /** Stops sending, lets what is in flight finish (bounded by the request timeout), closes the connections. */
  async stop(): Promise<void> {
    if (this.#timer !== undefined) clearInterval(this.#timer);
    this.#timer = undefined;
    await Promise.all(this.#inFlight);
    await this.#pool?.close();
    this.#pool = undefined;
  }

  #tick(): void {
    const pool = this.#pool;
    if (pool === undefined) return;
    const now = performance.now();
    const due = Math.floor(((now - this.#startMs) / 1000) * this.#rate);
    while (this.#issued < due) {
      const intendedMs = this.#startMs + (this.#issued * 1000) / this.#rate;
      const entry = HTTP_MIX[this.#issued % HTTP_MIX.length] as MixEntry;
      this.#issued++;
      if (this.#inFlight.size >= HTTP_MAX_IN_FLIGHT) {
        this.skipped++;
        continue;
      }
      const request = this.#send(pool, entry, intendedMs);
      this.#inFlight.add(request);
      void request.finally(() => this.#inFlight.delete(request));
    }
  }

  async #send(pool: Pool, entry: MixEntry, intendedMs: number): Promise<void> {
    try {
      const response = await pool.request({
        method: entry.method,
        path: entry.path,
        ...(entry.body ? { body: entry.body, headers: { 'content-type': 'application/octet-stream' } } : {}),
        signal: AbortSignal.timeout(HTTP_TIMEOUT_MS),
      });
      await response.body.dump({ limit: Number.POSITIVE_INFINITY });
      const end = performance.now();
      this.recorder.recordResponse(response.statusCode, end - intendedMs, end, -1);
    } catch (error) {
      this.recorder.recordError(errorCause(error), performance.now(), -1);
    }
  }
}
