/**
 * One segmentation task (background-blur, background-replace) in a CUDA worker: the whole effect
 * on the device through CudaKernels.runBackground() (src/cuda/segment.ts), under the fallback
 * policy of src/cuda/fallback.ts. When the GPU is not in use or fails, `onCpu` does the task
 * (the CPU path, src/segmentation/worker-task.ts), and the report says why.
 *
 * The session's mask state is the same bytes on both paths (model resolution, one byte per pixel,
 * the same temporal update), so a session that moves between GPU and CPU keeps its mask. The
 * mask is made on the CPU path (the person detector and the people's regions are there); the
 * device composes the frames over it.
 *
 * Bounded per worker: at most BACKDROP_CACHE_ENTRIES session images resized to a frame layout, in
 * the GPU kernels' pinned memory.
 */
import { isSegmentationEffect } from '../effects/catalog.ts';
import { epochNowMs, type ProcessResult, type ProcessTask } from '../protocol/worker-messages.ts';
import { frameBytes } from '../frames/layout.ts';
import { fillSynthetic } from '../frames/synthetic.ts';
import { viewMaskState } from '../segmentation/mask-state.ts';
import { SELFIE_MODEL } from '../segmentation/model.ts';
import { GraphModelError, loadGraphModelFile } from '../segmentation/graph-load.ts';
import { packagePath } from '../paths.ts';
import { BackdropCache, backdropOf } from '../segmentation/worker-effects.ts';
import type { HostBackdrop } from './cuda-kernels.ts';
import type { FallbackKernels, GpuKernels } from './fallback.ts';

/** The model's mask: one byte per input pixel (src/segmentation/model.ts). */
const MODEL_PIXELS = SELFIE_MODEL.inputWidth * SELFIE_MODEL.inputHeight;

/** Each GPU's cache of session images (in its pinned memory). */
const backdrops = new WeakMap<GpuKernels, BackdropCache>();

function backdropsOf(gpu: GpuKernels): BackdropCache {
  let cache = backdrops.get(gpu);
  if (!cache) backdrops.set(gpu, (cache = new BackdropCache(gpu)));
  return cache;
}

/**
 * Why the model cannot run on the GPU (a layer the graph loader does not know), checked once per
 * worker; undefined when it can. Such a model's jobs go to the CPU path without counting as GPU
 * faults, so that it does not make the worker give up its GPU for the other effects.
 */
let graphProblem: string | undefined | null = null;
function gpuGraphProblem(): string | undefined {
  if (graphProblem === null) {
    try {
      loadGraphModelFile(packagePath(SELFIE_MODEL.graphPath));
      graphProblem = undefined;
    } catch (err) {
      if (!(err instanceof GraphModelError)) throw err;
      graphProblem = err.message;
    }
  }
  return graphProblem;
}

export async function runSegmentationTaskOnGpu(
  task: ProcessTask,
  kernels: FallbackKernels,
  checksum: (frame: Uint8Array) => number,
  report: () => Partial<ProcessResult>,
  onCpu: () => Promise<ProcessResult>,
): Promise<ProcessResult> {
  const queueSeconds = Math.max(0, (epochNowMs() - task.queuedAtMs) / 1000);
  const { job, layout, source } = task;
  if (!isSegmentationEffect(job.effect)) throw new RangeError(`${job.effect} is not a segmentation effect`);
  const effect = job.effect;
  // The engine's cancel flag (client gone, deadline): a job not started yet is skipped, as on the CPU path.
  if (task.cancel && Atomics.load(new Int32Array(task.cancel), 0) !== 0) return { outcome: 'cancelled', queueSeconds, computeSeconds: 0, checksum: 0 };
  if (gpuGraphProblem() !== undefined) return onCpu();
  // The mask itself (a still, a session's first frames, its mask jobs) is made on the CPU path:
  // the person detector and the people's regions (src/segmentation/people.ts) run there, so a
  // pod's mask does not depend on its device. The GPU composes the frames that reuse the
  // session's mask, with the same edge (src/segmentation/graph-frame.ts, edgeMask).
  const state = task.segmentation ? viewMaskState(task.segmentation.state, MODEL_PIXELS) : undefined;
  if (!task.segmentation || task.segmentation.maskOnly === true || task.segmentation.infer || !state?.valid) return onCpu();
  const t0 = performance.now();
  const bytes = frameBytes(layout);
  let sum = 0;
  const seg = task.segmentation;
  const ran = kernels.tryGpu((gpu) => {
    if (!gpu.runBackground || !gpu.updateMask) throw new Error('these GPU kernels have no background effects');
    const srcPtr = gpu.alloc(bytes);
    const dstPtr = gpu.alloc(bytes);
    try {
      if (source.kind === 'synthetic') fillSynthetic(layout, gpu.view(srcPtr, bytes));
      else gpu.view(srcPtr, bytes).set(new Uint8Array(source.buffer, 0, bytes));
      const image = seg?.backdrop;
      const backdrop: HostBackdrop = backdropOf({ ...job, effect }, image ? () => backdropsOf(gpu).frameOf(layout, image) : undefined);
      // A frame over the session's mask as it is (infer false: checked above).
      gpu.runBackground(layout, srcPtr, dstPtr, backdrop, { get valid() { return state.valid; }, mask: state.mask, markValid: () => state.markValid(), infer: false, smoothing: seg.smoothing });
      const out = gpu.view(dstPtr, bytes);
      if (source.kind === 'shared') new Uint8Array(source.buffer, 0, bytes).set(out);
      sum = checksum(out);
    } finally {
      gpu.free(dstPtr, bytes);
      gpu.free(srcPtr, bytes);
    }
  });
  if (!ran) return { ...(await onCpu()), ...report() };
  return { queueSeconds, computeSeconds: (performance.now() - t0) / 1000, checksum: sum, ...report(), maskReused: true };
}
