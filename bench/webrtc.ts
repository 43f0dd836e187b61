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
 *
 * The parts, in bench/webrtc/: the servers (servers.ts), one measured phase and its test card
 * (phase.ts), medians, lines and the capacity file (results.ts), /proc and /metrics readers.
 */
import { execFileSync } from 'node:child_process';
import os from 'node:os';
import { parseArgs } from 'node:util';
import { cards, phase, type PhaseResult, type PhaseSettings } from './webrtc/phase.ts';
import { cpuCount } from './webrtc/proc.ts';
import { fmt, medianOf, phaseLines, writeCapacity, type Median, type Pair } from './webrtc/results.ts';
import { startServers, stopServers, type ServerSettings, type Target } from './webrtc/servers.ts';

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
const SERVER_CPUS = args['server-cpus'];
const CLIENT_CPUS = args['client-cpus'];
const TARGETS = args.targets.split(',').map((t) => t.trim()) as Target[];

const PHASE: PhaseSettings = { fps: FPS, minFps: MIN_FPS, sloMs: SLO_MS, warmupSeconds: WARMUP_SECONDS };
const SERVERS: ServerSettings = { serverCpus: SERVER_CPUS, serverNodeArgs: args['server-node-args'].split(' ').filter(Boolean), sloMs: SLO_MS };

const log = (line: string) => {
  if (!args.json) process.stdout.write(`${line}\n`);
};

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
  const servers = await startServers(TARGETS, Math.max(...counts), SERVERS);
  const results: PhaseResult[] = [];
  const capacity: Record<string, { service: number; echo: number }> = {};
  const pairs: Pair[] = [];
  try {
    for (const size of sizes) {
      const [width, height] = size.split('x').map(Number) as [number, number];
      const frames = cards(width, height, 30);
      // A fresh server compiles its hot code (TurboFan, on V8's helper threads) during its first
      // seconds of frames; that is not a per-frame cost, so each server gets one unmeasured session first.
      if (Number(args['server-warmup']) > 0) {
        for (const server of servers) await phase(server, size, 1, `effect=${args.effect}&iters=${args.iters}`, frames, Number(args['server-warmup']), PHASE);
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
            const r = await phase(server, size, n, `effect=${args.effect}&iters=${args.iters}`, frames, SECONDS, PHASE);
            if (r.target === 'echo') echo = r;
            runs.push(r);
            results.push(r);
            for (const line of phaseLines(r, echo, args.threads)) log(line);
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
  if (args['capacity-out'] !== undefined) writeCapacity(args['capacity-out'], summary, FPS);
  if (args.json) process.stdout.write(`${JSON.stringify(summary, null, 2)}\n`);
  log(`load after: ${loadAfter.map((l) => l.toFixed(2)).join(' ')}`);
}

main().catch((err: unknown) => {
  process.stderr.write(`bench failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exitCode = 1;
});
