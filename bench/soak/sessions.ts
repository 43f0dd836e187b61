/**
 * The soak's WebRTC load: `--sessions` publishers (rtc-load webrtc's synthetic sessions), each
 * cycling through the catalog's filters at their defaults, living a random S to 2S seconds, then
 * deleted and replaced at once.
 */
import type { Histogram } from 'hdr-histogram-js';
import { FILTER_EFFECT_NAMES } from '../../src/effects/catalog.ts';
import { newLatencyHistogram } from '../../tools/rtc-load/core/recorder.ts';
import { sleep } from '../../tools/rtc-load/webrtc/run.ts';
import { SyntheticSession } from '../../tools/rtc-load/webrtc/session.ts';
import type { SoakOptions } from './options.ts';

/** Frames in flight when a session stops sending get this long before the DELETE. */
const SESSION_DRAIN_MS = 300;
const SESSION_RETRY_MS = 1000;

/** `--sessions` slots; each runs one session at a time and replaces it when its lifetime is up. */
export class SessionCycler {
  created = 0;
  deleted = 0;
  deleteFailures = 0;
  rejected = 0;
  failed = 0;
  readonly refusals = new Map<string, number>();
  readonly fps: number[] = [];
  readonly roundTripUs: Histogram = newLatencyHistogram(2);
  framesSent = 0;
  framesReceived = 0;
  framesLost = 0;
  #stop = new AbortController();
  #loops: Promise<void>[] = [];
  #next = 0;
  readonly #options: SoakOptions;
  readonly #base: string;
  readonly #lifetimeMs: number;

  constructor(base: string, options: SoakOptions) {
    this.#base = base;
    this.#options = options;
    this.#lifetimeMs = options.sessionSeconds * 1000;
  }

  start(): void {
    this.#stop = new AbortController();
    this.#loops = Array.from({ length: this.#options.sessions }, () => this.#slot(this.#stop.signal));
  }

  async stop(): Promise<void> {
    this.#stop.abort();
    await Promise.all(this.#loops);
    this.#loops = [];
  }

  async #slot(signal: AbortSignal): Promise<void> {
    while (!signal.aborted) {
      const index = this.#next++;
      const effect = FILTER_EFFECT_NAMES[index % FILTER_EFFECT_NAMES.length]!;
      const noop = (): void => {};
      const session = new SyntheticSession(
        index,
        { whipUrl: `${this.#base}/whip?effect=${effect}`, width: this.#options.width, height: this.#options.height, fps: this.#options.fps, timeoutMs: 10_000 },
        { frameSent: noop, frameReceived: noop },
      );
      await session.start();
      if (session.status !== 'established') {
        if (session.status === 'rejected') this.rejected++;
        else this.failed++;
        const reason = session.error?.message ?? session.status;
        this.refusals.set(reason, (this.refusals.get(reason) ?? 0) + 1);
        await sleep(SESSION_RETRY_MS, signal);
        continue;
      }
      this.created++;
      await sleep(this.#lifetimeMs * (1 + Math.random()), signal);
      session.stopSending();
      await sleep(SESSION_DRAIN_MS);
      await session.close();
      if (session.deleteStatus === 200 || session.deleteStatus === 204) this.deleted++;
      else this.deleteFailures++;
      if (session.firstFrameAtMs !== undefined) this.fps.push(session.returnedFps);
      this.roundTripUs.add(session.roundTripUs);
      this.framesSent += session.sent;
      this.framesReceived += session.received;
      this.framesLost += session.lost;
    }
  }
}
