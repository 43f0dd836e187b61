/**
 * Service benchmark: the real server (compiled, as `npm start` runs it) under the seed's load, driven
 * by rtc-load in a separate process on the same machine. Prints throughput and latency percentiles
 * per scenario, the server's peak RSS, and a baseline in the same run (iters=0: HTTP, queue and
 * thread hand-off without kernel work).
 *
 *   npm run bench:service [-- --json] [-- --quick]
 */
import { spawn, execFileSync } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import os from 'node:os';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const json = process.argv.includes('--json');
const quick = process.argv.includes('--quick');

interface Scenario {
  readonly name: string;
  readonly path: string;
  readonly method: 'GET' | 'POST';
  readonly concurrency: number;
  readonly requests: number;
}

const SCENARIOS: Scenario[] = [
  { name: 'seed load: 720p blur x5, c20 n200', path: '/process?pixels=1280x720&iters=5', method: 'POST', concurrency: 20, requests: 200 },
  { name: '720p blur x5, c20 (steady)', path: '/process?pixels=1280x720&iters=5', method: 'POST', concurrency: 20, requests: quick ? 1000 : 4000 },
  { name: 'baseline: iters=0, c20 (steady)', path: '/process?pixels=1280x720&iters=0', method: 'POST', concurrency: 20, requests: quick ? 1000 : 4000 },
  { name: '1080p blur x10, c20', path: '/process?pixels=1920x1080&iters=10', method: 'POST', concurrency: 20, requests: quick ? 300 : 1000 },
  { name: 'memory: 1080p blur x15, c50', path: '/process?pixels=1920x1080&iters=15', method: 'POST', concurrency: 50, requests: quick ? 300 : 1000 },
];

function rssOf(pid: number): { rssMb: number; peakMb: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (key: string) => Number(new RegExp(`${key}:\\s+(\\d+)`).exec(status)?.[1] ?? 0);
  return { rssMb: kb('VmRSS') / 1024, peakMb: kb('VmHWM') / 1024 };
}

async function startServer(): Promise<{ url: string; pid: number; stop: () => Promise<void> }> {
  const child = spawn(process.execPath, ['dist/src/server.js'], {
    cwd: root,
    env: { ...process.env, HOST: '127.0.0.1', PORT: '0', LOG_LEVEL: 'info' },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const url = await new Promise<string>((resolve, reject) => {
    child.stdout!.on('data', (chunk: Buffer) => {
      const m = /Server listening at (http:\/\/127\.0\.0\.1:\d+)/.exec(chunk.toString());
      if (m) resolve(m[1]!);
    });
    child.once('exit', (code) => reject(new Error(`server exited (${code})`)));
  });
  child.stdout!.resume();
  return {
    url,
    pid: child.pid!,
    stop: async () => {
      child.kill('SIGINT');
      await once(child, 'exit');
    },
  };
}

async function runLoad(url: string, s: Scenario): Promise<{ rps: number; p50: number; p95: number; p99: number; max: number; statuses: Record<string, number> }> {
  const child = spawn(
    process.execPath,
    ['dist/tools/rtc-load/main.js', `${url}${s.path}`, '-m', s.method, '-c', String(s.concurrency), '-n', String(s.requests), '--json'],
    { cwd: root, stdio: ['ignore', 'pipe', 'inherit'] },
  );
  let out = '';
  child.stdout.on('data', (c: Buffer) => (out += c.toString()));
  await once(child, 'exit');
  const r = JSON.parse(out) as {
    throughputPerSecond: number;
    statusCounts: Record<string, number>;
    latency: { p50: number; p95: number; p99: number; max: number };
  };
  return { rps: r.throughputPerSecond, ...r.latency, statuses: r.statusCounts };
}

execFileSync('npm', ['run', '-s', 'build'], { cwd: root, stdio: 'inherit' });
const server = await startServer();
const results = [];
try {
  // Warm-up: JIT, worker start, test-card caches.
  await runLoad(server.url, { ...SCENARIOS[1]!, requests: 300 });
  for (const s of SCENARIOS) {
    const r = await runLoad(server.url, s);
    results.push({ scenario: s.name, ...r, serverRss: rssOf(server.pid) });
  }
} finally {
  await server.stop();
}

const machine = { cpus: os.cpus().length, model: os.cpus()[0]?.model ?? '', node: process.version, date: new Date().toISOString() };
if (json) {
  process.stdout.write(`${JSON.stringify({ machine, results }, null, 2)}\n`);
} else {
  console.log(`${machine.model}, ${machine.cpus} cores, Node ${machine.node}, ${machine.date}`);
  console.log('| scenario | req/s | p50 ms | p95 ms | p99 ms | max ms | statuses | server RSS MB (peak) |');
  console.log('| --- | --- | --- | --- | --- | --- | --- | --- |');
  for (const r of results) {
    console.log(
      `| ${r.scenario} | ${r.rps.toFixed(0)} | ${r.p50.toFixed(1)} | ${r.p95.toFixed(1)} | ${r.p99.toFixed(1)} | ${r.max.toFixed(1)} | ${JSON.stringify(r.statuses)} | ${r.serverRss.rssMb.toFixed(0)} (${r.serverRss.peakMb.toFixed(0)}) |`,
    );
  }
}
