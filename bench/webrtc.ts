/**
 * Server cost of real-time sessions: N Node publishers send 1280x720 at 30 fps over WHIP to a server
 * running in a child process and receive the processed video back. For each phase (the engine with
 * iters=0, which copies frames through the worker without running a kernel, then the effect) it
 * reports the server's CPU from /proc/<pid>/stat (all its threads: libwebrtc's VP8 decode and
 * encode, the event loop, the effect workers), cores per session, the returned frame rate and
 * resolution per session, and the server frame latency p95 (from /metrics and from each session).
 *
 *   node --import tsx bench/webrtc.ts --sessions 2 --seconds 20 [--effect blur] [--iters 1] [--json]
 *
 * The publishers run in this process and cost about as much CPU as the server: on a small machine
 * they compete with it, so the figures are an upper bound on latency and a lower bound on fps.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import os from 'node:os';
import { parseArgs } from 'node:util';
import { WhipPublisher, i420Frame, type I420Frame } from '../tools/rtc-load/client/index.ts';
import type { SessionStats } from '../src/webrtc/publisher-session.ts';
import { freePort } from '../test/ports.ts';

const { values: args } = parseArgs({
  options: {
    sessions: { type: 'string', default: '1' },
    seconds: { type: 'string', default: '20' },
    warmup: { type: 'string', default: '6' },
    effect: { type: 'string', default: 'blur' },
    iters: { type: 'string', default: '1' },
    width: { type: 'string', default: '1280' },
    height: { type: 'string', default: '720' },
    fps: { type: 'string', default: '30' },
    'no-baseline': { type: 'boolean', default: false },
    threads: { type: 'boolean', default: false },
    json: { type: 'boolean', default: false },
  },
});
const SESSIONS = Number(args.sessions);
const SECONDS = Number(args.seconds);
const WARMUP_SECONDS = Number(args.warmup);
const WIDTH = Number(args.width);
const HEIGHT = Number(args.height);
const FPS = Number(args.fps);
const CLOCK_TICKS_PER_SECOND = 100;

const log = (line: string) => {
  if (!args.json) process.stdout.write(`${line}\n`);
};


async function startServer(port: number): Promise<ChildProcess> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/server.ts'], {
    env: {
      ...process.env,
      PORT: String(port),
      HOST: '127.0.0.1',
      LOG_LEVEL: 'warn',
      MAX_SESSIONS: String(Math.max(SESSIONS, 1) + 2),
      // Every publisher runs here, on one address.
      MAX_SESSIONS_PER_CLIENT: '0',
      SLO_ADMISSION: 'false',
      SHUTDOWN_DELAY_SECONDS: '0',
      SESSION_DRAIN_SECONDS: '0',
    },
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  const deadline = performance.now() + 60_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`the server exited with ${child.exitCode}`);
    if (performance.now() > deadline) throw new Error('the server did not become ready in 60 s');
    const ready = await fetch(`http://127.0.0.1:${port}/readyz`).then((r) => r.ok, () => false);
    if (ready) return child;
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** utime + stime of a process, all threads, in seconds. */
function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS_PER_SECOND;
}

/** CPU seconds per thread name of a process (libwebrtc names its threads; node's are 'node' and workers). */
function threadCpuSeconds(pid: number): Map<string, number> {
  const out = new Map<string, number>();
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      const stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
      const name = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')')).replace(/\d+$/, '#');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      out.set(name, (out.get(name) ?? 0) + (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS_PER_SECOND);
    } catch {
      // The thread ended between the listing and the read.
    }
  }
  return out;
}

/** Cumulative buckets of a Prometheus histogram. */
function histogram(text: string, name: string): { le: number; count: number }[] {
  const out: { le: number; count: number }[] = [];
  for (const m of text.matchAll(new RegExp(`^${name}_bucket\\{le="([^"]+)"\\} (\\S+)$`, 'gm'))) {
    out.push({ le: m[1] === '+Inf' ? Number.POSITIVE_INFINITY : Number(m[1]), count: Number(m[2]) });
  }
  return out;
}

/** Sum over all label sets of a metric's samples. */
function sumOf(text: string, name: string): number {
  let sum = 0;
  for (const m of text.matchAll(new RegExp(`^${name}(?:\\{[^}]*\\})? (\\S+)$`, 'gm'))) sum += Number(m[1]);
  return sum;
}

/** The q-quantile of the observations between two scrapes, interpolated within its bucket. */
function quantileBetween(before: { le: number; count: number }[], after: { le: number; count: number }[], q: number): number | undefined {
  const deltas = after.map((b, i) => ({ le: b.le, count: b.count - (before[i]?.count ?? 0) }));
  const total = deltas.at(-1)?.count ?? 0;
  if (total === 0) return undefined;
  const rank = q * total;
  let lower = 0;
  let below = 0;
  for (const b of deltas) {
    if (b.count >= rank) {
      if (!Number.isFinite(b.le)) return lower;
      return lower + ((rank - below) / Math.max(1, b.count - below)) * (b.le - lower);
    }
    lower = b.le;
    below = b.count;
  }
  return undefined;
}

/** A moving test card (gradients, a checkerboard, a sweeping bar) so that VP8 has real motion to code. */
function cards(count: number): I420Frame[] {
  return Array.from({ length: count }, (_, i) => {
    const shift = i * 8;
    return i420Frame(WIDTH, HEIGHT, (plane, x, y) => {
      if (plane !== 0) return plane === 1 ? 96 + ((x + shift) & 63) : 160 - ((y + shift) & 63);
      const bar = Math.abs(x - ((shift * 4) % WIDTH)) < 40 ? 80 : 0;
      const checker = (((x + shift) >> 5) ^ (y >> 5)) & 1 ? 40 : 0;
      return Math.min(255, ((x + y + shift) & 127) + checker + bar);
    });
  });
}

interface PhaseResult {
  phase: string;
  sessions: number;
  seconds: number;
  serverCores: number;
  coresPerSession: number;
  clientCores: number;
  /** Frames the server received / processed per second, per session (upstream losses show here). */
  serverInFps: (number | undefined)[];
  serverProcessedFps: (number | undefined)[];
  returnedFps: number[];
  returnedSize: string[];
  frameP95MsMetrics: number | undefined;
  frameP95MsSessions: (number | undefined)[];
  framesDroppedPerSecond: number;
  /** Worker time per second in the job itself (copy in, kernel, copy out), from app_effect_duration_seconds. */
  computeCores: number;
  threadCores: Record<string, number>;
}

async function phase(base: string, pid: number, name: string, query: string, frames: I420Frame[]): Promise<PhaseResult> {
  const publishers: WhipPublisher[] = [];
  const stops: (() => void)[] = [];
  const received: number[] = [];
  const sizes: string[] = [];
  try {
    for (let i = 0; i < SESSIONS; i++) {
      const publisher = await WhipPublisher.publish(`${base}/whip?${query}`);
      publishers.push(publisher);
      received.push(0);
      sizes.push('-');
      publisher.peer.on('frame', (frame) => {
        received[i]! += 1;
        sizes[i] = `${frame.width}x${frame.height}`;
      });
      // Staggered so that the sessions' frames do not all arrive at once.
      await new Promise((r) => setTimeout(r, 1000 / FPS / SESSIONS));
      stops.push(publisher.startFrames(FPS, (n) => frames[n % frames.length]!));
    }
    log(`  ${name}: ${SESSIONS} session(s) up, warming up ${WARMUP_SECONDS} s (bandwidth estimation ramps up)`);
    await new Promise((r) => setTimeout(r, WARMUP_SECONDS * 1000));

    const textBefore = await (await fetch(`${base}/metrics`)).text();
    const metricsBefore = histogram(textBefore, 'app_frame_latency_seconds');
    const droppedBefore = sumOf(textBefore, 'app_frames_dropped_total');
    const computeBefore = sumOf(textBefore, 'app_effect_duration_seconds_sum');
    const receivedBefore = [...received];
    // Under overload the server's pressure guard may answer 503: those figures are left out.
    const sessionStats = () =>
      Promise.all(
        publishers.map(async (p) => {
          const res = await fetch(p.resourceUrl).catch(() => undefined);
          return res?.ok ? ((await res.json()) as SessionStats) : undefined;
        }),
      );
    const statsBefore = await sessionStats();
    const serverBefore = cpuSeconds(pid);
    const threadsBefore = threadCpuSeconds(pid);
    const clientBefore = process.cpuUsage();
    const t0 = performance.now();
    await new Promise((r) => setTimeout(r, SECONDS * 1000));
    const elapsed = (performance.now() - t0) / 1000;
    const serverCores = (cpuSeconds(pid) - serverBefore) / elapsed;
    const threadCores: Record<string, number> = {};
    for (const [thread, seconds] of threadCpuSeconds(pid)) {
      const cores = (seconds - (threadsBefore.get(thread) ?? 0)) / elapsed;
      if (cores >= 0.005) threadCores[thread] = Number(cores.toFixed(3));
    }
    const client = process.cpuUsage(clientBefore);
    const metricsText = await (await fetch(`${base}/metrics`)).text();
    const droppedAfter = sumOf(metricsText, 'app_frames_dropped_total');
    const computeCores = (sumOf(metricsText, 'app_effect_duration_seconds_sum') - computeBefore) / elapsed;
    const p95 = quantileBetween(metricsBefore, histogram(metricsText, 'app_frame_latency_seconds'), 0.95);
    const statsAfter = await sessionStats();
    return {
      phase: name,
      sessions: SESSIONS,
      seconds: elapsed,
      serverCores,
      coresPerSession: serverCores / SESSIONS,
      clientCores: (client.user + client.system) / 1e6 / elapsed,
      serverInFps: statsAfter.map((a, i) => perSecond(a?.framesReceived, statsBefore[i]?.framesReceived, elapsed)),
      serverProcessedFps: statsAfter.map((a, i) => perSecond(a?.framesProcessed, statsBefore[i]?.framesProcessed, elapsed)),
      returnedFps: received.map((n, i) => (n - receivedBefore[i]!) / elapsed),
      returnedSize: sizes,
      frameP95MsMetrics: p95 === undefined ? undefined : p95 * 1000,
      frameP95MsSessions: statsAfter.map((a) => a?.frameLatencyP95Ms),
      framesDroppedPerSecond: (droppedAfter - droppedBefore) / elapsed,
      computeCores,
      threadCores,
    };
  } finally {
    for (const stop of stops) stop();
    await Promise.all(publishers.map((p) => p.close().catch(() => 0)));
    // The next phase starts from an empty server (a refused DELETE leaves the idle timeout to end it).
    const deadline = performance.now() + 60_000;
    while (performance.now() < deadline) {
      const text = await fetch(`${base}/metrics`).then((r) => r.text(), () => '');
      if (/^app_webrtc_sessions_active 0$/m.test(text)) break;
      await new Promise((r) => setTimeout(r, 500));
    }
  }
}

const perSecond = (after: number | undefined, before: number | undefined, seconds: number): number | undefined =>
  after === undefined || before === undefined ? undefined : (after - before) / seconds;

const fmt = (n: number | undefined, digits = 2) => (n === undefined ? '-' : n.toFixed(digits));

async function main(): Promise<void> {
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  log(`webrtc bench: ${SESSIONS} x ${WIDTH}x${HEIGHT}@${FPS}, ${SECONDS} s per phase; ${os.cpus().length} CPUs (${os.cpus()[0]?.model.trim()}), load ${os.loadavg().map((l) => l.toFixed(2)).join(' ')}`);
  const frames = cards(30);
  const server = await startServer(port);
  const pid = server.pid!;
  const results: PhaseResult[] = [];
  try {
    if (!args['no-baseline']) results.push(await phase(base, pid, 'iters=0 (no kernel)', `effect=${args.effect}&iters=0`, frames));
    results.push(await phase(base, pid, `${args.effect} iters=${args.iters}`, `effect=${args.effect}&iters=${args.iters}`, frames));
  } finally {
    server.kill('SIGTERM');
    const killer = setTimeout(() => server.kill('SIGKILL'), 15_000);
    await new Promise((r) => server.once('exit', r));
    clearTimeout(killer);
  }
  if (args.json) {
    process.stdout.write(`${JSON.stringify({ date: new Date().toISOString(), cpus: os.cpus().length, loadavg: os.loadavg(), results }, null, 2)}\n`);
  } else {
    log('');
    for (const r of results) {
      const each = (xs: (number | undefined)[], digits = 1) => xs.map((x) => fmt(x, digits)).join(' ');
      log(`${r.phase}: server ${fmt(r.serverCores)} cores = ${fmt(r.coresPerSession, 3)} per session (effect jobs on workers: ${fmt(r.computeCores, 3)}; publishers: ${fmt(r.clientCores)} cores)`);
      log(`  fps per session: server in ${each(r.serverInFps)}, processed ${each(r.serverProcessedFps)}, returned ${each(r.returnedFps)} at ${r.returnedSize.join(' ')}`);
      log(`  frame latency p95: ${fmt(r.frameP95MsMetrics, 1)} ms (histogram), per session ${each(r.frameP95MsSessions)} ms (last 128 frames); dropped ${fmt(r.framesDroppedPerSecond, 1)}/s`);
    }
    if (args.threads) {
      for (const r of results) {
        const top = Object.entries(r.threadCores).sort((a, b) => b[1] - a[1]);
        log(`server threads, ${r.phase}: ${top.map(([name, cores]) => `${name} ${cores.toFixed(3)}`).join(', ')}`);
      }
    }
    log(`load after: ${os.loadavg().map((l) => l.toFixed(2)).join(' ')}`);
  }
  // libwebrtc's threads keep the loop alive until every peer is closed; the publishers are.
}

main().catch((err: unknown) => {
  process.stderr.write(`bench failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exitCode = 1;
});
