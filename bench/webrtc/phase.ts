/** One phase of the bench (publishers against one server, measured) and the test card they send. */
import { i420Frame, type I420Frame } from '../../tools/rtc-load/client/i420.ts';
import { WhipPublisher } from '../../tools/rtc-load/client/whip.ts';
import { byLabel, histogram, quantileBetween } from './metrics-text.ts';
import { cpuSeconds, threadCpuSeconds } from './proc.ts';
import { settle, type Server, type Target } from './servers.ts';

export interface PhaseSettings {
  /** Frames per second each publisher sends. */
  readonly fps: number;
  /** A session holds when it gets at least this many frames per second back. */
  readonly minFps: number;
  /** ... and, for the service, its frame p95 is at most this. */
  readonly sloMs: number;
  /** Unmeasured seconds after the publishers start. */
  readonly warmupSeconds: number;
}

/** A moving test card (gradients, a checkerboard, a sweeping bar) so that VP8 has real motion to code. */
export function cards(width: number, height: number, count: number): I420Frame[] {
  return Array.from({ length: count }, (_, i) => {
    const shift = i * 8;
    return i420Frame(width, height, (plane, x, y) => {
      if (plane !== 0) return plane === 1 ? 96 + ((x + shift) & 63) : 160 - ((y + shift) & 63);
      const bar = Math.abs(x - ((shift * 4) % width)) < 40 ? 80 : 0;
      const checker = (((x + shift) >> 5) ^ (y >> 5)) & 1 ? 40 : 0;
      return Math.min(255, ((x + y + shift) & 127) + checker + bar);
    });
  });
}

export interface PhaseResult {
  target: Target;
  size: string;
  sessions: number;
  seconds: number;
  serverCores: number;
  clientCores: number;
  /** Frames the server received / processed per second, per session (upstream losses show here). */
  serverInFps: (number | undefined)[];
  returnedFps: number[];
  returnedSize: string[];
  /** Server CPU milliseconds per frame returned to a publisher (all sessions). */
  cpuMsPerReturnedFrame: number;
  /** Frames the server's encoder produced per second, per session (from its getStats). */
  encodedFps: (number | undefined)[];
  /**
   * Server CPU milliseconds per frame it encoded and sent: unlike the returned frames, this does not
   * depend on whether the publishers had the CPU to decode what came back.
   */
  cpuMsPerEncodedFrame: number;
  frameP95Ms: number | undefined;
  /** Frames skipped per second by reason (service only). */
  skippedPerSecond: Record<string, number>;
  threadCores: Record<string, number>;
  /** Every session got ≥ minFps back (and the service's p95 was under the SLO). */
  holds: boolean;
  /** A publisher delivered < minFps to the server: the client cores, not the server, set the figures. */
  publisherBound: boolean;
}

/**
 * One measured phase: `sessions` publishers of `size` frames to one server, a warm-up, then `seconds`
 * measured; every publisher is closed and the server empty again when it returns.
 */
export async function phase(server: Server, size: string, sessions: number, query: string, frames: readonly I420Frame[], seconds: number, settings: PhaseSettings): Promise<PhaseResult> {
  const pid = server.child.pid!;
  const publishers: WhipPublisher[] = [];
  const stops: (() => void)[] = [];
  const received: number[] = [];
  const sizes: string[] = [];
  const metrics = () => (server.target === 'service' ? fetch(`${server.base}/metrics`).then((r) => r.text()) : Promise.resolve(''));
  try {
    for (let i = 0; i < sessions; i++) {
      const publisher = await WhipPublisher.publish(`${server.base}/whip?${query}`);
      publishers.push(publisher);
      received.push(0);
      sizes.push('-');
      publisher.peer.on('frame', (frame) => {
        received[i]! += 1;
        sizes[i] = `${frame.width}x${frame.height}`;
      });
      // Staggered so that the sessions' frames do not all arrive at once.
      await new Promise((r) => setTimeout(r, 1000 / settings.fps / sessions));
      stops.push(publisher.startFrames(settings.fps, (n) => frames[n % frames.length]!));
    }
    await new Promise((r) => setTimeout(r, settings.warmupSeconds * 1000));

    const textBefore = await metrics();
    const receivedBefore = [...received];
    // Under overload the service's pressure guard may answer 503: those figures are left out.
    const sessionStats = () =>
      Promise.all(
        publishers.map(async (p) => {
          const res = await fetch(p.resourceUrl).catch(() => undefined);
          return res?.ok ? ((await res.json()) as { framesReceived: number; framesEncoded: number }) : undefined;
        }),
      );
    const statsBefore = await sessionStats();
    const serverBefore = cpuSeconds(pid);
    const threadsBefore = threadCpuSeconds(pid);
    const clientBefore = process.cpuUsage();
    const t0 = performance.now();
    await new Promise((r) => setTimeout(r, seconds * 1000));
    const elapsed = (performance.now() - t0) / 1000;
    const serverCores = (cpuSeconds(pid) - serverBefore) / elapsed;
    const threadCores: Record<string, number> = {};
    for (const [thread, seconds] of threadCpuSeconds(pid)) {
      const cores = (seconds - (threadsBefore.get(thread) ?? 0)) / elapsed;
      if (cores >= 0.005) threadCores[thread] = Number(cores.toFixed(3));
    }
    const returnedFps = received.map((n, i) => (n - receivedBefore[i]!) / elapsed);
    const client = process.cpuUsage(clientBefore);
    const textAfter = await metrics();
    const statsAfter = await sessionStats();
    const p95 = quantileBetween(histogram(textBefore, 'app_frame_latency_seconds'), histogram(textAfter, 'app_frame_latency_seconds'), 0.95);
    const skippedBefore = byLabel(textBefore, 'app_frames_dropped_total', 'reason');
    const skippedPerSecond: Record<string, number> = {};
    for (const [reason, n] of byLabel(textAfter, 'app_frames_dropped_total', 'reason')) {
      const rate = (n - (skippedBefore.get(reason) ?? 0)) / elapsed;
      if (rate > 0) skippedPerSecond[reason || 'all'] = Number(rate.toFixed(2));
    }
    const serverInFps = statsAfter.map((a, i) => {
      const b = statsBefore[i];
      return a === undefined || b === undefined ? undefined : (a.framesReceived - b.framesReceived) / elapsed;
    });
    const totalReturned = returnedFps.reduce((a, b) => a + b, 0);
    const encodedFps = statsAfter.map((a, i) => {
      const b = statsBefore[i];
      return a === undefined || b === undefined ? undefined : (a.framesEncoded - b.framesEncoded) / elapsed;
    });
    const totalEncoded = encodedFps.reduce<number>((a, b) => a + (b ?? 0), 0);
    const frameP95Ms = p95 === undefined ? undefined : p95 * 1000;
    return {
      target: server.target,
      size,
      sessions,
      seconds: elapsed,
      serverCores,
      clientCores: (client.user + client.system) / 1e6 / elapsed,
      serverInFps,
      returnedFps,
      returnedSize: sizes,
      cpuMsPerReturnedFrame: totalReturned > 0 ? (serverCores * 1000) / totalReturned : Number.POSITIVE_INFINITY,
      encodedFps,
      cpuMsPerEncodedFrame: totalEncoded > 0 ? (serverCores * 1000) / totalEncoded : Number.POSITIVE_INFINITY,
      frameP95Ms,
      skippedPerSecond,
      threadCores,
      holds: returnedFps.every((f) => f >= settings.minFps) && (server.target === 'echo' || (frameP95Ms !== undefined && frameP95Ms <= settings.sloMs)),
      publisherBound: serverInFps.some((f) => f !== undefined && f < settings.minFps),
    };
  } finally {
    for (const stop of stops) stop();
    await Promise.all(publishers.map((p) => p.close().catch(() => 0)));
    await settle(server);
  }
}
