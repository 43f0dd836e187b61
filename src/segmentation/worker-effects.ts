/**
 * Worker-thread side of the segmentation effects: turns a task (effect, params, the session's
 * mask state and backdrop) into a BackgroundEffects run over the WASM kernels' memory. The model
 * and the person detector load on a worker's first segmentation job, so workers that never see one
 * pay nothing.
 *
 * Bounded per worker: the model, the detector (about 85 MB resident with TF.js's heap) and their
 * buffers, scratch for the largest frame seen, and at most BACKDROP_CACHE_ENTRIES session images
 * resized to a frame layout.
 */
import type { EffectKernels, FrameMemory } from '../effects/kernel-types.ts';
import type { KernelExports } from '../effects/wasm-exports.ts';
import { withDefaults, type EffectJob, type EffectParams, type ParamsOf, type SegmentationEffectName } from '../effects/catalog.ts';
import { chromaSize, frameBytes, type FrameLayout } from '../frames/layout.ts';
import type { SegmentationTask } from '../protocol/worker-messages.ts';
import { BackgroundEffects, type Backdrop, type BackgroundReport, type MaskReport, type SegmentKernelExports } from './background.ts';
import { viewMaskState } from './mask-state.ts';

/** Session images kept resized to a frame layout, per worker (a 1080p RGBA one is 8 MB). */
const BACKDROP_CACHE_ENTRIES = 2;

/**
 * The session's image (a frame of the job's layout in the kernels' memory), when it has one; asked
 * for only by an effect that shows it.
 */
type SessionImage = (() => number) | undefined;

/** What each segmentation effect puts behind the person; a new effect adds its entry here (the compiler asks for it). */
const BACKDROPS = {
  'background-blur': ({ strength }) => ({ kind: 'blur', strengthPx: strength }),
  'background-replace': ({ color }, image) => (image ? { kind: 'image', ptr: image() } : { kind: 'colour', rgb: color }),
} satisfies { readonly [E in SegmentationEffectName]: (params: ParamsOf<E>, image: SessionImage) => Backdrop };

/** The backdrop of a segmentation job, on the CPU path (below) and the GPU path (src/cuda/background-task.ts). */
export function backdropOf(job: EffectJob & { readonly effect: SegmentationEffectName }, image: SessionImage): Backdrop {
  const backdrop = BACKDROPS[job.effect] as (params: EffectParams, image: SessionImage) => Backdrop;
  return backdrop(withDefaults(job.effect, job.params), image);
}

/**
 * Session images resized to cover a frame layout, in the format of that layout, kept in `memory`
 * (the WASM kernels' or a GPU's pinned memory): at most BACKDROP_CACHE_ENTRIES, least recently
 * used first out, each one frame (MAX_FRAME_PIXELS bounds it).
 */
export class BackdropCache {
  readonly #memory: FrameMemory;
  readonly #entries = new Map<string, { ptr: number; bytes: number }>();

  constructor(memory: FrameMemory) {
    this.#memory = memory;
  }

  /** The image covering the frame, as a block of `memory` valid until the next call. */
  frameOf(layout: FrameLayout, image: NonNullable<SegmentationTask['backdrop']>): number {
    const key = `${image.id}:${layout.format}:${layout.width}x${layout.height}`;
    const hit = this.#entries.get(key);
    if (hit) {
      this.#entries.delete(key);
      this.#entries.set(key, hit);
      return hit.ptr;
    }
    while (this.#entries.size >= BACKDROP_CACHE_ENTRIES) {
      const [oldestKey, oldest] = this.#entries.entries().next().value as [string, { ptr: number; bytes: number }];
      this.#memory.free(oldest.ptr, oldest.bytes);
      this.#entries.delete(oldestKey);
    }
    const bytes = frameBytes(layout);
    const ptr = this.#memory.alloc(bytes);
    const rgba = coverResize(new Uint8Array(image.rgba, 0, image.width * image.height * 4), image.width, image.height, layout.width, layout.height);
    const out = this.#memory.view(ptr, bytes);
    if (layout.format === 'rgba') out.set(rgba);
    else rgbaToI420(rgba, layout.width, layout.height, out);
    this.#entries.set(key, { ptr, bytes });
    return ptr;
  }
}

export class SegmentationWorker {
  readonly #kernels: EffectKernels;
  readonly #effects: BackgroundEffects;
  readonly #backdrops: BackdropCache;

  private constructor(kernels: EffectKernels, effects: BackgroundEffects) {
    this.#kernels = kernels;
    this.#effects = effects;
    this.#backdrops = new BackdropCache(kernels);
  }

  static async create(kernels: EffectKernels & { readonly exports: unknown }): Promise<SegmentationWorker> {
    // TF.js (megabytes of CommonJS) is loaded with the first mask, not by every worker at its start.
    const { loadPersonDetector, loadSegmentationModel } = await import('./runtime.ts');
    const [model, detector] = await Promise.all([loadSegmentationModel(), loadPersonDetector()]);
    // The WASM kernels' exports (generated from assembly/): the compiler checks that they hold every kernel BackgroundEffects calls.
    const exports: SegmentKernelExports = kernels.exports as KernelExports;
    return new SegmentationWorker(kernels, new BackgroundEffects(exports, kernels, model, detector));
  }

  get modelPixels(): number {
    return this.#effects.modelPixels;
  }

  /**
   * Runs a segmentation effect on the frame at srcPtr into dstPtr (both in this worker's WASM
   * kernel memory). Without `task` (a single image) the mask is fresh and not smoothed.
   */
  run(layout: FrameLayout, job: EffectJob & { effect: SegmentationEffectName }, srcPtr: number, dstPtr: number, task?: SegmentationTask): BackgroundReport {
    const state = task ? viewMaskState(task.state, this.#effects.modelPixels) : undefined;
    return this.#effects.run({
      layout,
      srcPtr,
      dstPtr,
      backdrop: this.#backdrop(layout, job, task),
      ...(state ? { state } : {}),
      infer: task?.infer ?? true,
      detect: task?.detect ?? true,
      smoothing: task?.smoothing ?? 0,
    });
  }

  /** A live session's mask job: the model on this frame into the session's state, no output. */
  updateMask(layout: FrameLayout, srcPtr: number, task: SegmentationTask): MaskReport {
    return this.#effects.updateMask({ layout, srcPtr, state: viewMaskState(task.state, this.#effects.modelPixels), smoothing: task.smoothing, detect: task.detect === true });
  }

  /** The mask of the last run at the model's resolution (bytes), valid until the next run. */
  lastMask(): Uint8Array {
    return this.#effects.maskView();
  }

  #backdrop(layout: FrameLayout, job: EffectJob & { effect: SegmentationEffectName }, task?: SegmentationTask): Backdrop {
    const image = task?.backdrop;
    return backdropOf(job, image ? () => this.#backdrops.frameOf(layout, image) : undefined);
  }
}

/**
 * The image scaled to cover w x h (aspect kept, the overflow cropped evenly), bilinear. Runs once
 * per session image and frame size, so plain TypeScript is enough.
 */
export function coverResize(src: Uint8Array, sw: number, sh: number, w: number, h: number): Uint8Array {
  const scale = Math.max(w / sw, h / sh);
  const offX = (sw * scale - w) / 2;
  const offY = (sh * scale - h) / 2;
  const out = new Uint8Array(w * h * 4);
  for (let y = 0; y < h; y++) {
    const fy = Math.min(sh - 1, Math.max(0, (y + 0.5 + offY) / scale - 0.5));
    const y0 = Math.floor(fy);
    const y1 = Math.min(sh - 1, y0 + 1);
    const wy = fy - y0;
    for (let x = 0; x < w; x++) {
      const fx = Math.min(sw - 1, Math.max(0, (x + 0.5 + offX) / scale - 0.5));
      const x0 = Math.floor(fx);
      const x1 = Math.min(sw - 1, x0 + 1);
      const wx = fx - x0;
      for (let c = 0; c < 4; c++) {
        const a = src[(y0 * sw + x0) * 4 + c]!;
        const b = src[(y0 * sw + x1) * 4 + c]!;
        const d = src[(y1 * sw + x0) * 4 + c]!;
        const e = src[(y1 * sw + x1) * 4 + c]!;
        const top = a + (b - a) * wx;
        const bottom = d + (e - d) * wx;
        out[(y * w + x) * 4 + c] = Math.round(top + (bottom - top) * wy);
      }
    }
  }
  return out;
}

/** RGBA -> I420, BT.601 limited range, chroma the mean of each 2x2 block. */
export function rgbaToI420(rgba: Uint8Array, w: number, h: number, out: Uint8Array): void {
  const c = chromaSize(w, h);
  const uOff = w * h;
  const vOff = uOff + c.width * c.height;
  for (let i = 0; i < w * h; i++) {
    const r = rgba[i * 4]!;
    const g = rgba[i * 4 + 1]!;
    const b = rgba[i * 4 + 2]!;
    out[i] = Math.round(16 + 0.257 * r + 0.504 * g + 0.098 * b);
  }
  for (let cy = 0; cy < c.height; cy++) {
    for (let cx = 0; cx < c.width; cx++) {
      let r = 0;
      let g = 0;
      let b = 0;
      let n = 0;
      for (let dy = 0; dy < 2; dy++) {
        for (let dx = 0; dx < 2; dx++) {
          const x = Math.min(w - 1, cx * 2 + dx);
          const y = Math.min(h - 1, cy * 2 + dy);
          const i = (y * w + x) * 4;
          r += rgba[i]!;
          g += rgba[i + 1]!;
          b += rgba[i + 2]!;
          n++;
        }
      }
      r /= n;
      g /= n;
      b /= n;
      out[uOff + cy * c.width + cx] = Math.round(128 - 0.148 * r - 0.291 * g + 0.439 * b);
      out[vOff + cy * c.width + cx] = Math.round(128 + 0.439 * r - 0.368 * g - 0.071 * b);
    }
  }
}
