import type { RunEnvironment } from '../command.ts';
import { LoadRecorder } from '../core/recorder.ts';
import { percentilesText, StatusLine } from '../core/status-line.ts';
import type { WebRtcRunOptions } from './args.ts';
import { buildWebRtcReport, type WebRtcReport } from './report.ts';
import { IceServerSource } from './ice-servers.ts';
import { SyntheticSession, type SessionObserver } from './session.ts';

/** After sending stops, frames still in flight (jitter buffers, the server's queue) get this long. */
const DRAIN_MS = 1000;

/** Resolves after `ms`, or at once when `signal` aborts (never rejects). */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  if (ms <= 0 || signal?.aborted) return Promise.resolve();
  return new Promise((resolve) => {
    const done = (): void => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener('abort', done, { once: true });
  });
}

/**
 * Runs N synthetic publishers: session i starts at i/N of the ramp (plus a fraction of a frame
 * period, so that sessions started together do not send in lockstep), all stop at ramp + duration,
 * in-flight frames drain, and every session is deleted, also when the run is interrupted.
 */
export async function runWebRtcLoad(options: WebRtcRunOptions, environment: RunEnvironment): Promise<WebRtcReport> {
  const { signal } = environment;
  const startMs = performance.now();
  const recorder = new LoadRecorder(startMs);
  const sentPerSecond: number[] = [];
  const sessionsPerSecond: number[] = [];
  const lastSecondOf = new Map<SyntheticSession, number>();
  const secondOf = (atMs: number): number => Math.max(0, Math.floor((atMs - startMs) / 1000));

  const observer: SessionObserver = {
    frameSent(atMs) {
      const second = secondOf(atMs);
      sentPerSecond[second] = (sentPerSecond[second] ?? 0) + 1;
    },
    frameReceived(session, atMs, roundTripMs) {
      const second = secondOf(atMs);
      if (lastSecondOf.get(session) !== second) {
        lastSecondOf.set(session, second);
        sessionsPerSecond[second] = (sessionsPerSecond[second] ?? 0) + 1;
      }
      if (roundTripMs === undefined) recorder.recordError('no_id', atMs, -1);
      else recorder.recordResponse(200, roundTripMs, atMs, -1);
    },
  };

  // Through the endpoint's TURN relay when it lists one: outside a cluster the media pods are not reachable.
  const ice = new IceServerSource(options.url.href, options.token, options.timeoutMs);
  const settings = {
    whipUrl: options.url.href,
    width: options.width,
    height: options.height,
    fps: options.fps,
    timeoutMs: options.timeoutMs,
    token: options.token,
    iceServers: () => ice.servers(),
  };
  const sessions = Array.from({ length: options.sessions }, (_, i) => new SyntheticSession(i, settings, observer));
  const starts: Promise<void>[] = [];
  const progress = new WebRtcProgress(environment.progressStream, sessions, recorder, options.rampMs + options.durationMs, options.output.progressIntervalMs);
  progress.start();

  let interrupted = false;
  try {
    const framePeriodMs = 1000 / options.fps;
    for (const session of sessions) {
      const offsetMs = (session.index * (options.rampMs + framePeriodMs)) / options.sessions;
      await sleep(startMs + offsetMs - performance.now(), signal);
      if (signal?.aborted) break;
      starts.push(session.start());
    }
    await sleep(startMs + options.rampMs + options.durationMs - performance.now(), signal);
    interrupted = signal?.aborted ?? false;
  } finally {
    // Publishes still in flight finish first (each is bounded by --timeout), so that none is left open.
    await Promise.all(starts);
    for (const session of sessions) session.stopSending();
    progress.stop();
    if (!interrupted && !signal?.aborted) await sleep(DRAIN_MS, signal);
    await Promise.all(sessions.map((session) => session.close()));
  }
  const endMs = performance.now();

  const report = buildWebRtcReport({ options, sessions, recorder, sentPerSecond, sessionsPerSecond, endMs, interrupted: interrupted || (signal?.aborted ?? false) });
  if (report.frames.received > 0 && !report.frameIds) {
    environment.warn(`no frame id could be read back from ${report.frames.received} returned frames (effect ${report.effect ?? 'default'}): fps only, no round trip`);
  }
  const badDeletes = Object.entries(report.deletes).filter(([status]) => status !== '200' && status !== '204');
  if (badDeletes.length > 0) environment.warn(`DELETE did not succeed for ${badDeletes.map(([status, n]) => `${n} session(s) (${status === '0' ? 'no answer' : status})`).join(', ')}`);
  return report;
}

/** The WebRTC run's line: sessions up and refused, frames back per second, round trip. */
class WebRtcProgress extends StatusLine {
  readonly #sessions: readonly SyntheticSession[];
  readonly #recorder: LoadRecorder;
  readonly #plannedMs: number;
  #lastReceived = 0;

  constructor(stream: NodeJS.WriteStream, sessions: readonly SyntheticSession[], recorder: LoadRecorder, plannedMs: number, plainIntervalMs: number) {
    super(stream, plainIntervalMs);
    this.#sessions = sessions;
    this.#recorder = recorder;
    this.#plannedMs = plannedMs;
  }

  protected line(nowMs: number, sinceLastMs: number): string {
    let up = 0;
    let refused = 0;
    let received = 0;
    for (const s of this.#sessions) {
      if (s.status === 'established') up++;
      else if (s.status === 'rejected' || s.status === 'failed') refused++;
      received += s.received;
    }
    const fps = ((received - this.#lastReceived) * 1000) / sinceLastMs;
    this.#lastReceived = received;
    const elapsed = ((nowMs - this.#recorder.startMs) / 1000).toFixed(1);
    return (
      `  ${elapsed}s/${(this.#plannedMs / 1000).toFixed(0)}s  sessions ${up}/${this.#sessions.length} up, ${refused} refused` +
      `  ${fps.toFixed(0)} frames/s back  ${percentilesText(this.#recorder, 'rt ')}`
    );
  }
}
