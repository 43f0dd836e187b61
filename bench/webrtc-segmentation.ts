/**
 * A live background-blur session against a plain `blur` session, in one run: N Node publishers
 * send a 1280x720 photo of a person at 30 fps over WHIP to a server in a child process and get the
 * processed video back. Per phase: server CPU (all threads, /proc), cores per session, frames
 * returned per second, server frame latency p95, and for background-blur how many frames ran the
 * model and how many reused the last mask (SEGMENT_MAX_MASK_AGE_FRAMES), with the model's time.
 *
 *   node --import tsx bench/webrtc-segmentation.ts [--sessions 1] [--seconds 20] [--json]
 *
 * The publishers run in this process (VP8 encode and decode of 720p30) and compete with the server
 * on a small machine: returned fps is a lower bound, latency an upper bound.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import os from 'node:os';
import { parseArgs } from 'node:util';
import sharp from 'sharp';
import type { I420Frame } from '../tools/rtc-load/client/i420.ts';
import { WhipPublisher } from '../tools/rtc-load/client/whip.ts';
import { rgbaToI420 } from '../src/segmentation/worker-effects.ts';
import { freePort } from '../test/ports.ts';

const { values: args } = parseArgs({
  options: {
    sessions: { type: 'string', default: '1' },
    seconds: { type: 'string', default: '20' },
    warmup: { type: 'string', default: '6' },
    strength: { type: 'string', default: '16' },
    json: { type: 'boolean', default: false },
  },
});
const SESSIONS = Number(args.sessions);
const SECONDS = Number(args.seconds);
const WARMUP_SECONDS = Number(args.warmup);
const WIDTH = 1280;
const HEIGHT = 720;
const FPS = 30;
const CLOCK_TICKS_PER_SECOND = 100;
const PHOTO = '/usr/lib/python3/dist-packages/skimage/data/astronaut.png';
const log = (line: string) => {
  if (!args.json) process.stdout.write(`${line}\n`);
};

async function startServer(port: number): Promise<ChildProcess> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/server.ts'], {
    env: { ...process.env, PORT: String(port), HOST: '127.0.0.1', LOG_LEVEL: 'warn', MAX_SESSIONS: String(SESSIONS + 2), SLO_ADMISSION: 'false', SHUTDOWN_DELAY_SECONDS: '0', SESSION_DRAIN_SECONDS: '0' },
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  const deadline = performance.now() + 60_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`the server exited with ${child.exitCode}`);
    if (performance.now() > deadline) throw new Error('the server did not become ready in 60 s');
    if (await fetch(`http://127.0.0.1:${port}/readyz`).then((r) => r.ok, () => false)) return child;
    await new Promise((r) => setTimeout(r, 200));
  }
}

function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS_PER_SECOND;
}

/** Sum over the label sets of a metric matching `labels` (a regex fragment). */
function sumOf(text: string, name: string, labels = '[^}]*'): number {
  let sum = 0;
  for (const m of text.matchAll(new RegExp(`^${name}(?:\\{${labels}\\})? (\\S+)$`, 'gm'))) sum += Number(m[1]);
  return sum;
}

function histogram(text: string, name: string): { le: number; count: number }[] {
  return [...text.matchAll(new RegExp(`^${name}_bucket\\{le="([^"]+)"\\} (\\S+)$`, 'gm'))].map((m) => ({ le: m[1] === '+Inf' ? Infinity : Number(m[1]), count: Number(m[2]) }));
}

function quantileBetween(before: { le: number; count: number }[], after: { le: number; count: number }[], q: number): number | undefined {
  const deltas = after.map((b, i) => ({ le: b.le, count: b.count - (before[i]?.count ?? 0) }));
  const total = deltas.at(-1)?.count ?? 0;
  if (total === 0) return undefined;
  let lower = 0;
  let below = 0;
  for (const b of deltas) {
    if (b.count >= q * total) return Number.isFinite(b.le) ? lower + ((q * total - below) / Math.max(1, b.count - below)) * (b.le - lower) : lower;
    lower = b.le;
    below = b.count;
  }
  return undefined;
}

/** The photo at 720p, shifted a little each frame so that VP8 codes motion. */
async function frames(count: number): Promise<I420Frame[]> {
  const source = existsSync(PHOTO) ? sharp(PHOTO) : sharp({ create: { width: 512, height: 512, channels: 3, background: { r: 90, g: 120, b: 150 } } });
  const { data } = await source.resize(WIDTH + count * 4, HEIGHT, { fit: 'cover' }).ensureAlpha().raw().toBuffer({ resolveWithObject: true });
  const wide = WIDTH + count * 4;
  return Array.from({ length: count }, (_, i) => {
    const rgba = new Uint8Array(WIDTH * HEIGHT * 4);
    for (let y = 0; y < HEIGHT; y++) rgba.set(data.subarray((y * wide + i * 4) * 4, (y * wide + i * 4 + WIDTH) * 4), y * WIDTH * 4);
    const out = new Uint8Array(WIDTH * HEIGHT * 1.5);
    rgbaToI420(rgba, WIDTH, HEIGHT, out);
    return { width: WIDTH, height: HEIGHT, data: out };
  });
}

interface PhaseResult {
  phase: string;
  serverCores: number;
  coresPerSession: number;
  returnedFps: number[];
  frameP95Ms: number | undefined;
  masksInferredPerSecond: number;
  masksReusedPerSecond: number;
  inferenceMeanMs: number | undefined;
}

async function phase(base: string, pid: number, name: string, query: string, cards: I420Frame[]): Promise<PhaseResult> {
  const publishers: WhipPublisher[] = [];
  const stops: (() => void)[] = [];
  const received: number[] = [];
  try {
    for (let i = 0; i < SESSIONS; i++) {
      const publisher = await WhipPublisher.publish(`${base}/whip?${query}`);
      publishers.push(publisher);
      received.push(0);
      publisher.peer.on('frame', () => {
        received[i]! += 1;
      });
      await new Promise((r) => setTimeout(r, 1000 / FPS / SESSIONS));
      stops.push(publisher.startFrames(FPS, (n) => cards[n % cards.length]!));
    }
    log(`  ${name}: ${SESSIONS} session(s), warming up ${WARMUP_SECONDS} s`);
    await new Promise((r) => setTimeout(r, WARMUP_SECONDS * 1000));
    const before = await (await fetch(`${base}/metrics`)).text();
    const receivedBefore = [...received];
    const cpuBefore = cpuSeconds(pid);
    const t0 = performance.now();
    await new Promise((r) => setTimeout(r, SECONDS * 1000));
    const elapsed = (performance.now() - t0) / 1000;
    const serverCores = (cpuSeconds(pid) - cpuBefore) / elapsed;
    const after = await (await fetch(`${base}/metrics`)).text();
    const delta = (metric: string, labels?: string) => sumOf(after, metric, labels) - sumOf(before, metric, labels);
    const p95 = quantileBetween(histogram(before, 'app_frame_latency_seconds'), histogram(after, 'app_frame_latency_seconds'), 0.95);
    const inferences = delta('app_segmentation_inference_seconds_count');
    return {
      phase: name,
      serverCores,
      coresPerSession: serverCores / SESSIONS,
      returnedFps: received.map((n, i) => (n - receivedBefore[i]!) / elapsed),
      frameP95Ms: p95 === undefined ? undefined : p95 * 1000,
      masksInferredPerSecond: delta('app_segmentation_masks_total', 'mask="inferred"') / elapsed,
      masksReusedPerSecond: delta('app_segmentation_masks_total', 'mask="reused"') / elapsed,
      inferenceMeanMs: inferences > 0 ? (delta('app_segmentation_inference_seconds_sum') / inferences) * 1000 : undefined,
    };
  } finally {
    for (const stop of stops) stop();
    await Promise.all(publishers.map((p) => p.close().catch(() => 0)));
    const deadline = performance.now() + 60_000;
    while (performance.now() < deadline) {
      if (/^app_webrtc_sessions_active 0$/m.test(await fetch(`${base}/metrics`).then((r) => r.text(), () => ''))) break;
      await new Promise((r) => setTimeout(r, 500));
    }
  }
}

const fmt = (n: number | undefined, digits = 2) => (n === undefined ? '-' : n.toFixed(digits));

async function main(): Promise<void> {
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  log(`webrtc segmentation bench: ${SESSIONS} x ${WIDTH}x${HEIGHT}@${FPS}, ${SECONDS} s per phase; ${os.cpus().length} CPUs, load ${os.loadavg().map((l) => l.toFixed(2)).join(' ')}, node ${process.version}`);
  const cards = await frames(15);
  const server = await startServer(port);
  const results: PhaseResult[] = [];
  try {
    results.push(await phase(base, server.pid!, 'blur iters=1', 'effect=blur&iters=1', cards));
    results.push(await phase(base, server.pid!, `background-blur strength=${args.strength}`, `effect=background-blur&strength=${args.strength}`, cards));
  } finally {
    server.kill('SIGTERM');
    const killer = setTimeout(() => server.kill('SIGKILL'), 15_000);
    await new Promise((r) => server.once('exit', r));
    clearTimeout(killer);
  }
  if (args.json) {
    process.stdout.write(`${JSON.stringify({ date: new Date().toISOString(), node: process.version, cpus: os.cpus().length, loadavg: os.loadavg(), results }, null, 2)}\n`);
    return;
  }
  for (const r of results) {
    log(`${r.phase}: server ${fmt(r.serverCores)} cores (${fmt(r.coresPerSession, 3)} per session); returned fps ${r.returnedFps.map((f) => f.toFixed(1)).join(' ')}; frame p95 ${fmt(r.frameP95Ms, 1)} ms`);
    if (r.masksInferredPerSecond + r.masksReusedPerSecond > 0) {
      log(`  masks: ${fmt(r.masksInferredPerSecond, 1)}/s inferred (model ${fmt(r.inferenceMeanMs, 1)} ms mean), ${fmt(r.masksReusedPerSecond, 1)}/s reused`);
    }
  }
  log(`load after: ${os.loadavg().map((l) => l.toFixed(2)).join(' ')}`);
}

main().catch((err: unknown) => {
  process.stderr.write(`bench failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exitCode = 1;
});
