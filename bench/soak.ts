/**
 * Soak: the real server in a child process under mixed load for a while, watched for leaks.
 *
 *   npm run soak -- [--minutes 10] [--sessions 2] [--http-rate 50] [--resolution 640x360] [--fps 15]
 *                   [--max-rss-growth P] [--session-seconds S] [--json]
 *
 * Load: an open-loop HTTP scheduler sends `--http-rate` requests/s to /process, cycling through a mix
 * of frame sizes and effects (one in nine a POST with a raw RGBA body), and `--sessions` WebRTC
 * publishers (rtc-load webrtc's synthetic sessions, frame ids and all) that each live a random
 * S to 2S seconds (`--session-seconds`, default 30, or a sixth of the run when that is shorter),
 * are deleted, and are replaced at once.
 *
 * Watch: every 5 s the server's RSS (VmRSS), open file descriptors (/proc/<pid>/fd) and threads.
 * The first 20 % of the run is warm-up (at least 60 s from 5 minutes up, at least 20 s below).
 * At the end of the warm-up and at the end of the run the load pauses ("quiet point"): HTTP
 * connections closed, sessions deleted, then the fd count is read once it has settled. Checks:
 *
 * - RSS growth: mean RSS over the last minute of load against the mean over the first minute after
 *   the warm-up (both windows shrink to half the post-warm-up span on short runs), below
 *   `--max-rss-growth` (default 10 %, 25 % for runs under 5 minutes, whose windows are a few
 *   samples each and noisier);
 * - fds: the count at the final quiet point within ±5 of the count at the post-warm-up quiet point;
 * - sessions: app_webrtc_sessions_active is 0 at the end and every session created was deleted.
 *
 * Exit 1 when a check fails (or the server dies), 2 on bad arguments. The server inherits this
 * process's environment, so `MALLOC_ARENA_MAX=2 npm run soak` soaks it with that allocator setting.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { readdirSync, readFileSync } from 'node:fs';
import os from 'node:os';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import type { Histogram } from 'hdr-histogram-js';
import { Pool } from 'undici';
import { errorCause } from '../tools/rtc-load/core/error-cause.ts';
import { LoadRecorder, newLatencyHistogram } from '../tools/rtc-load/core/recorder.ts';
import { formatMs } from '../tools/rtc-load/core/format.ts';
import { summarize, type LatencySummaryMs } from '../tools/rtc-load/core/latency.ts';
import { parseResolution } from '../tools/rtc-load/webrtc/args.ts';
import { sleep } from '../tools/rtc-load/webrtc/run.ts';
import { SyntheticSession } from '../tools/rtc-load/webrtc/session.ts';
import { freePort } from '../test/ports.ts';

const root = fileURLToPath(new URL('..', import.meta.url));
const SAMPLE_MS = 5000;
const FD_TOLERANCE = 5;
const HTTP_TICK_MS = 20;
const HTTP_MAX_IN_FLIGHT = 256;
const HTTP_CONNECTIONS = 16;
const HTTP_TIMEOUT_MS = 10_000;
/** Frames in flight when a session stops sending get this long before the DELETE. */
const SESSION_DRAIN_MS = 300;
const SESSION_RETRY_MS = 1000;
const SESSION_EFFECTS = ['blur', 'gaussian&sigma=2', 'invert', 'grayscale', 'pixelate&block=8', 'sharpen'];

// ---- options --------------------------------------------------------------------------------------

interface SoakOptions {
  minutes: number;
  sessions: number;
  httpRate: number;
  width: number;
  height: number;
  fps: number;
  maxRssGrowthPercent: number;
  /** A session lives between this and twice this. */
  sessionSeconds: number;
  json: boolean;
}

function usage(message: string): never {
  process.stderr.write(`soak: ${message}\nUsage: npm run soak -- [--minutes 10] [--sessions 2] [--http-rate 50] [--resolution 640x360] [--fps 15] [--max-rss-growth P] [--session-seconds S] [--json]\n`);
  process.exit(2);
}

function parseOptions(argv: string[]): SoakOptions {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        minutes: { type: 'string', default: '10' },
        sessions: { type: 'string', default: '2' },
        'http-rate': { type: 'string', default: '50' },
        resolution: { type: 'string', default: '640x360' },
        fps: { type: 'string', default: '15' },
        'max-rss-growth': { type: 'string' },
        'session-seconds': { type: 'string' },
        json: { type: 'boolean', default: false },
      },
      strict: true,
    }));
  } catch (error) {
    usage(error instanceof Error ? error.message : String(error));
  }
  const number = (flag: string, text: string, min: number, max: number, integer = false): number => {
    const n = Number(text);
    if (text.trim() === '' || !Number.isFinite(n) || n < min || n > max || (integer && !Number.isInteger(n))) {
      usage(`--${flag} must be ${integer ? 'a whole number' : 'a number'} from ${min} to ${max}: ${text}`);
    }
    return n;
  };
  const minutes = number('minutes', values.minutes, 1, 24 * 60);
  let size;
  try {
    size = parseResolution(values.resolution);
  } catch (error) {
    usage(error instanceof Error ? error.message : String(error));
  }
  return {
    minutes,
    sessions: number('sessions', values.sessions, 0, 100, true),
    httpRate: number('http-rate', values['http-rate'], 0, 10_000),
    width: size.width,
    height: size.height,
    fps: number('fps', values.fps, 1, 60),
    maxRssGrowthPercent:
      values['max-rss-growth'] === undefined ? (minutes >= 5 ? 10 : 25) : number('max-rss-growth', values['max-rss-growth'], 0, 1000),
    sessionSeconds:
      values['session-seconds'] === undefined ? Math.min(30, (minutes * 60) / 6) : number('session-seconds', values['session-seconds'], 1, 3600),
    json: values.json,
  };
}

// ---- helpers --------------------------------------------------------------------------------------

const round1 = (n: number): number => Math.round(n * 10) / 10;
const mean = (xs: readonly number[]): number => (xs.length === 0 ? Number.NaN : xs.reduce((a, b) => a + b, 0) / xs.length);


interface ProcSample {
  rssMiB: number;
  fds: number;
  threads: number;
}

function procSample(pid: number): ProcSample {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const field = (key: string): number => Number(new RegExp(`^${key}:\\s+(\\d+)`, 'm').exec(status)?.[1] ?? Number.NaN);
  return { rssMiB: round1(field('VmRSS') / 1024), fds: readdirSync(`/proc/${pid}/fd`).length, threads: field('Threads') };
}

/** Sum of a counter or gauge over its label sets, per label value of `label` when given. */
function metricValues(text: string, name: string, label?: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const m of text.matchAll(new RegExp(`^${name}(?:\\{([^}]*)\\})? (\\S+)$`, 'gm'))) {
    const key = label === undefined ? '' : (new RegExp(`${label}="([^"]*)"`).exec(m[1] ?? '')?.[1] ?? '');
    out.set(key, (out.get(key) ?? 0) + Number(m[2]));
  }
  return out;
}

// ---- the server -----------------------------------------------------------------------------------

class ServerUnderTest {
  readonly child: ChildProcess;
  readonly pid: number;
  readonly base: string;
  readonly exited: Promise<unknown>;
  readonly #tail: string[];

  private constructor(child: ChildProcess, base: string, tail: string[]) {
    this.child = child;
    this.pid = child.pid ?? -1;
    this.base = base;
    this.#tail = tail;
    this.exited = once(child, 'exit');
  }

  static async start(env: Record<string, string>): Promise<ServerUnderTest> {
    const port = await freePort();
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/server.ts'], {
      cwd: root,
      // The images set MALLOC_ARENA_MAX=2 (see the Dockerfiles); soak what is deployed unless told otherwise.
      env: { MALLOC_ARENA_MAX: '2', ...process.env, HOST: '127.0.0.1', PORT: String(port), LOG_LEVEL: 'warn', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    // The last lines only: a soak must not grow its own memory with the server's log.
    const tail: string[] = [];
    const keep = (chunk: Buffer): void => {
      tail.push(chunk.toString());
      if (tail.length > 40) tail.shift();
    };
    child.stdout?.on('data', keep);
    child.stderr?.on('data', keep);
    const server = new ServerUnderTest(child, `http://127.0.0.1:${port}`, tail);
    const deadline = performance.now() + 60_000;
    for (;;) {
      if (child.exitCode !== null) throw new Error(`the server exited with ${child.exitCode}: ${tail.join('')}`);
      if (performance.now() > deadline) {
        child.kill('SIGKILL');
        throw new Error('the server did not become ready in 60 s');
      }
      const ready = await fetch(`${server.base}/readyz`).then((r) => r.ok, () => false);
      if (ready) return server;
      await sleep(200);
    }
  }

  get alive(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  get logTail(): string {
    return this.#tail.join('');
  }

  async metrics(): Promise<string> {
    const response = await fetch(`${this.base}/metrics`, { signal: AbortSignal.timeout(5000) });
    return response.text();
  }

  async sessionsActive(): Promise<number> {
    return metricValues(await this.metrics(), 'app_webrtc_sessions_active').get('') ?? Number.NaN;
  }

  async stop(): Promise<void> {
    if (!this.alive) return;
    this.child.kill('SIGTERM');
    const killer = setTimeout(() => this.child.kill('SIGKILL'), 15_000);
    await this.exited;
    clearTimeout(killer);
  }
}

// ---- HTTP load ------------------------------------------------------------------------------------

interface MixEntry {
  readonly method: 'GET' | 'POST';
  readonly path: string;
  readonly body?: Buffer;
}

const RAW_BODY = Buffer.alloc(160 * 120 * 4, 0x7f);
const HTTP_MIX: readonly MixEntry[] = [
  { method: 'GET', path: '/process?pixels=320x240&effect=blur&iters=1' },
  { method: 'GET', path: '/process?pixels=640x480&effect=gaussian&sigma=2&iters=1' },
  { method: 'GET', path: '/process?pixels=1280x720&effect=invert&iters=1' },
  { method: 'GET', path: '/process?pixels=640x360&effect=pixelate&block=8&iters=1' },
  { method: 'GET', path: '/process?pixels=1280x720&effect=grayscale&iters=1' },
  { method: 'GET', path: '/process?pixels=320x240&effect=sharpen&iters=2' },
  { method: 'GET', path: '/process?pixels=640x480&effect=edge&iters=1' },
  { method: 'POST', path: '/process?pixels=160x120&effect=blur&iters=1', body: RAW_BODY },
  { method: 'GET', path: '/process?pixels=1920x1080&effect=blur&iters=1' },
];

/** Open loop: requests leave on a timetable; latency counts from each intended send time. */
class HttpLoad {
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

// ---- WebRTC sessions ------------------------------------------------------------------------------

/** `--sessions` slots; each runs one session at a time and replaces it when its lifetime is up. */
class SessionCycler {
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
      const effect = SESSION_EFFECTS[index % SESSION_EFFECTS.length] as string;
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

// ---- the run --------------------------------------------------------------------------------------

type Phase = 'warmup' | 'load' | 'quiet';

interface Sample extends ProcSample {
  tSeconds: number;
  phase: Phase;
  sessionsActive: number | null;
  /** The main thread's V8 heap in use and its external memory (ArrayBuffers), from /metrics: where RSS growth is not. */
  heapUsedMiB: number | null;
  externalMiB: number | null;
}

interface QuietPoint extends ProcSample {
  tSeconds: number;
  sessionsActive: number;
  /** Seconds the fd count took to settle (or the bound, when it never did). */
  settleSeconds: number;
}

interface SoakReport {
  date: string;
  machine: { cpus: number; model: string; node: string; loadavgBefore: number[]; loadavgAfter: number[] };
  options: { minutes: number; sessions: number; httpRate: number; resolution: string; fps: number; sessionSeconds: number; maxRssGrowthPercent: number };
  durationSeconds: number;
  warmupSeconds: number;
  rss: {
    /** Mean over the first window of load after the warm-up. */
    postWarmupMiB: number;
    /** Mean over the last window of load. */
    lastMiB: number;
    windowSeconds: number;
    growthPercent: number | null;
    minMiB: number;
    maxMiB: number;
    quietPostWarmupMiB: number;
    quietFinalMiB: number;
    /** Main-thread V8 heap in use, same windows. */
    heapPostWarmupMiB: number;
    heapLastMiB: number;
  };
  fds: { postWarmup: number; final: number; drift: number; minUnderLoad: number; maxUnderLoad: number };
  threads: { postWarmup: number; final: number; maxUnderLoad: number };
  http: { requests: number; statusCounts: Record<string, number>; errors: Record<string, number>; skipped: number; fiveXx: number; latency: LatencySummaryMs };
  sessions: {
    created: number;
    deleted: number;
    deleteFailures: number;
    rejected: number;
    failed: number;
    refusals: Record<string, number>;
    activeAtEnd: number;
    /** app_webrtc_sessions_total by outcome, from the server. */
    serverOutcomes: Record<string, number>;
    fps: { mean: number; min: number };
    roundTrip: LatencySummaryMs;
    frames: { sent: number; received: number; lost: number };
  };
  samples: Sample[];
  checks: { rssGrowth: boolean; fds: boolean; sessions: boolean; server: boolean };
  ok: boolean;
  serverLogTail?: string;
}

async function main(): Promise<void> {
  const options = parseOptions(process.argv.slice(2));
  const log = (line: string): void => {
    process.stderr.write(`${line}\n`);
  };
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

  // ---- figures ----
  const loadSamples = samples.filter((s) => s.phase === 'load' && s.tSeconds >= loadResumedAt && s.tSeconds <= loadEndedAt);
  const windowSeconds = Math.min(60, Math.max(0, loadEndedAt - loadResumedAt) / 2);
  const firstWindow = loadSamples.filter((s) => s.tSeconds < loadResumedAt + windowSeconds).map((s) => s.rssMiB);
  const lastWindow = loadSamples.filter((s) => s.tSeconds > loadEndedAt - windowSeconds).map((s) => s.rssMiB);
  const postWarmupMiB = mean(firstWindow);
  const lastMiB = mean(lastWindow);
  const heapOf = (xs: Sample[]): number => mean(xs.flatMap((s) => (s.heapUsedMiB === null ? [] : [s.heapUsedMiB])));
  const heapPostWarmupMiB = heapOf(loadSamples.filter((s) => s.tSeconds < loadResumedAt + windowSeconds));
  const heapLastMiB = heapOf(loadSamples.filter((s) => s.tSeconds > loadEndedAt - windowSeconds));
  const growthPercent = firstWindow.length > 0 && lastWindow.length > 0 ? round1(((lastMiB - postWarmupMiB) / postWarmupMiB) * 100) : null;
  const fdsUnderLoad = loadSamples.map((s) => s.fds);
  const activeAtEnd = quietFinal?.sessionsActive ?? Number.NaN;
  const fdDrift = quietFinal && quietAfterWarmup ? quietFinal.fds - quietAfterWarmup.fds : Number.NaN;
  const statusCounts = Object.fromEntries([...recorder.statusCounts()].map(([code, n]) => [String(code), n]));
  const fiveXx = Object.entries(statusCounts).reduce((sum, [code, n]) => sum + (code.startsWith('5') ? n : 0), 0);

  const checks = {
    rssGrowth: growthPercent !== null && growthPercent < options.maxRssGrowthPercent,
    fds: Math.abs(fdDrift) <= FD_TOLERANCE,
    sessions: activeAtEnd === 0 && cycler.created === cycler.deleted,
    server: serverAlive && failure === undefined,
  };
  const report: SoakReport = {
    date: new Date().toISOString(),
    machine: { cpus: os.cpus().length, model: os.cpus()[0]?.model.trim() ?? 'unknown', node: process.version, loadavgBefore, loadavgAfter: os.loadavg() },
    options: {
      minutes: options.minutes,
      sessions: options.sessions,
      httpRate: options.httpRate,
      resolution: `${options.width}x${options.height}`,
      fps: options.fps,
      sessionSeconds: options.sessionSeconds,
      maxRssGrowthPercent: options.maxRssGrowthPercent,
    },
    durationSeconds: tSeconds(),
    warmupSeconds: round1(warmupMs / 1000),
    rss: {
      postWarmupMiB: round1(postWarmupMiB),
      lastMiB: round1(lastMiB),
      windowSeconds: round1(windowSeconds),
      growthPercent,
      minMiB: loadSamples.length ? Math.min(...loadSamples.map((s) => s.rssMiB)) : Number.NaN,
      maxMiB: loadSamples.length ? Math.max(...loadSamples.map((s) => s.rssMiB)) : Number.NaN,
      quietPostWarmupMiB: quietAfterWarmup?.rssMiB ?? Number.NaN,
      quietFinalMiB: quietFinal?.rssMiB ?? Number.NaN,
      heapPostWarmupMiB: round1(heapPostWarmupMiB),
      heapLastMiB: round1(heapLastMiB),
    },
    fds: {
      postWarmup: quietAfterWarmup?.fds ?? Number.NaN,
      final: quietFinal?.fds ?? Number.NaN,
      drift: fdDrift,
      minUnderLoad: fdsUnderLoad.length ? Math.min(...fdsUnderLoad) : Number.NaN,
      maxUnderLoad: fdsUnderLoad.length ? Math.max(...fdsUnderLoad) : Number.NaN,
    },
    threads: {
      postWarmup: quietAfterWarmup?.threads ?? Number.NaN,
      final: quietFinal?.threads ?? Number.NaN,
      maxUnderLoad: loadSamples.length ? Math.max(...loadSamples.map((s) => s.threads)) : Number.NaN,
    },
    http: {
      requests: recorder.requests,
      statusCounts,
      errors: Object.fromEntries([...recorder.errorCounts].sort(([a], [b]) => a.localeCompare(b))),
      skipped: http.skipped,
      fiveXx,
      latency: summarize(recorder.latencyUs),
    },
    sessions: {
      created: cycler.created,
      deleted: cycler.deleted,
      deleteFailures: cycler.deleteFailures,
      rejected: cycler.rejected,
      failed: cycler.failed,
      refusals: Object.fromEntries(cycler.refusals),
      activeAtEnd,
      serverOutcomes: Object.fromEntries(metricValues(finalMetrics, 'app_webrtc_sessions_total', 'outcome')),
      fps: { mean: round1(mean(cycler.fps)), min: cycler.fps.length ? round1(Math.min(...cycler.fps)) : Number.NaN },
      roundTrip: summarize(cycler.roundTripUs),
      frames: { sent: cycler.framesSent, received: cycler.framesReceived, lost: cycler.framesLost },
    },
    samples,
    checks,
    ok: Object.values(checks).every(Boolean),
  };
  if (!report.ok) report.serverLogTail = serverLogTail.slice(-4000);
  if (failure !== undefined) log(`soak: ${failure}`);

  if (options.json) process.stdout.write(`${JSON.stringify(report)}\n`);
  else process.stdout.write(formatReport(report));
  process.exitCode = report.ok ? 0 : 1;
}

function formatReport(r: SoakReport): string {
  const mark = (ok: boolean): string => (ok ? 'ok' : 'FAIL');
  const codes = Object.entries(r.http.statusCounts).map(([code, n]) => `${code}: ${n}`).join('   ') || 'none';
  const errors = Object.entries(r.http.errors).map(([cause, n]) => `${cause}: ${n}`).join('   ') || 'none';
  const outcomes = Object.entries(r.sessions.serverOutcomes).map(([o, n]) => `${o} ${n}`).join(', ') || 'none';
  const lines = [
    `Soak  ${r.date}  ${r.machine.cpus} CPUs (${r.machine.model}), Node ${r.machine.node}`,
    `  ${r.options.minutes} min, ${r.options.sessions} session(s) ${r.options.resolution}@${r.options.fps}, ${r.options.httpRate} req/s; ` +
      `warm-up ${r.warmupSeconds} s; load average ${r.machine.loadavgBefore.map((l) => l.toFixed(2)).join(' ')} before, ` +
      `${r.machine.loadavgAfter.map((l) => l.toFixed(2)).join(' ')} after`,
    '',
    `RSS               ${r.rss.postWarmupMiB} MiB after warm-up -> ${r.rss.lastMiB} MiB at the end (means over ${r.rss.windowSeconds} s): ` +
      `${r.rss.growthPercent ?? 'n/a'} % (limit ${r.options.maxRssGrowthPercent} %)   ${mark(r.checks.rssGrowth)}`,
    `                  min ${r.rss.minMiB} / max ${r.rss.maxMiB} MiB under load; quiet ${r.rss.quietPostWarmupMiB} -> ${r.rss.quietFinalMiB} MiB; ` +
      `main-thread heap ${r.rss.heapPostWarmupMiB} -> ${r.rss.heapLastMiB} MiB`,
    `File descriptors  quiet ${r.fds.postWarmup} after warm-up -> ${r.fds.final} at the end (drift ${r.fds.drift}, ±${FD_TOLERANCE})   ${mark(r.checks.fds)}`,
    `                  min ${r.fds.minUnderLoad} / max ${r.fds.maxUnderLoad} under load after warm-up`,
    `Threads           quiet ${r.threads.postWarmup} -> ${r.threads.final}; max ${r.threads.maxUnderLoad} under load`,
    `Sessions          ${r.sessions.created} created, ${r.sessions.deleted} deleted, ${r.sessions.rejected} rejected, ${r.sessions.failed} failed; ` +
      `active at the end ${r.sessions.activeAtEnd}   ${mark(r.checks.sessions)}`,
    `                  server outcomes: ${outcomes}; fps mean ${r.sessions.fps.mean} min ${r.sessions.fps.min}; ` +
      `round trip p50 ${formatMs(r.sessions.roundTrip.p50)} ms p99 ${formatMs(r.sessions.roundTrip.p99)} ms`,
    `HTTP              ${r.http.requests} requests, p50 ${formatMs(r.http.latency.p50)} ms, p99 ${formatMs(r.http.latency.p99)} ms, max ${formatMs(r.http.latency.max)} ms` +
      `${r.http.skipped > 0 ? `, ${r.http.skipped} not sent (over ${HTTP_MAX_IN_FLIGHT} in flight)` : ''}`,
    `                  status ${codes}; errors ${errors}`,
    `Server            ${r.checks.server ? 'ran to the end' : 'FAILED (exited or the run broke off)'}`,
    '',
    r.ok ? 'PASS' : 'FAIL',
    '',
  ];
  return lines.join('\n');
}

main().catch((error: unknown) => {
  process.stderr.write(`soak failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exitCode = 1;
});
