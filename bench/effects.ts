/**
 * Milliseconds per pass of every effect (default parameters) at 720p and 1080p, RGBA and I420, on
 * one thread: the WASM SIMD kernels against the plain per-pixel reference, measured in the same
 * run so that the ratio holds even on a busy machine. Median of several timed runs after warm-up.
 *
 *   npm run bench [-- --quick] [-- --json]
 */
import os from 'node:os';
import { performance } from 'node:perf_hooks';
import { frameBytes, type FrameLayout, type PixelFormat } from '../src/frames/layout.ts';
import { createWasmKernels, FILTER_EFFECT_NAMES, referenceApply, resolveParams, type EffectJob } from '../src/effects/index.ts';

const args = new Set(process.argv.slice(2));
const quick = args.has('--quick');
const json = args.has('--json');

const SIZES: ReadonlyArray<readonly [number, number]> = [
  [1280, 720],
  [1920, 1080],
];
const FORMATS: readonly PixelFormat[] = ['rgba', 'i420'];
const WASM_RUNS = quick ? 7 : 31;
const WASM_WARMUP = quick ? 2 : 5;
/** The reference is seconds per frame for some effects: fewer runs, more for the cheap ones. */
const REF_BUDGET_MS = quick ? 1500 : 6000;
const REF_MAX_RUNS = quick ? 3 : 9;

interface Result {
  effect: string;
  params: Record<string, number>;
  format: PixelFormat;
  width: number;
  height: number;
  wasmMs: number;
  wasmRuns: number;
  referenceMs: number;
  referenceRuns: number;
  speedup: number;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? (s[mid] ?? 0) : ((s[mid - 1] ?? 0) + (s[mid] ?? 0)) / 2;
}

function timeOnce(f: () => void): number {
  const t0 = performance.now();
  f();
  return performance.now() - t0;
}

function noiseFrame(bytes: number): Uint8Array {
  let s = 0x12345678;
  return Uint8Array.from({ length: bytes }, () => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return s & 255;
  });
}

const kernels = await createWasmKernels();
const results: Result[] = [];

for (const [width, height] of SIZES) {
  for (const format of FORMATS) {
    const layout: FrameLayout = { format, width, height };
    const bytes = frameBytes(layout);
    const src = noiseFrame(bytes);
    const srcPtr = kernels.alloc(bytes);
    const dstPtr = kernels.alloc(bytes);
    kernels.view(srcPtr, bytes).set(src);

    for (const effect of FILTER_EFFECT_NAMES) {
      const job: EffectJob = { effect, params: resolveParams(effect, {}), iters: 1 };
      const runWasm = () => kernels.run(layout, job, srcPtr, dstPtr);
      for (let i = 0; i < WASM_WARMUP; i++) runWasm();
      const wasmTimes = Array.from({ length: WASM_RUNS }, () => timeOnce(runWasm));

      const runRef = () => void referenceApply(layout, job, src);
      const first = timeOnce(runRef); // also the warm-up
      const refRuns = Math.max(1, Math.min(REF_MAX_RUNS, Math.floor(REF_BUDGET_MS / first)));
      const refTimes = refRuns > 1 ? Array.from({ length: refRuns }, () => timeOnce(runRef)) : [first];

      const wasmMs = median(wasmTimes);
      const referenceMs = median(refTimes);
      const result: Result = {
        effect,
        params: { ...job.params },
        format,
        width,
        height,
        wasmMs,
        wasmRuns: wasmTimes.length,
        referenceMs,
        referenceRuns: refTimes.length,
        speedup: referenceMs / wasmMs,
      };
      results.push(result);
      if (!json) printRow(result);
    }
    kernels.free(dstPtr, bytes);
    kernels.free(srcPtr, bytes);
  }
}

if (json) {
  const machine = { node: process.version, arch: process.arch, cpu: os.cpus()[0]?.model ?? 'unknown', cores: os.cpus().length };
  console.log(JSON.stringify({ unit: 'ms per pass (median)', quick, machine, results }));
}

function printRow(r: Result): void {
  if (results.length === 1) {
    console.log(`effect kernels, one thread, ms per pass (median); ${quick ? 'quick' : 'full'} run`);
    console.log(`${'effect'.padEnd(20)} ${'format'.padEnd(6)} ${'size'.padEnd(10)} ${'wasm ms'.padStart(9)} ${'ref ms'.padStart(10)} ${'ref/wasm'.padStart(9)}`);
  }
  const params = Object.entries(r.params).map(([k, v]) => `${k}=${v}`).join(',');
  const name = params ? `${r.effect}(${params})` : r.effect;
  console.log(
    `${name.padEnd(20)} ${r.format.padEnd(6)} ${`${r.width}x${r.height}`.padEnd(10)} ${r.wasmMs.toFixed(3).padStart(9)} ` +
      `${r.referenceMs.toFixed(1).padStart(10)} ${`${r.speedup.toFixed(0)}x`.padStart(9)}`,
  );
}
