/**
 * The WebRTC frame path without WebRTC: what a session costs per frame between the binding's decoded
 * frame and the buffer handed back to libwebrtc, on the main thread and on the worker, in CPU time
 * (from /proc, so other load on the machine inflates it less than wall time would).
 *
 *   node --import tsx bench/frame-path.ts [--frames 300] [--sizes 1280x720,640x480] [--effect blur]
 *
 * Two paths through the same engine, in the same run:
 * - shared (the path before the frame buffer moved): copy the frame into a pooled SharedArrayBuffer,
 *   the worker copies it into its kernels' memory and back, then the session copies the result into
 *   a plain buffer for libwebrtc (which refuses shared memory): four copies, two on the main thread;
 * - moved (the session's path now): the frame's own buffer moves to the worker, which copies it into
 *   its kernels' memory and the result out into the shared buffer; the session's plain copy for
 *   libwebrtc: three copies, one on the main thread.
 * Each is run with iters=0 (no kernel) and with the effect.
 */
import { readdirSync, readFileSync } from 'node:fs';
import os from 'node:os';
import { parseArgs } from 'node:util';
import { Engine } from '../src/engine/engine.ts';
import { frameBytes } from '../src/frames/layout.ts';
import { createMetrics } from '../src/metrics.ts';

const { values: args } = parseArgs({
  options: {
    frames: { type: 'string', default: '300' },
    sizes: { type: 'string', default: '1280x720,640x480' },
    effect: { type: 'string', default: 'blur' },
    json: { type: 'boolean', default: false },
  },
});
const FRAMES = Number(args.frames);
const CLOCK_TICKS_PER_SECOND = 100;

/** CPU seconds of this process's main thread and of all its other threads. */
function threadCpu(): { main: number; others: number } {
  let main = 0;
  let others = 0;
  for (const tid of readdirSync('/proc/self/task')) {
    try {
      const stat = readFileSync(`/proc/self/task/${tid}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      const seconds = (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS_PER_SECOND;
      if (tid === String(process.pid)) main += seconds;
      else others += seconds;
    } catch {
      // The thread ended between the listing and the read.
    }
  }
  return { main, others };
}

async function main(): Promise<void> {
  const metrics = createMetrics({ p95WindowSeconds: 60, queueDepth: () => 0 });
  const engine = new Engine({ device: 'cpu', deviceName: 'cpu', workers: 1, maxQueue: 4, retryAfterSeconds: 1 }, metrics);
  await engine.start();
  const rows: Record<string, unknown>[] = [];
  if (!args.json) process.stdout.write(`frame path: ${FRAMES} frames per row, 1 worker; ${os.cpus().length} CPUs, load ${os.loadavg().map((l) => l.toFixed(2)).join(' ')}; Node ${process.version}\n`);
  try {
    for (const size of args.sizes.split(',')) {
      const [width, height] = size.split('x').map(Number) as [number, number];
      const layout = { format: 'i420', width, height } as const;
      const bytes = frameBytes(layout);
      for (const iters of [0, 1]) {
        const job = { effect: args.effect, params: {}, iters } as Parameters<Engine['processFrame']>[1];
        for (const path of ['shared', 'moved'] as const) {
          let scratch = new Uint8Array(0);
          const once = () =>
            engine.processFrame(
              layout,
              job,
              // A new buffer per frame, as the binding hands them over (the same on both paths).
              new Uint8Array(bytes),
              (out) => {
                // The session's plain copy for libwebrtc, which refuses shared memory.
                if (scratch.length !== bytes) scratch = new Uint8Array(bytes);
                scratch.set(out.subarray(0, bytes));
              },
              { movePixels: path === 'moved' },
            );
          for (let i = 0; i < 20; i++) await once();
          const before = threadCpu();
          const t0 = performance.now();
          for (let i = 0; i < FRAMES; i++) await once();
          const wallMs = (performance.now() - t0) / FRAMES;
          const after = threadCpu();
          const row = {
            size,
            iters,
            path,
            mainCpuMs: ((after.main - before.main) * 1000) / FRAMES,
            workerCpuMs: ((after.others - before.others) * 1000) / FRAMES,
            wallMs,
          };
          rows.push(row);
          if (!args.json) {
            process.stdout.write(
              `  ${size} iters=${iters} ${path.padEnd(6)}: main ${row.mainCpuMs.toFixed(3)} ms, workers ${row.workerCpuMs.toFixed(3)} ms CPU per frame; ${wallMs.toFixed(2)} ms wall per frame\n`,
            );
          }
        }
      }
    }
  } finally {
    await engine.close();
  }
  if (args.json) process.stdout.write(`${JSON.stringify({ date: new Date().toISOString(), node: process.version, cpus: os.cpus().length, loadavg: os.loadavg(), rows }, null, 2)}\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(`bench failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exitCode = 1;
});
