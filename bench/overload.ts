/**
 * Goodput under a surge: the pod's capacity, then what it still serves under each flood shape, in
 * one run against the compiled server (`npm start`'s build), with the load on the same machine.
 *
 *   node --import tsx bench/overload.ts [--seconds 12] [--repeat 1] [--json] [--server DIR] [--shapes a,b,...]
 *                                       [--server-cpus 0 --client-cpus 1] [--env NAME=VALUE ...]
 *
 * - capacity: a closed loop of a few clients (hey -c 6), as a user measures it, before and after
 *   the floods of each round (the ratios are against their mean; --repeat gives the medians);
 * - storm-one: hey -c 200 from one address: clients that retry at once and ignore Retry-After;
 * - storm-many: the same 200 clients from 20 addresses (X-Forwarded-For, TRUST_PROXY=127.0.0.1);
 * - open-3x, open-10x: requests on a schedule at 3x and 10x the capacity, answered or not;
 * - session: a live 720p30 WHIP session's returned fps, quiet and then during storm-one, and a
 *   WHIP offer made during the storm.
 *
 * For each: served per second (the server's count of 200s) against the capacity, admitted latency
 * p50/p99 (client-side, 200s only), refusals by reason, and the main thread's CPU per answered
 * request. With `--server-cpus`/`--client-cpus` the server and the load (hey, the open loop, the
 * publisher) are pinned to their own cores (taskset), as a pod and its remote clients are; the
 * server then has a worker per core it is given. `--server DIR` runs another build (DIR/dist/src/server.js) the same way: a baseline.
 */
import { execFileSync } from 'node:child_process';
import os from 'node:os';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { metricValue } from '../test/helpers.ts';
import { closedLoop, closedLoopFromMany, openLoop, quantileMs, type LoadResult } from './overload/load.ts';
import { LiveSession, offerStatus } from './overload/live-session.ts';
import { startBenchServer, type BenchServer } from './overload/server.ts';

const root = fileURLToPath(new URL('..', import.meta.url));
const { values: args } = parseArgs({
  options: {
    seconds: { type: 'string', default: '12' },
    repeat: { type: 'string', default: '1' },
    json: { type: 'boolean', default: false },
    server: { type: 'string' },
    shapes: { type: 'string', default: 'storm-one,storm-many,open-3x,open-10x,session' },
    path: { type: 'string', default: '/process?pixels=1920x1080&iters=15' },
    'server-cpus': { type: 'string' },
    env: { type: 'string', multiple: true, default: [] },
    'client-cpus': { type: 'string' },
    'no-build': { type: 'boolean', default: false },
  },
});
const SECONDS = Number(args.seconds);
const REPEAT = Math.max(1, Number(args.repeat));
const SHAPES = new Set(args.shapes.split(','));
const log = (line: string) => {
  if (!args.json) process.stdout.write(`${line}\n`);
};

interface PhaseFigures {
  readonly shape: string;
  readonly servedPerSecond: number;
  readonly ratio?: number;
  readonly answeredPerSecond: number;
  readonly admittedP50Ms?: number;
  readonly admittedP99Ms?: number;
  readonly rejected: Record<string, number>;
  readonly mainThreadUsPerAnswer: number;
  readonly clientStatuses: Record<string, number>;
}

const REASONS = ['queue_full', 'queue_timeout', 'pressure', 'memory', 'deadline'];

async function phase(server: BenchServer, shape: string, run: () => Promise<LoadResult>, capacity?: number): Promise<PhaseFigures> {
  const before = await server.processAnswers();
  const metricsBefore = await server.metrics();
  const cpuBefore = server.mainThreadCpuSeconds();
  const t0 = performance.now();
  const load = await run();
  const seconds = (performance.now() - t0) / 1000;
  const cpu = server.mainThreadCpuSeconds() - cpuBefore;
  const after = await server.processAnswers();
  const metricsAfter = await server.metrics();
  const delta = (status: string) => (after[status] ?? 0) - (before[status] ?? 0);
  const answered = Object.keys(after).reduce((n, s) => n + delta(s), 0);
  const rejected: Record<string, number> = {};
  for (const reason of REASONS) {
    const n = (metricValue(metricsAfter, 'app_rejected_total', { reason }) ?? 0) - (metricValue(metricsBefore, 'app_rejected_total', { reason }) ?? 0);
    if (n > 0) rejected[reason] = n;
  }
  const served = delta('200') / load.seconds;
  const figures: PhaseFigures = {
    shape,
    servedPerSecond: served,
    ...(capacity ? { ratio: served / capacity } : {}),
    answeredPerSecond: answered / seconds,
    ...(load.servedMs.length > 0 ? { admittedP50Ms: quantileMs(load.servedMs, 0.5)!, admittedP99Ms: quantileMs(load.servedMs, 0.99)! } : {}),
    rejected,
    mainThreadUsPerAnswer: answered > 0 ? (cpu * 1e6) / answered : 0,
    clientStatuses: load.statuses,
  };
  log(
    `${shape.padEnd(12)} served ${served.toFixed(1)}/s${capacity ? ` (${(served / capacity).toFixed(2)}x)` : ''}, answered ${(answered / seconds).toFixed(0)}/s, ` +
      `admitted p50/p99 ${figures.admittedP50Ms?.toFixed(0) ?? '-'}/${figures.admittedP99Ms?.toFixed(0) ?? '-'} ms, refused ${JSON.stringify(rejected)}, ` +
      `main thread ${figures.mainThreadUsPerAnswer.toFixed(0)} µs/answer`,
  );
  return figures;
}

/** The number of CPUs in a taskset list like "0", "0-3" or "0,2". */
function cpuCount(list: string | undefined): number {
  if (list === undefined) return os.availableParallelism();
  return list.split(',').reduce((n, part) => {
    const [a, b] = part.split('-').map(Number);
    return n + (b === undefined ? 1 : b - a! + 1);
  }, 0);
}

if (args.server === undefined && !args['no-build']) execFileSync('npm', ['run', '-s', 'build'], { cwd: root, stdio: 'inherit' });
// This process (the open loop, the publisher) and its children (hey) on the client cores.
if (args['client-cpus'] !== undefined) execFileSync('taskset', ['-a', '-p', '-c', args['client-cpus'], String(process.pid)], { stdio: 'ignore' });
const entry = `${args.server ?? root}/dist/src/server.js`;
const workers = String(cpuCount(args['server-cpus']));
// TRUST_PROXY: the loopback "proxy" may tell the server each storm client's address.
const extraEnv = Object.fromEntries(args.env.map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]));
const server = await startBenchServer(entry, { WORKERS: workers, TRUST_PROXY: '127.0.0.1', ...extraEnv }, args['server-cpus']);
const url = `${server.baseUrl}${args.path}`;
const FLOODS: Record<string, (capacity: number) => Promise<LoadResult>> = {
  'storm-one': () => closedLoop(url, 200, SECONDS),
  'storm-many': () => closedLoopFromMany(url, 200, 20, SECONDS),
  'open-3x': (capacity) => openLoop(url, 3 * capacity, SECONDS),
  'open-10x': (capacity) => openLoop(url, 10 * capacity, SECONDS),
};
interface Round {
  readonly capacity: number;
  readonly floods: PhaseFigures[];
}
const rounds: Round[] = [];
const session: { quietFps?: number; stormFps?: number; offerDuringStorm?: number; storm?: PhaseFigures } = {};
try {
  // Warm-up: JIT, the workers' test cards, admission's pace.
  await closedLoop(url, 4, 3);
  for (let round = 0; round < REPEAT; round++) {
    // The capacity before and after the floods: the machine's pace drifts (a shared VM), and the
    // ratio is taken against their mean.
    const before = await phase(server, 'capacity', () => closedLoop(url, 6, SECONDS));
    const floods: PhaseFigures[] = [];
    for (const [shape, run] of Object.entries(FLOODS)) {
      if (SHAPES.has(shape)) floods.push(await phase(server, shape, () => run(before.servedPerSecond), before.servedPerSecond));
    }
    const after = await phase(server, 'capacity', () => closedLoop(url, 6, SECONDS));
    const capacity = (before.servedPerSecond + after.servedPerSecond) / 2;
    rounds.push({ capacity, floods: floods.map((f) => ({ ...f, ratio: f.servedPerSecond / capacity })) });
  }
  if (SHAPES.has('session')) {
    const capacity = rounds.at(-1)?.capacity;
    const live = await LiveSession.start(server.baseUrl);
    try {
      await live.fpsOver(3);
      session.quietFps = await live.fpsOver(Math.min(8, SECONDS));
      const storm = phase(server, 'storm+call', () => closedLoop(url, 200, SECONDS), capacity);
      await new Promise((r) => setTimeout(r, 1000));
      session.offerDuringStorm = await offerStatus(server.baseUrl);
      session.stormFps = await live.fpsOver(Math.min(8, SECONDS - 3));
      session.storm = await storm;
    } finally {
      await live.close();
    }
    log(`session      720p30 returned ${session.quietFps?.toFixed(1)} fps quiet, ${session.stormFps?.toFixed(1)} fps during the storm; a WHIP offer during the storm: ${session.offerDuringStorm}`);
  }
} finally {
  await server.stop();
}

const median = (values: number[]): number => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor((sorted.length - 1) / 2)] ?? Number.NaN;
};
const summary = Object.keys(FLOODS)
  .filter((shape) => SHAPES.has(shape))
  .map((shape) => {
    const runs = rounds.map((r) => r.floods.find((f) => f.shape === shape)!);
    const ratios = runs.map((f) => f.ratio!);
    return {
      shape,
      ratio: median(ratios),
      ratioMin: Math.min(...ratios),
      ratioMax: Math.max(...ratios),
      admittedP99Ms: median(runs.map((f) => f.admittedP99Ms ?? Number.NaN)),
      answeredPerSecond: median(runs.map((f) => f.answeredPerSecond)),
      mainThreadUsPerAnswer: median(runs.map((f) => f.mainThreadUsPerAnswer)),
    };
  });
log(`\ncapacity ${rounds.map((r) => r.capacity.toFixed(1)).join(', ')} req/s (${args.path}); medians of ${REPEAT} round(s):`);
log('| flood | served / capacity (min–max) | admitted p99 ms | answered/s | main thread µs/answer |');
log('| --- | --- | --- | --- | --- |');
for (const r of summary) {
  log(`| ${r.shape} | ${r.ratio.toFixed(2)} (${r.ratioMin.toFixed(2)}–${r.ratioMax.toFixed(2)}) | ${r.admittedP99Ms.toFixed(0)} | ${r.answeredPerSecond.toFixed(0)} | ${r.mainThreadUsPerAnswer.toFixed(0)} |`);
}

const machine = { cpus: os.cpus().length, serverCpus: args['server-cpus'] ?? 'any', clientCpus: args['client-cpus'] ?? 'any', model: os.cpus()[0]?.model ?? '', node: process.version, date: new Date().toISOString(), build: args.server ?? 'this checkout' };
if (args.json) process.stdout.write(`${JSON.stringify({ machine, path: args.path, rounds, summary, session }, null, 2)}\n`);
else log(`${machine.model}, ${machine.cpus} cores (server on ${machine.serverCpus}, load on ${machine.clientCpus}), Node ${machine.node}, ${machine.date}, ${machine.build}`);
