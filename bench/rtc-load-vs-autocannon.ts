/**
 * Is rtc-load the bottleneck? Drives a trivial node:http server (its own process, pinned to
 * core 1) closed loop with rtc-load, then with autocannon, each pinned to core 0, same
 * connections and duration, in the same run. Prints throughput, p50/p99 and how much of its
 * core each generator used (from /proc): a generator below 100% of its core was not the limit.
 *
 * On a shared machine, `--rounds N` alternates the two tools N times and reports medians.
 *
 *   npm run bench:load [-- --duration 10] [-- --connections 50] [-- --rounds 3] [-- --json]
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import os from 'node:os';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const ROOT = fileURLToPath(new URL('../', import.meta.url));
const { values } = parseArgs({
  options: {
    duration: { type: 'string', default: '10' },
    connections: { type: 'string', default: '50' },
    warmup: { type: 'string', default: '2' },
    rounds: { type: 'string', default: '1' },
    json: { type: 'boolean', default: false },
  },
});
const durationSeconds = Number(values.duration);
const connections = Number(values.connections);
const warmupSeconds = Number(values.warmup);
const rounds = Number(values.rounds);
if (!(durationSeconds > 0) || !Number.isInteger(connections) || connections < 1 || !(warmupSeconds >= 0) || !Number.isInteger(rounds) || rounds < 1) {
  process.stderr.write('usage: bench/rtc-load-vs-autocannon.ts [--duration SECONDS] [--connections N] [--warmup SECONDS] [--rounds N] [--json]\n');
  process.exit(2);
}

const HAS_TASKSET = spawnSync('taskset', ['--version'], { stdio: 'ignore' }).status === 0 && os.cpus().length >= 2;
const CLOCK_TICKS_PER_SECOND = 100;

const SERVER_SOURCE = `
const http = require('node:http');
const body = Buffer.from('ok');
const server = http.createServer((req, res) => { res.setHeader('content-length', 2); res.end(body); });
server.keepAliveTimeout = 60000;
server.listen(0, '127.0.0.1', () => process.stdout.write(server.address().port + '\\n'));
`;

interface Measurement {
  tool: string;
  requests: number;
  throughputPerSecond: number;
  p50Ms: number;
  p99Ms: number;
  /** CPU time the generator process used, as a share of one core over the run. */
  generatorCpuPercent: number | null;
  errors: number;
}

function pinned(core: number, command: string, args: string[]): [string, string[]] {
  return HAS_TASKSET ? ['taskset', ['-c', String(core), command, ...args]] : [command, args];
}

async function startServer(): Promise<{ port: number; child: ChildProcess }> {
  const [command, args] = pinned(1, process.execPath, ['-e', SERVER_SOURCE]);
  const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'inherit'] });
  const port = await new Promise<number>((resolve, reject) => {
    child.once('error', reject);
    child.stdout?.once('data', (chunk: Buffer) => resolve(Number(chunk.toString().trim())));
  });
  return { port, child };
}

/** utime + stime of a live process, in seconds; undefined once it is gone or off Linux. */
function cpuSeconds(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // Fields 14 and 15 of the file; the slice starts at field 3.
    return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS_PER_SECOND;
  } catch {
    return undefined;
  }
}

/** Runs a pinned generator; samples its CPU time until it exits (the last 200 ms are missed). */
function runGenerator(command: string, args: string[]): Promise<{ stdout: string; cpuPercent: number | null }> {
  const [file, pinnedArgs] = pinned(0, command, args);
  const child = spawn(file, pinnedArgs, { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  const startedAtMs = performance.now();
  let lastCpuSeconds: number | undefined;
  let lastSampleAtMs = startedAtMs;
  const sampler = setInterval(() => {
    const sample = child.pid === undefined ? undefined : cpuSeconds(child.pid);
    if (sample !== undefined) {
      lastCpuSeconds = sample;
      lastSampleAtMs = performance.now();
    }
  }, 200);
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (code) => {
      clearInterval(sampler);
      if (code !== 0) {
        reject(new Error(`${command} exited with ${code}: ${stderr.slice(-2000)}`));
        return;
      }
      const wallSeconds = (lastSampleAtMs - startedAtMs) / 1000;
      const cpuPercent = lastCpuSeconds === undefined || wallSeconds <= 0 ? null : Math.round((100 * lastCpuSeconds) / wallSeconds);
      resolve({ stdout, cpuPercent });
    });
  });
}

function rtcLoadCommand(): [string, string[]] {
  if (existsSync(`${ROOT}dist/tools/rtc-load/main.js`)) return [process.execPath, ['bin/rtc-load.js']];
  return [process.execPath, ['--import', 'tsx', 'tools/rtc-load/main.ts']];
}

async function measureRtcLoad(url: string, seconds: number): Promise<Measurement> {
  const [command, prefix] = rtcLoadCommand();
  const { stdout, cpuPercent } = await runGenerator(command, [...prefix, url, '-c', String(connections), '-d', `${seconds}s`, '--json']);
  const report = JSON.parse(stdout) as {
    requests: number;
    throughputPerSecond: number;
    latency: { p50: number; p99: number };
    errors: Record<string, number>;
    statusCounts: Record<string, number>;
  };
  const non200 = Object.entries(report.statusCounts).reduce((sum, [code, n]) => sum + (code === '200' ? 0 : n), 0);
  return {
    tool: 'rtc-load',
    requests: report.requests,
    throughputPerSecond: report.throughputPerSecond,
    p50Ms: report.latency.p50,
    p99Ms: report.latency.p99,
    generatorCpuPercent: cpuPercent,
    errors: non200 + Object.values(report.errors).reduce((a, b) => a + b, 0),
  };
}

async function measureAutocannon(url: string, seconds: number): Promise<Measurement> {
  const { stdout, cpuPercent } = await runGenerator(`${ROOT}node_modules/.bin/autocannon`, ['-c', String(connections), '-d', String(seconds), '--json', url]);
  const report = JSON.parse(stdout) as {
    requests: { total: number };
    duration: number;
    latency: { p50: number; p99: number };
    errors: number;
    timeouts: number;
    non2xx: number;
  };
  return {
    tool: 'autocannon',
    requests: report.requests.total,
    throughputPerSecond: Math.round((report.requests.total / report.duration) * 10) / 10,
    p50Ms: report.latency.p50,
    p99Ms: report.latency.p99,
    generatorCpuPercent: cpuPercent,
    errors: report.errors + report.timeouts + report.non2xx,
  };
}

const loadBefore = os.loadavg();
const { port, child: server } = await startServer();
const url = `http://127.0.0.1:${port}/`;
const runs: Measurement[] = [];
try {
  // Warms the server's JIT so the first tool measured is not penalised.
  if (warmupSeconds > 0) await measureRtcLoad(url, warmupSeconds);
  for (let round = 0; round < rounds; round += 1) {
    runs.push(await measureRtcLoad(url, durationSeconds));
    runs.push(await measureAutocannon(url, durationSeconds));
  }
} finally {
  server.kill();
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? (sorted[middle] ?? 0) : ((sorted[middle - 1] ?? 0) + (sorted[middle] ?? 0)) / 2;
}

/** Per tool: the median of each figure over the rounds (the run itself when there is one). */
const results: Measurement[] = ['rtc-load', 'autocannon'].map((tool) => {
  const mine = runs.filter((r) => r.tool === tool);
  const cpu = mine.map((r) => r.generatorCpuPercent).filter((v): v is number => v !== null);
  return {
    tool,
    requests: median(mine.map((r) => r.requests)),
    throughputPerSecond: median(mine.map((r) => r.throughputPerSecond)),
    p50Ms: median(mine.map((r) => r.p50Ms)),
    p99Ms: median(mine.map((r) => r.p99Ms)),
    generatorCpuPercent: cpu.length > 0 ? median(cpu) : null,
    errors: mine.reduce((sum, r) => sum + r.errors, 0),
  };
});

const context = {
  date: new Date().toISOString(),
  cpu: os.cpus()[0]?.model ?? 'unknown',
  cores: os.cpus().length,
  node: process.version,
  pinned: HAS_TASKSET,
  loadAverageBefore: loadBefore.map((v) => Math.round(v * 100) / 100),
  connections,
  durationSeconds,
  rounds,
  loadAverageAfter: os.loadavg().map((v) => Math.round(v * 100) / 100),
};

if (values.json) {
  process.stdout.write(`${JSON.stringify({ ...context, results, runs })}\n`);
} else {
  process.stdout.write(
    `${context.date}  ${context.cpu} x${context.cores}  node ${context.node}\n` +
      `load average before: ${context.loadAverageBefore.join(' ')}; ` +
      `${HAS_TASKSET ? 'server on core 1, generator on core 0' : 'not pinned (taskset unavailable or one core)'}\n` +
      `closed loop, ${connections} connections, ${durationSeconds} s each` +
      `${rounds > 1 ? `, ${rounds} alternating rounds (medians)` : ''}; load average after: ${context.loadAverageAfter.join(' ')}\n\n`,
  );
  const header = ['tool', 'requests', 'req/s', 'p50 ms', 'p99 ms', 'generator CPU', 'errors'];
  const rows = results.map((r) => [
    r.tool,
    String(r.requests),
    r.throughputPerSecond.toFixed(0),
    r.p50Ms.toFixed(2),
    r.p99Ms.toFixed(2),
    r.generatorCpuPercent === null ? 'n/a' : `${r.generatorCpuPercent}%`,
    String(r.errors),
  ]);
  for (const row of [header, ...rows]) process.stdout.write(`${row.map((cell, i) => cell.padEnd(i === 0 ? 12 : 15)).join('')}\n`);
}
