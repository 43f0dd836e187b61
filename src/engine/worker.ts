/**
 * Worker-thread side of the engine: owns one set of kernels and their frame memory, and runs
 * one task at a time. Only the pool talks to this module (via piscina).
 *
 * A CUDA worker (workerData.device) runs its jobs on the GPU with its WASM kernels as the
 * fallback: a job the GPU fails is redone on the CPU and reported `fellBack`, and a worker whose
 * GPU keeps failing gives it up (src/cuda/fallback.ts has the policy).
 */
import { workerData } from 'node:worker_threads';
import { createGpuWorkerKernels, type GpuWorkerKernels } from '../cuda/fallback.ts';
import type { EffectKernels } from '../effects/kernel-types.ts';
import { createWasmKernels } from '../effects/wasm.ts';
import { fillSynthetic } from '../frames/synthetic.ts';
import { frameBytes, type FrameLayout } from '../frames/layout.ts';
import { epochNowMs, type ProcessResult, type WorkerInit, type WorkerTask } from './messages.ts';

const init = (workerData ?? { device: 'cpu' }) as WorkerInit;
const cpuKernels = await createWasmKernels();
const gpu: GpuWorkerKernels | undefined =
  init.device === 'cuda'
    ? await createGpuWorkerKernels(cpuKernels, { libraryPath: init.cudaLibraryPath, maxConsecutiveFailures: init.maxConsecutiveGpuFailures })
    : undefined;
const kernels: EffectKernels = gpu?.kernels ?? cpuKernels;

/** Where the last job ran and how, for a CUDA worker; nothing for a CPU one. */
function deviceReport(): Partial<ProcessResult> {
  if (!gpu) return {};
  const r = gpu.kernels.lastReport;
  return {
    device: r.device,
    fellBack: r.fellBack,
    gpuHealthy: r.gpuHealthy,
    ...(r.kernelSeconds !== undefined ? { kernelSeconds: r.kernelSeconds } : {}),
    ...(r.gpuError !== undefined ? { gpuError: r.gpuError } : {}),
    ...(gpu.info ? { gpu: gpu.info } : {}),
  };
}

// Test cards stay resident in kernel memory, a few sizes at most (a 4K card is 33 MB).
const SYNTHETIC_CACHE_SIZE = 4;
const syntheticCards = new Map<string, { ptr: number; bytes: number }>();

function syntheticCard(layout: FrameLayout): number {
  const key = `${layout.format}:${layout.width}x${layout.height}`;
  const hit = syntheticCards.get(key);
  if (hit) {
    // Refresh recency: Map iteration order is insertion order.
    syntheticCards.delete(key);
    syntheticCards.set(key, hit);
    return hit.ptr;
  }
  if (syntheticCards.size >= SYNTHETIC_CACHE_SIZE) {
    const [oldestKey, oldest] = syntheticCards.entries().next().value as [string, { ptr: number; bytes: number }];
    kernels.free(oldest.ptr, oldest.bytes);
    syntheticCards.delete(oldestKey);
  }
  const bytes = frameBytes(layout);
  const ptr = kernels.alloc(bytes);
  fillSynthetic(layout, kernels.view(ptr, bytes));
  syntheticCards.set(key, { ptr, bytes });
  return ptr;
}

/** Cheap fingerprint of a frame: FNV-1a over at most 4096 evenly spread bytes. */
function checksum(frame: Uint8Array): number {
  const step = Math.max(1, Math.floor(frame.length / 4096));
  let h = 0x811c9dc5;
  for (let i = 0; i < frame.length; i += step) {
    h = Math.imul(h ^ (frame[i] ?? 0), 0x01000193);
  }
  return h >>> 0;
}

export default function runTask(task: WorkerTask): ProcessResult {
  const queueSeconds = Math.max(0, (epochNowMs() - task.queuedAtMs) / 1000);
  const t0 = performance.now();
  const bytes = frameBytes(task.layout);
  const { source } = task;
  gpu?.kernels.preferCpu(task.device === 'cpu');
  if (source.kind === 'moved') return runMoved(task, source.buffer, source.output, bytes, queueSeconds, t0);
  let srcPtr: number;
  if (source.kind === 'synthetic') {
    srcPtr = syntheticCard(task.layout);
  } else {
    srcPtr = kernels.alloc(bytes);
    kernels.view(srcPtr, bytes).set(new Uint8Array(source.buffer, 0, bytes));
  }
  const dstPtr = kernels.alloc(bytes);
  try {
    kernels.run(task.layout, task.job, srcPtr, dstPtr);
    const out = kernels.view(dstPtr, bytes);
    if (source.kind === 'shared') new Uint8Array(source.buffer, 0, bytes).set(out);
    return { queueSeconds, computeSeconds: (performance.now() - t0) / 1000, checksum: checksum(out), ...deviceReport() };
  } finally {
    kernels.free(dstPtr, bytes);
    if (source.kind === 'shared') kernels.free(srcPtr, bytes);
  }
}

/**
 * A frame moved here from the caller (no copy on its thread): one copy into the kernels' memory,
 * the job, one copy out into the caller's shared `output`. `iters=0` copies the frame straight to
 * `output`.
 */
function runMoved(task: WorkerTask, buffer: ArrayBuffer, output: SharedArrayBuffer, bytes: number, queueSeconds: number, t0: number): ProcessResult {
  const frame = new Uint8Array(buffer, 0, bytes);
  const out = new Uint8Array(output, 0, bytes);
  if (task.job.iters === 0) {
    out.set(frame);
  } else {
    const srcPtr = kernels.alloc(bytes);
    const dstPtr = kernels.alloc(bytes);
    try {
      kernels.view(srcPtr, bytes).set(frame);
      kernels.run(task.layout, task.job, srcPtr, dstPtr);
      out.set(kernels.view(dstPtr, bytes));
    } finally {
      kernels.free(dstPtr, bytes);
      kernels.free(srcPtr, bytes);
    }
  }
  return { queueSeconds, computeSeconds: (performance.now() - t0) / 1000, checksum: checksum(frame), ...deviceReport() };
}
