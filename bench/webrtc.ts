/**
 * Sessions per pod, measured against the floor. N Node publishers send a moving test card at 30 fps
 * over WHIP and receive the video back, once to the service (src/server.ts, the effect through the
 * engine) and once to a bare WHIP echo on the same binding (bench/webrtc-echo.ts: decode, touch the
 * chroma, send back), both in child processes, in the same run, alternating at each session count.
 *
 *   node --import tsx bench/webrtc.ts --sizes 1280x720,640x480 --server-cpus 0 --client-cpus 1 --find-max
 *   node --import tsx bench/webrtc.ts --sessions 2 [--targets echo,service] [--effect blur] [--iters 1]
 *
 * For each phase: the server's CPU from /proc/<pid>/stat (all threads), the returned fps per session,
 * CPU milliseconds per returned frame (the figure the service is held to: ≤ 1.10× the echo's when
 * saturated, ≤ 1.05× when not), the service's frame latency p95 (from /metrics between two scrapes)
 * and its skipped frames by reason. A session count "holds" when every session gets ≥ 29 fps back
 * (and, for the service, the frame p95 is under FRAME_SLO_MS). With --find-max the count grows until
 * neither target holds; --capacity-out writes the largest count that held for the service, per
 * size and per server core, as JSON for the capacity planner and the MAX_SESSIONS default.
 *
 * The publishers cost about as much as a server (they encode and decode too): pin them away from
 * the servers with --server-cpus / --client-cpus (taskset), or they take the server's CPU. A phase
 * whose server received < 29 fps from a publisher is marked publisher-bound: its figures say more
 * about the publishers' cores than about the server.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import os from 'node:os';
import { parseArgs } from 'node:util';
import { WhipPublisher, i420Frame, type I420Frame } from '../tools/rtc-load/client/index.ts';
import { freePort } from '../test/ports.ts';

const { values: args } = parseArgs({
  options: {
    sizes: { type: 'string', default: '1280x720' },
    sessions: { type: 'string', default: '1' },
    'find-max': { type: 'boolean', default: false },
    repeat: { type: 'string', default: '1' },
    'max-sessions': { type: 'string', default: '12' },
    targets: { type: 'string', default: 'echo,service' },
    seconds: { type: 'string', default: '15' },
    warmup: { type: 'string', default: '6' },
    'server-warmup': { type: 'string', default: '15' },
    effect: { type: 'string', default: 'blur' },
    iters: { type: 'string', default: '1' },
    fps: { type: 'string', default: '30' },
    'min-fps': { type: 'string', default: '29' },
    'slo-ms': { type: 'string', default: '20' },
    'server-cpus': { type: 'string' },
    'client-cpus': { type: 'string' },
    'server-node-args': { type: 'string', default: '' },
    'capacity-out': { type: 'string' },
    threads: { type: 'boolean', default: false },
    json: { type: 'boolean', default: false },
  },
});
const SECONDS = Number(args.seconds);
const WARMUP_SECONDS = Number(args.warmup);
const FPS = Number(args.fps);
const MIN_FPS = Number(args['min-fps']);
const SLO_MS = Number(args['slo-ms']);
const MAX_SESSIONS = Number(args['max-sessions']);
const REPEAT = Number(args.repeat);
const CLOCK_TICKS_PER_SECOND = 100;
const SERVER_CPUS = args['server-cpus'];
const CLIENT_CPUS = args['client-cpus'];
type Target = 'echo' | 'service';
const TARGETS = args.targets.split(',').map((t) => t.trim()) as Target[];

const log = (line: string) => {
  if (!args.json) process.stdout.write(`${line}\n`);
};

/** The number of CPUs in a taskset list like "0", "0-3" or "0,2". */
function cpuCount(list: string | undefined): number {
  if (list === undefined) return os.availableParallelism();
  let n = 0;
  for (const part of list.split(',')) {
    const [a, b] = part.split('-').map(Number);
    n += b === undefined ? 1 : b - a! + 1;
  }
  return n;
}

function spawnPinned(script: string, port: number, env: Record<string, string>, nodeArgs: string[] = []): ChildProcess {
  const command = [process.execPath, ...nodeArgs, '--import', 'tsx', script];
  const [file, ...rest] = SERVER_CPUS === undefined ? command : ['taskset', '-c', SERVER_CPUS, ...command];
  return spawn(file!, rest, {
    env: { ...process.env, PORT: String(port), HOST: '127.0.0.1', ...env },
    stdio: ['ignore', 'inherit', 'inherit'],
  });
}

async function waitReady(child: ChildProcess, base: string): Promise<void> {
  const deadline = performance.now() + 60_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`a server exited with ${child.exitCode}`);
    if (performance.now() > deadline) throw new Error('a server did not become ready in 60 s');
    if (await fetch(`${base}/readyz`).then((r) => r.ok, () => false)) return;
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
  const tids = readdirSync(`/proc/${pid}/task`).sort((a, b) => Number(a) - Number(b));
  for (const tid of tids) {
    try {
      const stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
      // The main thread (tid = pid) apart from the others, which are also named 'node': V8's helper
      // threads (started first: GC, compilation) and the effect workers (started last), told apart
      // by their start order.
      const comm = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
      const name = tid === String(pid) ? 'main' : comm === 'node' ? `node@${tids.indexOf(tid)}` : comm.replace(/\d+$/, '#');
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

/** A metric's samples summed per value of one label (all samples under '' when the label is absent). */
function byLabel(text: string, name: string, label: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const m of text.matchAll(new RegExp(`^${name}(?:\\{([^}]*)\\})? (\\S+)$`, 'gm'))) {
    const value = new RegExp(`${label}="([^"]*)"`).exec(m[1] ?? '')?.[1] ?? '';
    out.set(value, (out.get(value) ?? 0) + Number(m[2]));
  }
  return out;
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
function cards(width: number, height: number, count: number): I420Frame[] {
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

interface Server {
  readonly target: Target;
  readonly base: string;
  readonly child: ChildProcess;
}

interface PhaseResult {
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
  /** Every session got ≥ MIN_FPS back (and the service's p95 was under the SLO). */
  holds: boolean;
  /** A publisher delivered < MIN_FPS to the server: the client cores, not the server, set the figures. */
  publisherBound: boolean;
}

async function phase(server: Server, size: string, sessions: number, query: string, frames: I420Frame[], seconds = SECONDS): Promise<PhaseResult> {
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
      await new Promise((r) => setTimeout(r, 1000 / FPS / sessions));
      stops.push(publisher.startFrames(FPS, (n) => frames[n % frames.length]!));
    }
    await new Promise((r) => setTimeout(r, WARMUP_SECONDS * 1000));

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
      holds: returnedFps.every((f) => f >= MIN_FPS) && (server.target === 'echo' || (frameP95Ms !== undefined && frameP95Ms <= SLO_MS)),
      publisherBound: serverInFps.some((f) => f !== undefined && f < MIN_FPS),
    };
  } finally {
    for (const stop of stops) stop();
    await Promise.all(publishers.map((p) => p.close().catch(() => 0)));
    await settle(server);
  }
}

/** Waits until the server holds no session, so that the next phase starts from an empty server. */
async function settle(server: Server): Promise<void> {
  const deadline = performance.now() + 60_000;
  while (performance.now() < deadline) {
    const empty =
      server.target === 'service'
        ? /^app_webrtc_sessions_active 0$/m.test(await fetch(`${server.base}/metrics`).then((r) => r.text(), () => ''))
        : ((await fetch(`${server.base}/sessions`).then((r) => r.json(), () => ({ active: -1 }))) as { active: number }).active === 0;
    if (empty) return;
    await new Promise((r) => setTimeout(r, 500));
  }
}

async function startServers(sessionsHint: number): Promise<Server[]> {
  const servers: Server[] = [];
  for (const target of TARGETS) {
    const port = await freePort();
    const base = `http://127.0.0.1:${port}`;
    const child =
      target === 'echo'
        ? spawnPinned('bench/webrtc-echo.ts', port, {}, args['server-node-args'].split(' ').filter(Boolean))
        : spawnPinned(
            'src/server.ts',
            port,
            {
              LOG_LEVEL: 'warn',
              MAX_SESSIONS: String(sessionsHint + 2),
              SLO_ADMISSION: 'false',
              SHUTDOWN_DELAY_SECONDS: '0',
              SESSION_DRAIN_SECONDS: '0',
              SESSION_RATE_LIMIT_PER_MINUTE: '0',
              // Every publisher runs here, on one address.
              MAX_SESSIONS_PER_CLIENT: '0',
              FRAME_SLO_MS: String(SLO_MS),
            },
            args['server-node-args'].split(' ').filter(Boolean),
          );
    servers.push({ target, base, child });
    await waitReady(child, base);
  }
  return servers;
}

async function stopServers(servers: Server[]): Promise<void> {
  await Promise.all(
    servers.map(async ({ child }) => {
      if (child.exitCode !== null) return;
      child.kill('SIGTERM');
      const killer = setTimeout(() => child.kill('SIGKILL'), 20_000);
      await new Promise((r) => child.once('exit', r));
      clearTimeout(killer);
    }),
  );
}

interface Median {
  cpuMsPerReturnedFrame: number;
  cpuMsPerEncodedFrame: number;
  /** Mean over the sessions of a run, median over the runs. */
  returnedFps: number;
  serverCores: number;
  frameP95Ms: number | undefined;
  holdsShare: number;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

function medianOf(runs: PhaseResult[]): Median {
  const p95s = runs.map((r) => r.frameP95Ms).filter((x): x is number => x !== undefined);
  return {
    cpuMsPerReturnedFrame: median(runs.map((r) => r.cpuMsPerReturnedFrame)),
    cpuMsPerEncodedFrame: median(runs.map((r) => r.cpuMsPerEncodedFrame)),
    returnedFps: median(runs.map((r) => r.returnedFps.reduce((a, b) => a + b, 0) / r.returnedFps.length)),
    serverCores: median(runs.map((r) => r.serverCores)),
    frameP95Ms: p95s.length > 0 ? median(p95s) : undefined,
    holdsShare: runs.filter((r) => r.holds && !r.publisherBound).length / runs.length,
  };
}

const fmt = (n: number | undefined, digits = 2) => (n === undefined ? '-' : n.toFixed(digits));

function report(r: PhaseResult, echo: PhaseResult | undefined): void {
  const each = (xs: (number | undefined)[], digits = 1) => xs.map((x) => fmt(x, digits)).join(' ');
  const ratio = echo && r !== echo ? ` = ${(r.cpuMsPerReturnedFrame / echo.cpuMsPerReturnedFrame).toFixed(3)}x echo` : '';
  log(
    `  ${r.target.padEnd(7)} ${r.sessions} x ${r.size}: server ${fmt(r.serverCores)} cores, ${fmt(r.cpuMsPerReturnedFrame)} ms CPU per returned frame${ratio};` +
      ` (${fmt(r.cpuMsPerEncodedFrame)} per encoded${echo && r !== echo ? ` = ${(r.cpuMsPerEncodedFrame / echo.cpuMsPerEncodedFrame).toFixed(3)}x` : ''});` +
      ` fps in ${each(r.serverInFps)}, encoded ${each(r.encodedFps)}, returned ${each(r.returnedFps)} at ${[...new Set(r.returnedSize)].join(' ')}` +
      (r.target === 'service' ? `; p95 ${fmt(r.frameP95Ms, 1)} ms; skipped/s ${JSON.stringify(r.skippedPerSecond)}` : '') +
      `; publishers ${fmt(r.clientCores)} cores${r.holds ? ' HOLDS' : ''}${r.publisherBound ? ' (publisher-bound)' : ''}`,
  );
  if (args.threads) {
    const top = Object.entries(r.threadCores).sort((a, b) => b[1] - a[1]);
    log(`    threads: ${top.map(([name, cores]) => `${name} ${cores.toFixed(3)}`).join(', ')}`);
  }
}

async function main(): Promise<void> {
  // Pin this process (the publishers, and libwebrtc's threads they start) before any thread exists.
  if (CLIENT_CPUS !== undefined) execFileSync('taskset', ['-a', '-p', '-c', CLIENT_CPUS, String(process.pid)], { stdio: 'ignore' });
  const sizes = args.sizes.split(',').map((s) => s.trim());
  const counts = args['find-max'] ? Array.from({ length: MAX_SESSIONS }, (_, i) => i + 1) : args.sessions.split(',').map(Number);
  const loadBefore = os.loadavg();
  log(
    `webrtc bench: ${sizes.join(', ')} at ${FPS} fps, ${SECONDS} s per phase (+${WARMUP_SECONDS} s warm-up); ${os.cpus().length} CPUs (${os.cpus()[0]?.model.trim()}),` +
      ` servers on ${SERVER_CPUS ?? 'any'} (${cpuCount(SERVER_CPUS)} cores), publishers on ${CLIENT_CPUS ?? 'any'}; load ${loadBefore.map((l) => l.toFixed(2)).join(' ')}; Node ${process.version}`,
  );
  const servers = await startServers(Math.max(...counts));
  const results: PhaseResult[] = [];
  const capacity: Record<string, { service: number; echo: number }> = {};
  const pairs: { size: string; sessions: number; service: Median; echo: Median; ratio: number }[] = [];
  try {
    for (const size of sizes) {
      const [width, height] = size.split('x').map(Number) as [number, number];
      const frames = cards(width, height, 30);
      // A fresh server compiles its hot code (TurboFan, on V8's helper threads) during its first
      // seconds of frames; that is not a per-frame cost, so each server gets one unmeasured session first.
      if (Number(args['server-warmup']) > 0) {
        for (const server of servers) await phase(server, size, 1, `effect=${args.effect}&iters=${args.iters}`, frames, Number(args['server-warmup']));
      }
      const held = { service: 0, echo: 0 };
      const failed = new Set<Target>();
      for (const n of counts) {
        // Echo and service alternate, REPEAT times each, so that both see the same background load.
        const runs: PhaseResult[] = [];
        for (let rep = 0; rep < REPEAT; rep++) {
          let echo: PhaseResult | undefined;
          for (const server of servers) {
            if (args['find-max'] && failed.has(server.target)) continue;
            const r = await phase(server, size, n, `effect=${args.effect}&iters=${args.iters}`, frames);
            if (r.target === 'echo') echo = r;
            runs.push(r);
            results.push(r);
            report(r, echo);
          }
        }
        const medians = new Map<Target, Median>();
        for (const target of TARGETS) {
          const mine = runs.filter((r) => r.target === target);
          if (mine.length === 0) continue;
          const m = medianOf(mine);
          medians.set(target, m);
          // A count holds when at least half of its repeats held.
          if (m.holdsShare >= 0.5) held[target] = Math.max(held[target], n);
          else failed.add(target);
        }
        const e = medians.get('echo');
        const v = medians.get('service');
        if (e && v) {
          log(
            `  => ${n} x ${size}, medians of ${REPEAT}: CPU per returned frame ${fmt(v.cpuMsPerReturnedFrame)} ms (service) / ${fmt(e.cpuMsPerReturnedFrame)} ms (echo) = ${(v.cpuMsPerReturnedFrame / e.cpuMsPerReturnedFrame).toFixed(3)}x;` +
              ` per encoded frame ${fmt(v.cpuMsPerEncodedFrame)} / ${fmt(e.cpuMsPerEncodedFrame)} ms = ${(v.cpuMsPerEncodedFrame / e.cpuMsPerEncodedFrame).toFixed(3)}x;` +
              ` returned fps ${fmt(v.returnedFps, 1)} / ${fmt(e.returnedFps, 1)}; server cores ${fmt(v.serverCores)} / ${fmt(e.serverCores)}`,
          );
          pairs.push({ size, sessions: n, service: v, echo: e, ratio: v.cpuMsPerReturnedFrame / e.cpuMsPerReturnedFrame });
        }
        if (args['find-max'] && servers.every((s) => failed.has(s.target))) break;
      }
      capacity[size] = held;
      log(`  ${size}: the service held ${held.service}, the echo ${held.echo} session(s) on ${cpuCount(SERVER_CPUS)} core(s)`);
    }
  } finally {
    await stopServers(servers);
  }
  const loadAfter = os.loadavg();
  const summary = {
    date: new Date().toISOString(),
    node: process.version,
    cpuModel: os.cpus()[0]?.model.trim(),
    machineCpus: os.cpus().length,
    serverCores: cpuCount(SERVER_CPUS),
    serverCpus: SERVER_CPUS ?? 'any',
    clientCpus: CLIENT_CPUS ?? 'any',
    loadavgBefore: loadBefore,
    loadavgAfter: loadAfter,
    effect: args.effect,
    iters: Number(args.iters),
    minFps: MIN_FPS,
    frameSloMs: SLO_MS,
    capacity,
    pairs,
    results,
  };
  if (args['capacity-out'] !== undefined) writeCapacity(args['capacity-out'], summary);
  if (args.json) process.stdout.write(`${JSON.stringify(summary, null, 2)}\n`);
  log(`load after: ${loadAfter.map((l) => l.toFixed(2)).join(' ')}`);
}

/**
 * The planner's input, per size: the sessions the service held per server core (measured, --find-max),
 * and the sessions per core its CPU per frame allows at 30 fps with one session (unsaturated), the
 * echo's beside each. On a machine shared with other work the measured count is the conservative one.
 */
function writeCapacity(
  path: string,
  summary: {
    capacity: Record<string, { service: number; echo: number }>;
    pairs: { size: string; sessions: number; service: Median; echo: Median; ratio: number }[];
    serverCores: number;
  } & Record<string, unknown>,
): void {
  const sizes: Record<string, unknown> = {};
  for (const [size, held] of Object.entries(summary.capacity)) {
    const single = summary.pairs.find((p) => p.size === size && p.sessions === 1);
    const perCore = (ms: number | undefined) => (ms === undefined || !Number.isFinite(ms) ? undefined : Number((1000 / (FPS * ms)).toFixed(2)));
    sizes[size] = {
      measuredSessionsPerCore: held.service / summary.serverCores,
      echoMeasuredSessionsPerCore: held.echo / summary.serverCores,
      cpuMsPerFrame: single ? Number(single.service.cpuMsPerEncodedFrame.toFixed(2)) : undefined,
      echoCpuMsPerFrame: single ? Number(single.echo.cpuMsPerEncodedFrame.toFixed(2)) : undefined,
      cpuSessionsPerCore: perCore(single?.service.cpuMsPerEncodedFrame),
      echoCpuSessionsPerCore: perCore(single?.echo.cpuMsPerEncodedFrame),
    };
  }
  const out = {
    about:
      'WebRTC sessions per server core (bench/webrtc.ts --find-max --capacity-out): measured = held at >= minFps returned with frame p95 <= frameSloMs; cpu = 1000 / (fps x server CPU ms per encoded frame, one session); echo = the bare binding floor in the same run',
    date: summary.date,
    node: summary.node,
    cpuModel: summary.cpuModel,
    machineCpus: summary.machineCpus,
    serverCores: summary.serverCores,
    loadavgBefore: summary.loadavgBefore,
    effect: summary.effect,
    fps: FPS,
    minFps: summary.minFps,
    frameSloMs: summary.frameSloMs,
    sizes,
  };
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, `${JSON.stringify(out, null, 2)}\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(`bench failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exitCode = 1;
});
