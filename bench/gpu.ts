/**
 * GPU figures, on a machine with a CUDA device:
 *
 * 1. kernel time per frame from CUDA events (no copies): 1080p RGBA gaussian sigma 8 (the target:
 *    <= 0.3 ms on an H100) and the other effects, median and p95 of many runs, plus the whole
 *    run() (upload, kernels, download) for comparison;
 * 2. `/process?pixels=1920x1080&iters=10` served by this machine on cuda, then on cpu: throughput
 *    and p95 at 20 concurrent clients (the target: cuda >= 10x cpu).
 *
 * 3. background blur (person segmentation, src/cuda/segment.ts) per 720p frame on the device:
 *    the network alone, and the whole chain (frame -> model input, network, mask update, quarter-
 *    grid blur, blend), RGBA and I420, from CUDA events; with TF.js WASM inference on one core of
 *    this machine in the same run as the CPU baseline.
 *
 * Without a CUDA device it says so and exits 0 (figures, never pass/fail). `--segmentation-only`
 * runs part 3 alone; `--library PATH` uses another libcuda (the emulated one runs the code paths
 * on the CPU: a smoke run, its times say nothing about a GPU; the served part loads libcuda.so.1 by
 * name, so point LD_LIBRARY_PATH at it too).
 *
 *   node --import tsx bench/gpu.ts [--quick] [--json] [--seconds N] [--segmentation-only] [--library PATH]
 */
import os from 'node:os';
import { performance } from 'node:perf_hooks';
import { buildApp } from '../src/app.ts';
import { configWith } from '../src/config.ts';
import { createCudaKernels } from '../src/cuda/cuda-kernels.ts';
import { probeCuda } from '../src/cuda/probe.ts';
import { FILTER_EFFECT_NAMES, resolveParams, type EffectJob, type FilterEffectName } from '../src/effects/index.ts';
import { frameBytes, type FrameLayout } from '../src/frames/layout.ts';
import { segmentationFigures, type SegmentationFigure } from './gpu-segment.ts';

const argv = process.argv.slice(2);
const quick = argv.includes('--quick');
const json = argv.includes('--json');
const secondsArg = argv.indexOf('--seconds');
const LOAD_SECONDS = secondsArg >= 0 ? Number(argv[secondsArg + 1]) : quick ? 5 : 20;
const CONCURRENCY = 20;
const KERNEL_RUNS = quick ? 20 : 200;

function quantile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? Number.NaN;
}

interface KernelFigure {
  effect: string;
  params: Record<string, number>;
  format: string;
  kernelMedianMs: number;
  kernelP95Ms: number;
  runMedianMs: number;
}

async function kernelFigures(): Promise<{ gpu: string; figures: KernelFigure[] }> {
  const kernels = await createCudaKernels(libraryPath ? { libraryPath } : {});
  // The target case first (gaussian sigma 8, the recursive filter, RGBA and I420), then every filter of the catalog at its defaults.
  const cases: Array<[FilterEffectName, Record<string, number>, FrameLayout['format']]> = [
    ['gaussian', { sigma: 8 }, 'rgba'],
    ['gaussian', { sigma: 8 }, 'i420'],
    ...FILTER_EFFECT_NAMES.map((effect): [FilterEffectName, Record<string, number>, FrameLayout['format']] => [effect, {}, 'rgba']),
  ];
  const figures: KernelFigure[] = [];
  try {
    for (const [effect, raw, format] of cases) {
      const layout: FrameLayout = { format, width: 1920, height: 1080 };
      const bytes = frameBytes(layout);
      const job: EffectJob = { effect, params: resolveParams(effect, raw), iters: 1 };
      const src = kernels.alloc(bytes);
      const dst = kernels.alloc(bytes);
      const view = kernels.view(src, bytes);
      for (let i = 0; i < bytes; i++) view[i] = (i * 2654435761) >>> 24;
      const kernelMs: number[] = [];
      const runMs: number[] = [];
      for (let i = 0; i < KERNEL_RUNS + 5; i++) {
        const t0 = performance.now();
        kernels.run(layout, job, src, dst);
        if (i < 5) continue;
        runMs.push(performance.now() - t0);
        kernelMs.push(kernels.lastKernelSeconds * 1000);
      }
      kernels.free(dst, bytes);
      kernels.free(src, bytes);
      kernelMs.sort((a, b) => a - b);
      runMs.sort((a, b) => a - b);
      figures.push({
        effect,
        params: job.params,
        format,
        kernelMedianMs: quantile(kernelMs, 0.5),
        kernelP95Ms: quantile(kernelMs, 0.95),
        runMedianMs: quantile(runMs, 0.5),
      });
    }
    return { gpu: kernels.info.name, figures };
  } finally {
    kernels.close();
  }
}

interface LoadFigure {
  device: string;
  workers: number;
  requests: number;
  errors: number;
  throughputPerSecond: number;
  p50Ms: number;
  p95Ms: number;
}

/** A closed loop of CONCURRENCY clients against an in-process server on `device`. */
async function loadFigure(device: 'cuda' | 'cpu'): Promise<LoadFigure> {
  const workers = os.availableParallelism();
  const ctx = await buildApp(configWith({ device, workers, maxQueue: 4 * CONCURRENCY, logLevel: 'silent' }), { logger: false });
  try {
    const address = await ctx.app.listen({ host: '127.0.0.1', port: 0 });
    const url = `${address}/process?pixels=1920x1080&iters=10`;
    const latencies: number[] = [];
    let errors = 0;
    // Requests started in the first two seconds warm the workers and caches and are not counted.
    const warmUpEnd = performance.now() + 2000;
    const end = warmUpEnd + LOAD_SECONDS * 1000;
    const client = async () => {
      while (performance.now() < end) {
        const t0 = performance.now();
        let ok = false;
        try {
          const res = await fetch(url);
          await res.arrayBuffer();
          ok = res.status === 200;
        } catch {
          ok = false;
        }
        if (t0 < warmUpEnd) continue;
        if (ok) latencies.push(performance.now() - t0);
        else errors++;
      }
    };
    await Promise.all(Array.from({ length: CONCURRENCY }, client));
    latencies.sort((a, b) => a - b);
    return {
      device,
      workers,
      requests: latencies.length,
      errors,
      throughputPerSecond: latencies.length / LOAD_SECONDS,
      p50Ms: quantile(latencies, 0.5),
      p95Ms: quantile(latencies, 0.95),
    };
  } finally {
    await ctx.app.close();
  }
}

const libraryArg = argv.indexOf('--library');
const libraryPath = libraryArg >= 0 ? argv[libraryArg + 1] : undefined;

function printSegmentation(figures: SegmentationFigure[]): void {
  process.stdout.write('\nbackground blur, 720p (device time, CUDA events)   median     p95\n');
  for (const f of figures) process.stdout.write(`${f.label.padEnd(48)} ${f.medianMs.toFixed(3).padStart(8)} ms ${f.p95Ms.toFixed(3).padStart(8)} ms\n`);
}

async function main(): Promise<void> {
  const found = probeCuda(libraryPath ? { libraryPath } : {});
  if (!found.ok) {
    process.stdout.write(`no CUDA device: ${found.reason}\n`);
    return;
  }
  if (argv.includes('--segmentation-only')) {
    const figures = await segmentationFigures({ libraryPath, runs: quick ? 5 : 100 });
    if (json) process.stdout.write(`${JSON.stringify({ gpu: found.info.name, segmentation: figures }, null, 2)}\n`);
    else {
      process.stdout.write(`GPU: ${found.info.name}; CPU: ${os.cpus()[0]?.model ?? '?'}\n`);
      printSegmentation(figures);
    }
    return;
  }
  const kernels = await kernelFigures();
  const load = [await loadFigure('cuda'), await loadFigure('cpu')];
  const [cuda, cpu] = load as [LoadFigure, LoadFigure];
  const speedup = cuda.throughputPerSecond / cpu.throughputPerSecond;
  const segmentation = await segmentationFigures({ libraryPath, runs: quick ? 10 : 100 });
  if (json) {
    process.stdout.write(`${JSON.stringify({ gpu: kernels.gpu, cpu: os.cpus()[0]?.model, kernels: kernels.figures, load, speedup, segmentation }, null, 2)}\n`);
    return;
  }
  process.stdout.write(`GPU: ${kernels.gpu} (driver for CUDA ${found.info.driverCudaVersion}); CPU: ${os.cpus()[0]?.model ?? '?'} x ${os.availableParallelism()}\n\n`);
  process.stdout.write('1080p, one pass          kernels median   p95      whole run() median\n');
  for (const f of kernels.figures) {
    const label = `${f.effect} ${Object.entries(f.params).map(([k, v]) => `${k}=${v}`).join(' ')} ${f.format}`.padEnd(24);
    process.stdout.write(`${label} ${f.kernelMedianMs.toFixed(3).padStart(8)} ms ${f.kernelP95Ms.toFixed(3).padStart(8)} ms ${f.runMedianMs.toFixed(3).padStart(8)} ms\n`);
  }
  process.stdout.write(`\n/process?pixels=1920x1080&iters=10, ${CONCURRENCY} clients, ${LOAD_SECONDS} s\n`);
  for (const l of load) {
    process.stdout.write(`${l.device.padEnd(5)} ${l.workers} workers: ${l.throughputPerSecond.toFixed(1)} req/s, p50 ${l.p50Ms.toFixed(1)} ms, p95 ${l.p95Ms.toFixed(1)} ms, ${l.errors} errors\n`);
  }
  process.stdout.write(`cuda / cpu throughput: ${speedup.toFixed(1)}x\n`);
  printSegmentation(segmentation);
}

await main();
