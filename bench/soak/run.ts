/**
 * One soak run: the server started, HTTP and WebRTC load through a warm-up and a load phase, the
 * server sampled every SAMPLE_MS, and a quiet point (load paused, fd count settled) after each
 * phase. What it saw goes to report.ts.
 */
import os from 'node:os';
import { LoadRecorder } from '../../tools/rtc-load/core/recorder.ts';
import { sleep } from '../../tools/rtc-load/webrtc/run.ts';
import { HttpLoad } from './http-load.ts';
import type { SoakOptions } from './options.ts';
import { metricValues, procSample, round1, ServerUnderTest, type ProcSample } from './server.ts';
import { SessionCycler } from './sessions.ts';

const SAMPLE_MS = 5000;

export type Phase = 'warmup' | 'load' | 'quiet';

export interface Sample extends ProcSample {
  tSeconds: number;
  phase: Phase;
  sessionsActive: number | null;
  /** The main thread's V8 heap in use and its external memory (ArrayBuffers), from /metrics: where RSS growth is not. */
  heapUsedMiB: number | null;
  externalMiB: number | null;
}

export interface QuietPoint extends ProcSample {
  tSeconds: number;
  sessionsActive: number;
  /** Seconds the fd count took to settle (or the bound, when it never did). */
  settleSeconds: number;
}

/** What a run saw, for the report. */
export interface SoakRun {
  readonly warmupMs: number;
  readonly loadavgBefore: number[];
  readonly durationSeconds: number;
  readonly samples: Sample[];
  readonly quietAfterWarmup: QuietPoint | undefined;
  readonly quietFinal: QuietPoint | undefined;
  /** Seconds from the start at which the load phase began and ended. */
  readonly loadResumedAt: number;
  readonly loadEndedAt: number;
  /** Why the run broke off, if it did. */
  readonly failure: string | undefined;
  readonly finalMetrics: string;
  readonly serverAlive: boolean;
  readonly serverLogTail: string;
  readonly recorder: LoadRecorder;
  readonly http: HttpLoad;
  readonly sessions: SessionCycler;
}

export async function runSoak(options: SoakOptions, log: (line: string) => void): Promise<SoakRun> {
  const runMs = options.minutes * 60_000;
  const warmupMs = Math.max(0.2 * runMs, options.minutes >= 5 ? 60_000 : 20_000);
  const loadavgBefore = os.loadavg();
  log(
    `soak: ${options.minutes} min, ${options.sessions} WebRTC session(s) of ${options.width}x${options.height}@${options.fps}, ` +
      `${options.httpRate} req/s HTTP; warm-up ${(warmupMs / 1000).toFixed(0)} s; ${os.cpus().length} CPUs, load ${loadavgBefore.map((l) => l.toFixed(2)).join(' ')}`,
  );

  const server = await ServerUnderTest.start({
    MAX_SESSIONS: String(options.sessions + 2),
    // Every publisher runs here, on one address.
    MAX_SESSIONS_PER_CLIENT: '0',
    // Leaks are the question here, not admission: a busy machine must not turn sessions away.
    SLO_ADMISSION: 'false',
    SHUTDOWN_DELAY_SECONDS: '0',
    SESSION_DRAIN_SECONDS: '0',
  });
  const t0 = performance.now();
  const tSeconds = (): number => round1((performance.now() - t0) / 1000);
  const recorder = new LoadRecorder(t0);
  const http = new HttpLoad(server.base, options.httpRate, recorder);
  const cycler = new SessionCycler(server.base, options);
  const samples: Sample[] = [];
  let phase: Phase = 'warmup';

  const takeSample = async (): Promise<void> => {
    if (!server.alive) return;
    let proc: ProcSample;
    try {
      proc = procSample(server.pid);
    } catch {
      return;
    }
    const text = await server.metrics().catch(() => '');
    const gauge = (name: string, scale = 1): number | null => {
      const value = metricValues(text, name).get('');
      return value === undefined || Number.isNaN(value) ? null : round1(value / scale);
    };
    const sample: Sample = {
      tSeconds: tSeconds(),
      phase,
      ...proc,
      sessionsActive: gauge('app_webrtc_sessions_active'),
      heapUsedMiB: gauge('nodejs_heap_size_used_bytes', 2 ** 20),
      externalMiB: gauge('nodejs_external_memory_bytes', 2 ** 20),
    };
    samples.push(sample);
    log(
      `  ${sample.tSeconds.toFixed(0).padStart(5)} s ${phase.padEnd(6)} rss ${sample.rssMiB.toFixed(1)} MiB (heap ${sample.heapUsedMiB ?? '?'}, external ${sample.externalMiB ?? '?'})` +
        `  fds ${sample.fds}  threads ${sample.threads}  sessions ${sample.sessionsActive ?? '?'}` +
        `  http ${recorder.requests} (non-2xx ${recorder.nonSuccessResponses()}, errors ${recorder.errors})`,
    );
  };
  const sampler = setInterval(() => void takeSample(), SAMPLE_MS);

  /** Pauses the load and reads the server once its fd count has settled (bounded). */
  const quietPoint = async (): Promise<QuietPoint> => {
    const previous = phase;
    phase = 'quiet';
    await Promise.all([http.stop(), cycler.stop()]);
    const began = performance.now();
    const deadline = began + 12_000;
    let sessionsActive = await server.sessionsActive().catch(() => Number.NaN);
    while (sessionsActive !== 0 && performance.now() < deadline) {
      await sleep(250);
      sessionsActive = await server.sessionsActive().catch(() => Number.NaN);
    }
    // Settled: the same count three reads in a row, half a second apart.
    let last = procSample(server.pid);
    let same = 0;
    while (same < 2 && performance.now() < deadline) {
      await sleep(500);
      const next = procSample(server.pid);
      same = next.fds === last.fds ? same + 1 : 0;
      last = next;
    }
    const point = { tSeconds: tSeconds(), ...last, sessionsActive, settleSeconds: round1((performance.now() - began) / 1000) };
    log(`  quiet point at ${point.tSeconds} s: fds ${point.fds}, rss ${point.rssMiB} MiB, threads ${point.threads}, sessions ${sessionsActive} (settled in ${point.settleSeconds} s)`);
    phase = previous;
    return point;
  };

  let quietAfterWarmup: QuietPoint | undefined;
  let quietFinal: QuietPoint | undefined;
  let loadResumedAt = 0;
  let loadEndedAt = 0;
  let failure: string | undefined;
  try {
    await takeSample();
    http.start();
    cycler.start();
    await sleep(t0 + warmupMs - performance.now());
    quietAfterWarmup = await quietPoint();
    phase = 'load';
    loadResumedAt = tSeconds();
    http.start();
    cycler.start();
    while (performance.now() < t0 + runMs && server.alive) await sleep(Math.min(1000, t0 + runMs - performance.now()));
    loadEndedAt = tSeconds();
    if (!server.alive) throw new Error('the server exited during the run');
    quietFinal = await quietPoint();
  } catch (error) {
    failure = error instanceof Error ? error.message : String(error);
    await Promise.all([http.stop(), cycler.stop()]).catch(() => undefined);
  } finally {
    clearInterval(sampler);
  }
  const finalMetrics = server.alive ? await server.metrics().catch(() => '') : '';
  const serverAlive = server.alive;
  const serverLogTail = server.logTail;
  await server.stop();

  return {
    warmupMs,
    loadavgBefore,
    durationSeconds: tSeconds(),
    samples,
    quietAfterWarmup,
    quietFinal,
    loadResumedAt,
    loadEndedAt,
    failure,
    finalMetrics,
    serverAlive,
    serverLogTail,
    recorder,
    http,
    sessions: cycler,
  };
}
