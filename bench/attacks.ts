/**
 * What each attack of issue 12 costs the pod: for each, a fresh server (its own process, default
 * limits unless given) is attacked while an ordinary client sends small requests beside it. Reported
 * per attack: the server's RSS at rest and at its peak, the CPU seconds it spent (all its threads,
 * /proc/<pid>/stat), the attacker's answers, and the ordinary client's answers and latency. The first
 * row is the baseline: the ordinary client alone, in the same run.
 *
 *   node --import tsx bench/attacks.ts [--workers 2] [--json] [--only cards,uploads,...]
 *
 * Attacker and ordinary client run in this process, on the same machine as the server: on a small
 * machine they compete with it for CPU, so latencies are upper bounds. They are two clients to the
 * server: the server trusts this process as a proxy (TRUST_PROXY) and each sends its own
 * X-Forwarded-For, as clients behind an ingress do.
 */
import { readFileSync } from 'node:fs';
import os from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import sharp from 'sharp';
import { Peer, VideoOutput } from '../src/webrtc/peer.ts';
import { startServer, type ServerProcess } from '../test/helpers-process.ts';

const { values: args } = parseArgs({
  options: {
    workers: { type: 'string', default: '2' },
    only: { type: 'string', default: '' },
    json: { type: 'boolean', default: false },
  },
});
const MiB = 1024 * 1024;
const ORDINARY = '/process?pixels=320x240&iters=2';
const ATTACKER_HEADERS = { 'x-forwarded-for': '203.0.113.9' };
const ORDINARY_HEADERS = { 'x-forwarded-for': '198.51.100.7' };
/** fetch as the attacker. */
const hit = (url: string, init: RequestInit = {}) => fetch(url, { ...init, headers: { ...ATTACKER_HEADERS, ...(init.headers as Record<string, string> | undefined) } });

interface Attack {
  readonly name: string;
  readonly env?: Record<string, string>;
  /** Runs the attack; returns the statuses the attacker saw. */
  readonly run: (base: string) => Promise<(number | string)[]>;
}

const statusOf = async (p: Promise<Response>): Promise<number | string> => {
  try {
    const res = await p;
    await res.arrayBuffer();
    return res.status;
  } catch (err) {
    return err instanceof Error ? err.name : 'error';
  }
};

const ATTACKS: Attack[] = [
  { name: 'baseline: the ordinary client alone, 5 s', run: async () => (await sleep(5000), []) },
  {
    name: 'cards: 120 GETs of distinct 4K test-card sizes',
    run: async (base) => {
      const out = [];
      for (let i = 0; i < 120; i++) out.push(await statusOf(hit(`${base}/process?pixels=3840x${2160 - i}&iters=0`)));
      return out;
    },
  },
  {
    name: 'uploads: 64 concurrent 4K PNG uploads, twice',
    run: async (base) => {
      const png = await sharp({ create: { width: 3840, height: 2160, channels: 4, background: '#336699' } }).png().toBuffer();
      const out = [];
      for (let round = 0; round < 2; round++) {
        out.push(
          ...(await Promise.all(
            Array.from({ length: 64 }, () => statusOf(hit(`${base}/process?iters=1`, { method: 'POST', body: png, headers: { 'content-type': 'image/png' } }))),
          )),
        );
      }
      return out;
    },
  },
  {
    name: 'cost: 24 at a time of 1080p blur x40 for 5 s, and 4K gaussian sigma 32 x100',
    run: async (base) => {
      const out: (number | string)[] = [await statusOf(hit(`${base}/process?pixels=3840x2160&iters=100&effect=gaussian&sigma=32`))];
      const until = performance.now() + 5000;
      await Promise.all(
        Array.from({ length: 24 }, async () => {
          while (performance.now() < until) {
            const s = await statusOf(hit(`${base}/process?pixels=1920x1080&iters=40`));
            out.push(s);
            if (s === 503) await sleep(20);
          }
        }),
      );
      return out;
    },
  },
  {
    name: 'abandon: 20 long jobs (1080p gaussian sigma 4 x30) whose clients leave after 100 ms',
    run: async (base) => {
      return Promise.all(
        Array.from({ length: 20 }, async () => {
          const gone = new AbortController();
          const p = statusOf(hit(`${base}/process?pixels=1920x1080&iters=30&effect=gaussian&sigma=4`, { signal: gone.signal }));
          await sleep(100);
          gone.abort();
          return p;
        }),
      );
    },
  },
  {
    name: 'half-open: 12 WHIP offers from one address that never finish ICE',
    env: { MAX_SESSIONS: '8' },
    run: async (base) => {
      const out = [];
      for (let i = 0; i < 12; i++) {
        const peer = new Peer({ iceServers: [], gatherTimeoutMs: 500, onListenerError: () => undefined });
        const output = new VideoOutput();
        const offer = await peer.offer({ send: output, receive: true });
        out.push(await statusOf(hit(`${base}/whip`, { method: 'POST', headers: { 'content-type': 'application/sdp' }, body: offer })));
        peer.close();
        output.close();
      }
      return out;
    },
  },
];

function procStats(pid: number): { rssBytes: number; cpuSeconds: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const rssBytes = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0) * 1024;
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  const ticks = Number(fields[11]) + Number(fields[12]);
  return { rssBytes, cpuSeconds: ticks / 100 };
}

const tally = (values: readonly (number | string)[]) => {
  const out: Record<string, number> = {};
  for (const v of values) out[String(v)] = (out[String(v)] ?? 0) + 1;
  return out;
};
const quantile = (sorted: number[], q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? Number.NaN;

async function measure(attack: Attack) {
  const server: ServerProcess = await startServer({ WORKERS: args.workers, LOG_LEVEL: 'info', TRUST_PROXY: '127.0.0.1', ...(attack.env ?? {}) }, 60_000);
  try {
    const pid = server.child.pid!;
    for (let i = 0; i < 3; i++) await statusOf(fetch(`${server.baseUrl}/process?pixels=1280x720&iters=5`));
    const rest = procStats(pid);
    let peak = rest.rssBytes;
    const sampler = setInterval(() => (peak = Math.max(peak, procStats(pid).rssBytes)), 25);
    const ordinary: (number | string)[] = [];
    const latenciesMs: number[] = [];
    let running = true;
    const loop = (async () => {
      while (running) {
        const t0 = performance.now();
        const s = await statusOf(fetch(`${server.baseUrl}${ORDINARY}`, { headers: ORDINARY_HEADERS, signal: AbortSignal.timeout(15_000) }));
        ordinary.push(s);
        if (s === 200) latenciesMs.push(performance.now() - t0);
        await sleep(100);
      }
    })();
    const t0 = performance.now();
    const attacker = await attack.run(server.baseUrl);
    const seconds = (performance.now() - t0) / 1000;
    running = false;
    await loop;
    clearInterval(sampler);
    const after = procStats(pid);
    const metrics = await (await fetch(`${server.baseUrl}/metrics`)).text();
    const rejected = Object.fromEntries(
      [...metrics.matchAll(/^app_rejected_total\{reason="(\w+)"\} (\d+)/gm)].map((m) => [m[1]!, Number(m[2])]),
    );
    latenciesMs.sort((a, b) => a - b);
    return {
      attack: attack.name,
      seconds,
      rssRestMiB: rest.rssBytes / MiB,
      rssPeakMiB: peak / MiB,
      cpuSeconds: after.cpuSeconds - rest.cpuSeconds,
      attacker: tally(attacker),
      rejected,
      ordinary: tally(ordinary),
      ordinaryP50Ms: quantile(latenciesMs, 0.5),
      ordinaryP95Ms: quantile(latenciesMs, 0.95),
      ordinaryMaxMs: latenciesMs.at(-1) ?? Number.NaN,
    };
  } finally {
    server.child.kill('SIGKILL');
    await server.exited;
  }
}

const only = args.only === '' ? undefined : new Set(args.only.split(','));
const rows = [];
for (const attack of ATTACKS) {
  if (only && !attack.name.startsWith('baseline') && !only.has(attack.name.split(':')[0]!)) continue;
  rows.push(await measure(attack));
  if (!args.json) {
    const r = rows.at(-1)!;
    console.log(
      `| ${r.attack} | ${r.seconds.toFixed(1)} | ${r.rssRestMiB.toFixed(0)} → ${r.rssPeakMiB.toFixed(0)} | ${r.cpuSeconds.toFixed(1)} | ${JSON.stringify(r.attacker)} | ${JSON.stringify(r.rejected)} | ${JSON.stringify(r.ordinary)} | ${r.ordinaryP50Ms.toFixed(0)} / ${r.ordinaryP95Ms.toFixed(0)} / ${r.ordinaryMaxMs.toFixed(0)} |`,
    );
  }
}
if (args.json) console.log(JSON.stringify({ node: process.version, cpus: os.availableParallelism(), workers: Number(args.workers), rows }, null, 2));
else console.log(`\nNode ${process.version}, ${os.availableParallelism()} CPUs, WORKERS=${args.workers}, load average ${os.loadavg().map((l) => l.toFixed(1)).join(' ')}`);
process.exit(0);
