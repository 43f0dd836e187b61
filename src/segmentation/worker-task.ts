/**
 * One segmentation task in a worker thread: the frame into the CPU kernels' memory, the effect,
 * the result back into the caller's buffer. The worker's model loads on its first such task.
 */
import { isSegmentationEffect } from '../effects/catalog.ts';
import { WasmMemoryExhaustedError } from '../effects/wasm.ts';
import type { EffectKernels } from '../effects/kernel-types.ts';
import { fillSynthetic } from '../frames/synthetic.ts';
import { frameBytes } from '../frames/layout.ts';
import { epochNowMs, type ProcessResult, type ProcessTask } from '../protocol/worker-messages.ts';
import type { SegmentationWorker } from './worker-effects.ts';

// TF.js (several MB of JavaScript and a WASM heap) loads on a worker's first segmentation job
// only: workers that never see one do not pay for it at start-up.
let worker: Promise<SegmentationWorker> | undefined;

export async function runSegmentationTask(
  task: ProcessTask,
  kernels: EffectKernels & { readonly exports: unknown },
  checksum: (frame: Uint8Array) => number,
): Promise<ProcessResult> {
  const queueSeconds = Math.max(0, (epochNowMs() - task.queuedAtMs) / 1000);
  // The engine's cancel flag (client gone, deadline): a job not started yet is skipped.
  if (task.cancel && Atomics.load(new Int32Array(task.cancel), 0) !== 0) return { outcome: 'cancelled', queueSeconds, computeSeconds: 0, checksum: 0 };
  const { job, layout, source } = task;
  if (!isSegmentationEffect(job.effect)) throw new RangeError(`${job.effect} is not a segmentation effect`);
  worker ??= import('./worker-effects.ts').then(({ SegmentationWorker }) => SegmentationWorker.create(kernels)).catch((err: unknown) => {
    worker = undefined;
    throw err;
  });
  const seg = await worker;
  const t0 = performance.now();
  const bytes = frameBytes(layout);
  let srcPtr: number | undefined;
  let dstPtr: number | undefined;
  try {
    srcPtr = kernels.alloc(bytes);
    dstPtr = kernels.alloc(bytes);
    // The test card is made afresh: segmentation of a card is a smoke test, not a hot path.
    if (source.kind === 'synthetic') fillSynthetic(layout, kernels.view(srcPtr, bytes));
    else kernels.view(srcPtr, bytes).set(new Uint8Array(source.buffer, 0, bytes));
    if (task.segmentation?.maskOnly) {
      const { inferenceSeconds } = seg.updateMask(layout, srcPtr, task.segmentation);
      return { queueSeconds, computeSeconds: (performance.now() - t0) / 1000, checksum: 0, device: 'cpu', inferenceSeconds, maskReused: false };
    }
    const report = seg.run(layout, { ...job, effect: job.effect }, srcPtr, dstPtr, task.segmentation);
    const out = kernels.view(dstPtr, bytes);
    if (source.kind === 'shared') new Uint8Array(source.buffer, 0, bytes).set(out);
    return {
      queueSeconds,
      computeSeconds: (performance.now() - t0) / 1000,
      checksum: checksum(out),
      device: 'cpu',
      inferenceSeconds: report.inferenceSeconds,
      maskReused: report.maskReused,
    };
  } catch (err) {
    // The worker's WASM memory budget (WORKER_MEMORY_BYTES) refused a frame or the effect's scratch.
    if (err instanceof WasmMemoryExhaustedError) return { outcome: 'no_memory', queueSeconds, computeSeconds: (performance.now() - t0) / 1000, checksum: 0 };
    throw err;
  } finally {
    if (dstPtr !== undefined) kernels.free(dstPtr, bytes);
    if (srcPtr !== undefined) kernels.free(srcPtr, bytes);
  }
}
