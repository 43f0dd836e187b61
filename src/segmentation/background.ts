/**
 * The CPU background effects (blur, replace) over one frame: the model's mask from the runtime,
 * everything around it in the WASM SIMD kernels of assembly/segment.ts, in the same linear memory
 * as the frames (no copies of frame-sized data).
 *
 * Scratch lives in the kernels' memory and is kept between frames, reallocated only when a larger
 * frame arrives: a warm frame allocates nothing. A session's mask state travels with each job (a
 * small SharedArrayBuffer the session owns, see mask-state.ts), so any worker can take any frame.
 */
import { chromaSize, planesOf, type FrameLayout, type PlaneLayout } from '../frames/layout.ts';
import type { FrameMemory } from '../effects/kernel-types.ts';
import type { KernelExports } from '../effects/wasm-exports.ts';
import type { SegmentationModel } from './runtime.ts';
import type { MaskStateView } from './mask-state.ts';

/** The exports of assembly/segment.ts (and the shared kernels it reuses) that the background effects call. */
export type SegmentKernelExports = Pick<
  KernelExports,
  | 'resizeRgbaToInput'
  | 'resizeI420ToInput'
  | 'maskUpdate'
  | 'maskToQuarter'
  | 'downsample4'
  | 'upsample2x'
  | 'upsample2xScratch'
  | 'blendPlane'
  | 'blendConstant'
  | 'blur'
  | 'scratch3x3'
  | 'gaussian'
  | 'gaussianScratch'
  | 'gaussianPlaneScratch'
>;

/**
 * The feathering ramp on the (smoothed) probability, in bytes: at or below EDGE_LOW is background,
 * at or above EDGE_HIGH is person, linear between. A ramp narrower than the model's own soft edge
 * keeps hair and shoulders from ghosting; the 3x3 blur on the quarter grid and the upsampling then
 * spread the edge over about 8 full-resolution pixels.
 */
const EDGE_LOW = 80;
const EDGE_HIGH = 176;
/** Rows written in 32-byte steps by upsample2x may spill this far past a plane's end. */
const SPILL_BYTES = 32;

/** What to put behind the person. */
export type Backdrop =
  | { readonly kind: 'blur'; readonly strengthPx: number }
  | { readonly kind: 'colour'; readonly rgb: number }
  /** An image already at the frame's layout (RGBA or I420 planes), in the kernels' memory. */
  | { readonly kind: 'image'; readonly ptr: number };

export interface BackgroundRun {
  readonly layout: FrameLayout;
  readonly srcPtr: number;
  readonly dstPtr: number;
  readonly backdrop: Backdrop;
  /** The session's mask state; absent: a single image (fresh mask, no smoothing). */
  readonly state?: MaskStateView;
  /** Run the model on this frame (false: reuse the state's mask, when it has one). */
  readonly infer: boolean;
  /** Weight of the previous mask in the temporal smoothing, 0 (none) .. 0.95. */
  readonly smoothing: number;
}

export interface BackgroundReport {
  /** Time in the model (0 when the mask was reused). */
  readonly inferenceSeconds: number;
  readonly maskReused: boolean;
}

export class BackgroundEffects {
  readonly #k: SegmentKernelExports;
  readonly #mem: FrameMemory;
  readonly #model: SegmentationModel;
  readonly #modelPixels: number;
  /** Model input (floats), model output (floats), the mask state (bytes): fixed sizes. */
  readonly #inputPtr: number;
  readonly #probPtr: number;
  readonly #statePtr: number;
  #scratch = new Map<string, { ptr: number; bytes: number }>();
  #planeCapacity = { width: 0, height: 0, channels: 0, sigmaQ: 0 };

  constructor(kernels: SegmentKernelExports, memory: FrameMemory, model: SegmentationModel) {
    this.#k = kernels;
    this.#mem = memory;
    this.#model = model;
    const { inputWidth, inputHeight } = model.spec;
    this.#modelPixels = inputWidth * inputHeight;
    this.#inputPtr = memory.alloc(this.#modelPixels * 12);
    this.#probPtr = memory.alloc(this.#modelPixels * 4);
    this.#statePtr = memory.alloc(this.#modelPixels);
  }

  get modelPixels(): number {
    return this.#modelPixels;
  }

  /** The last mask (model resolution, bytes 0..255), valid until the next run. */
  maskView(): Uint8Array {
    return this.#mem.view(this.#statePtr, this.#modelPixels);
  }

  run(job: BackgroundRun): BackgroundReport {
    const { layout } = job;
    const planes = planesOf(layout);
    this.#ensureScratch(planes, job.backdrop);
    const infer = job.infer || !(job.state?.valid ?? false);
    let inferenceSeconds = 0;
    if (infer) inferenceSeconds = this.updateMask(job);
    else this.#loadMask(job.state);
    planes.forEach((plane, index) => this.#composePlane(layout, plane, index, job));
    return { inferenceSeconds, maskReused: !infer };
  }

  /**
   * Runs the model on the frame and blends its mask into the state (temporal smoothing), without
   * composing a frame: a live session's mask job. Returns the seconds spent in the model.
   */
  updateMask(job: Pick<BackgroundRun, 'layout' | 'srcPtr' | 'state' | 'smoothing'>): number {
    const hasState = job.state?.valid ?? false;
    this.#loadMask(job.state);
    const t0 = performance.now();
    this.#infer(job.layout, job.srcPtr);
    const inferenceSeconds = (performance.now() - t0) / 1000;
    const weightQ8 = Math.round((1 - Math.min(0.95, Math.max(0, job.smoothing))) * 256);
    this.#k.maskUpdate(this.#probPtr, this.#statePtr, this.#modelPixels, weightQ8, hasState ? 0 : 1);
    if (job.state) {
      // Frames of the session may read the state meanwhile: a frame composed from a half-written
      // mask mixes two masks a frame apart, which the eye does not see; no lock on the hot path.
      job.state.mask.set(this.#mem.view(this.#statePtr, this.#modelPixels));
      job.state.markValid();
    }
    return inferenceSeconds;
  }

  /** Copies a valid session mask into the kernels' memory. */
  #loadMask(state: MaskStateView | undefined): void {
    if (state?.valid) this.#mem.view(this.#statePtr, this.#modelPixels).set(state.mask);
  }

  #infer(layout: FrameLayout, srcPtr: number): void {
    const spec = this.#model.spec;
    const k = this.#k;
    const { width, height } = layout;
    if (layout.format === 'rgba') {
      k.resizeRgbaToInput(srcPtr, width, height, this.#inputPtr, spec.inputWidth, spec.inputHeight, spec.inputScale, spec.inputOffset);
    } else {
      const c = chromaSize(width, height);
      const u = srcPtr + width * height;
      const v = u + c.width * c.height;
      k.resizeI420ToInput(srcPtr, u, v, width, height, this.#inputPtr, spec.inputWidth, spec.inputHeight, spec.inputScale, spec.inputOffset);
    }
    // Views are taken after every alloc of this run: memory growth would detach older ones.
    const bytes = this.#mem.view(0, 0).buffer;
    const input = new Float32Array(bytes, this.#inputPtr, this.#modelPixels * 3);
    const prob = new Float32Array(bytes, this.#probPtr, this.#modelPixels);
    this.#model.infer(input, prob);
  }

  #composePlane(layout: FrameLayout, plane: PlaneLayout, index: number, job: BackgroundRun): void {
    const k = this.#k;
    const { width: w, height: h, channels: c } = plane;
    const src = job.srcPtr + plane.offset;
    const dst = job.dstPtr + plane.offset;
    const qw = (w + 3) >> 2;
    const qh = (h + 3) >> 2;
    const s = (name: string) => this.#scratchPtr(name);
    const { inputWidth: mw, inputHeight: mh } = this.#model.spec;

    // The mask on this plane's grid: quarter grid with the ramp, 3x3 blur, two 2x upsamplings.
    k.maskToQuarter(this.#statePtr, mw, mh, w, h, s('maskQ'), EDGE_LOW, EDGE_HIGH);
    k.blur(s('maskQ'), s('maskQ2'), qw, qh, 1, s('row3x3'));
    k.upsample2x(s('maskQ2'), qw, qh, 1, s('maskHalf'), s('rowUp'));
    k.upsample2x(s('maskHalf'), qw * 2, qh * 2, 1, s('maskFull'), s('rowUp'));
    const maskStride = qw * 4;

    const backdrop = job.backdrop;
    if (backdrop.kind === 'colour') {
      k.blendConstant(src, dst, w, h, c, planeColour(backdrop.rgb, layout, index), s('maskFull'), maskStride);
      return;
    }
    if (backdrop.kind === 'image') {
      k.blendPlane(src, dst, w, h, c, backdrop.ptr + plane.offset, w * c, s('maskFull'), maskStride);
      return;
    }
    // Chroma planes of I420 are half size: the same blur in picture terms is half the pixels.
    const sigmaQ = quarterSigma(backdrop.strengthPx, layout.format === 'i420' && index > 0);
    k.downsample4(src, w, h, c, s('bgQ'));
    k.gaussian(s('bgQ'), s('bgQ2'), qw, qh, c, sigmaQ, s('rowGauss'), s('planeGauss'));
    k.upsample2x(s('bgQ2'), qw, qh, c, s('bgHalf'), s('rowUp'));
    k.upsample2x(s('bgHalf'), qw * 2, qh * 2, c, s('bgFull'), s('rowUp'));
    k.blendPlane(src, dst, w, h, c, s('bgFull'), qw * 4 * c, s('maskFull'), maskStride);
  }

  /** Sizes every scratch buffer for the largest plane (plane 0) and the backdrop; grows only. */
  #ensureScratch(planes: PlaneLayout[], backdrop: Backdrop): void {
    const p = planes[0];
    if (!p) return;
    const sigmaQ = backdrop.kind === 'blur' ? quarterSigma(backdrop.strengthPx, false) : 0;
    const cap = this.#planeCapacity;
    if (p.width <= cap.width && p.height <= cap.height && p.channels <= cap.channels && sigmaQ <= cap.sigmaQ) return;
    const width = Math.max(p.width, cap.width);
    const height = Math.max(p.height, cap.height);
    const c = Math.max(p.channels, cap.channels);
    const sigma = Math.max(sigmaQ, cap.sigmaQ, 0.5);
    const qw = (width + 3) >> 2;
    const qh = (height + 3) >> 2;
    const k = this.#k;
    const sizes: Record<string, number> = {
      maskQ: qw * qh,
      maskQ2: qw * qh,
      maskHalf: 4 * qw * qh + SPILL_BYTES,
      maskFull: 16 * qw * qh + SPILL_BYTES,
      bgQ: qw * qh * c,
      bgQ2: qw * qh * c,
      bgHalf: 4 * qw * qh * c + SPILL_BYTES,
      bgFull: 16 * qw * qh * c + SPILL_BYTES,
      row3x3: k.scratch3x3(qw, 1),
      rowGauss: k.gaussianScratch(qw, qh, c, sigma),
      // The sizes grow with sigma up to the recursive filter's, then stay: sized for the largest sigma yet, they fit every smaller one.
      planeGauss: Math.max(16, k.gaussianPlaneScratch(qw, qh, c, sigma)),
      rowUp: k.upsample2xScratch(qw * 2, c),
    };
    for (const { ptr, bytes } of this.#scratch.values()) this.#mem.free(ptr, bytes);
    this.#scratch = new Map();
    for (const [name, bytes] of Object.entries(sizes)) this.#scratch.set(name, { ptr: this.#mem.alloc(bytes), bytes });
    this.#planeCapacity = { width, height, channels: c, sigmaQ: sigma };
  }

  #scratchPtr(name: string): number {
    const entry = this.#scratch.get(name);
    if (!entry) throw new Error(`segmentation scratch ${name} was not allocated`);
    return entry.ptr;
  }

  /** Bytes of kernel memory this object holds (scratch and model buffers). */
  get heldBytes(): number {
    let total = this.#modelPixels * 17;
    for (const { bytes } of this.#scratch.values()) total += bytes;
    return total;
  }
}

/** The blur's sigma on the quarter grid (chroma: half again), within the gaussian kernel's range. */
function quarterSigma(strengthPx: number, chroma: boolean): number {
  return Math.min(32, Math.max(0.5, strengthPx / (chroma ? 8 : 4)));
}

/**
 * The backdrop colour 0xRRGGBB as one plane's value: RGBA bytes as a little-endian u32 for RGBA,
 * else the BT.601 limited-range Y, U or V byte (the conversion libwebrtc's I420 frames use).
 */
export function planeColour(rgb: number, layout: FrameLayout, planeIndex: number): number {
  const r = (rgb >> 16) & 0xff;
  const g = (rgb >> 8) & 0xff;
  const b = rgb & 0xff;
  if (layout.format === 'rgba') return (r | (g << 8) | (b << 16) | (0xff << 24)) >>> 0;
  const value =
    planeIndex === 0
      ? 16 + 0.257 * r + 0.504 * g + 0.098 * b
      : planeIndex === 1
        ? 128 - 0.148 * r - 0.291 * g + 0.439 * b
        : 128 + 0.439 * r - 0.368 * g - 0.071 * b;
  return Math.min(255, Math.max(0, Math.round(value)));
}
