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
import { createWasmKernels, JobCancelledError, WasmMemoryExhaustedError } from '../effects/wasm.ts';
import { nativeKernels } from '../effects/native.ts';
import { fillSynthetic } from '../frames/synthetic.ts';
import { frameBytes, type FrameLayout } from '../frames/layout.ts';
import { epochNowMs, type ProcessResult, type WorkerInit, type WorkerTask } from '../protocol/worker-messages.ts';
import { isSegmentationEffect } from '../effects/catalog.ts';
import { runSegmentationTask } from '../segmentation/worker-task.ts';
import { runSegmentationTaskOnGpu } from '../cuda/background-task.ts';

const init = (workerData ?? { device: 'cpu' }) as WorkerInit;
const cpuKernels = await createWasmKernels({
  ...(init.memoryBytes === undefined ? {} : { maxMemoryBytes: init.memoryBytes }),
  ...(init.kernelBuild ? { build: init.kernelBuild } : {}),
  ...(init.nativeIsa ? { native: nativeKernels(init.nativeIsa, init.kernelBuild ?? 'simd') } : {}),
});
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

// Test cards stay resident in kernel memory, least recently used first out, up to a byte budget
// (a 4K card is 33 MB; a count of cards would let a client pick sizes that fill the memory).
const CARD_CACHE_BYTES = init.cardCacheBytes ?? 64 * 1024 * 1024;
const syntheticCards = new Map<string, { ptr: number; bytes: number }>();
let cardBytes = 0;

/** The card the current job reads: never evicted under it. */
let pinnedCard: number | undefined;

function evictOldestCard(): boolean {
  for (const [key, card] of syntheticCards) {
    if (card.ptr === pinnedCard) continue;
    kernels.free(card.ptr, card.bytes);
    cardBytes -= card.bytes;
    syntheticCards.delete(key);
    return true;
  }
  return false;
}

/**
 * alloc that, when the worker's memory budget is reached, gives back what it keeps for later
 * (test cards, then the kernels' scratch) and tries again; throws WasmMemoryExhaustedError when
 * the job does not fit even then.
 */
function allocOrTrim(bytes: number): number {
  for (;;) {
    try {
      return kernels.alloc(bytes);
    } catch (err) {
      if (!(err instanceof WasmMemoryExhaustedError)) throw err;
      if (evictOldestCard()) continue;
      if (scratchReleased) throw err;
      kernels.releaseScratch?.();
      scratchReleased = true;
    }
  }
}
let scratchReleased = false;

/** The cached card, or a fresh one; `cached` false: the caller frees it (it is larger than the cache). */
function syntheticCard(layout: FrameLayout): { ptr: number; cached: boolean } {
  const key = `${layout.format}:${layout.width}x${layout.height}`;
  const hit = syntheticCards.get(key);
  if (hit) {
    // Refresh recency: Map iteration order is insertion order.
    syntheticCards.delete(key);
    syntheticCards.set(key, hit);
    return { ptr: hit.ptr, cached: true };
  }
  const bytes = frameBytes(layout);
  const cached = bytes <= CARD_CACHE_BYTES;
  if (cached) while (cardBytes + bytes > CARD_CACHE_BYTES && evictOldestCard());
  const ptr = allocOrTrim(bytes);
  fillSynthetic(layout, kernels.view(ptr, bytes));
  if (cached) {
    syntheticCards.set(key, { ptr, bytes });
    cardBytes += bytes;
  }
  return { ptr, cached };
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

export default function runTask(task: WorkerTask): ProcessResult | Promise<ProcessResult> {
  // Segmentation effects run on this worker's CPU kernels and the model (src/segmentation/), or on
  // the GPU of a CUDA worker (src/cuda/background-task.ts) with the CPU as its fallback.
  if (isSegmentationEffect(task.job.effect)) {
    if (!gpu) return runSegmentationTask(task, cpuKernels, checksum);
    gpu.kernels.preferCpu(task.device === 'cpu');
    return runSegmentationTaskOnGpu(task, gpu.kernels, checksum, deviceReport, () => runSegmentationTask(task, cpuKernels, checksum));
  }
  const queueSeconds = Math.max(0, (epochNowMs() - task.queuedAtMs) / 1000);
  const cancel = task.cancel ? new Int32Array(task.cancel) : undefined;
  const shouldStop = cancel ? () => Atomics.load(cancel, 0) !== 0 : undefined;
  if (shouldStop?.()) return { outcome: 'cancelled', queueSeconds, computeSeconds: 0, checksum: 0 };
  let t0 = performance.now();
  let copySeconds = 0;
  const bytes = frameBytes(task.layout);
  const { source } = task;
  gpu?.kernels.preferCpu(task.device === 'cpu');
  scratchReleased = false;
  // Every block taken here is freed in `finally`, including when a later allocation is refused.
  let srcPtr: number | undefined;
  let srcOwned = false;
  let dstPtr: number | undefined;
  try {
    if (source.kind === 'synthetic') {
      const card = syntheticCard(task.layout);
      srcPtr = card.ptr;
      srcOwned = !card.cached;
      pinnedCard = card.ptr;
    } else {
      // A shared frame, or a frame moved here (transferred) from the caller: one copy in.
      srcPtr = allocOrTrim(bytes);
      srcOwned = true;
      const copyIn = performance.now();
      kernels.view(srcPtr, bytes).set(new Uint8Array(source.buffer, 0, bytes));
      copySeconds += (performance.now() - copyIn) / 1000;
    }
    dstPtr = allocOrTrim(bytes);
    // compute_sec is the kernels' time, every pass and nothing else: making a new test card is not
    // the job's work, and the copies of an uploaded frame in and out of the kernels' memory are
    // reported apart (copySeconds; admission counts both).
    t0 = performance.now();
    runWithin(task, srcPtr, dstPtr, shouldStop);
    const computeSeconds = (performance.now() - t0) / 1000;
    const out = kernels.view(dstPtr, bytes);
    // One copy out: into the shared frame, or for a moved frame into the caller's shared output.
    const copyOut = performance.now();
    if (source.kind === 'shared') new Uint8Array(source.buffer, 0, bytes).set(out);
    else if (source.kind === 'moved') new Uint8Array(source.output, 0, bytes).set(out);
    copySeconds += (performance.now() - copyOut) / 1000;
    return { queueSeconds, computeSeconds, ...(copySeconds > 0 ? { copySeconds } : {}), checksum: checksum(out), ...deviceReport() };
  } catch (err) {
    const computeSeconds = (performance.now() - t0) / 1000;
    if (err instanceof JobCancelledError) return { outcome: 'cancelled', queueSeconds, computeSeconds, checksum: 0 };
    if (err instanceof WasmMemoryExhaustedError) return { outcome: 'no_memory', queueSeconds, computeSeconds, checksum: 0 };
    throw err;
  } finally {
    pinnedCard = undefined;
    if (dstPtr !== undefined) kernels.free(dstPtr, bytes);
    if (srcPtr !== undefined && srcOwned) kernels.free(srcPtr, bytes);
  }
}

/** Runs the kernels; the kernels' own scratch may be refused too, then the caches go and it runs again. */
function runWithin(task: WorkerTask, srcPtr: number, dstPtr: number, shouldStop: (() => boolean) | undefined): void {
  for (;;) {
    try {
      kernels.run(task.layout, task.job, srcPtr, dstPtr, shouldStop);
      return;
    } catch (err) {
      if (!(err instanceof WasmMemoryExhaustedError)) throw err;
      if (evictOldestCard()) continue;
      if (scratchReleased) throw err;
      kernels.releaseScratch?.();
      scratchReleased = true;
    }
  }
}
