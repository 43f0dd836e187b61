/**
 * The CPU background effects (blur, replace) over one frame: the people found by the detector or
 * tracked in the session's state (people.ts), each one's region through the model, the outputs
 * placed back on the frame's mask grid; everything around the models in the WASM SIMD kernels of
 * assembly/segment.ts, in the same linear memory as the frames (no copies of frame-sized data).
 *
 * Scratch lives in the kernels' memory and is kept between frames, reallocated only when a larger
 * frame arrives: a warm frame allocates nothing. A session's mask state travels with each job (a
 * small SharedArrayBuffer the session owns, see mask-state.ts), so any worker can take any frame.
 */
import { chromaSize, planesOf, type FrameLayout, type PlaneLayout } from '../frames/layout.ts';
import type { FrameMemory } from '../effects/kernel-types.ts';
import type { KernelExports } from '../effects/wasm-exports.ts';
import type { PersonDetectorModel, SegmentationModel } from './runtime.ts';
import type { MaskStateView } from './mask-state.ts';
import { EDGE_HIGH, EDGE_LOW } from './graph-frame.ts';
import { decodePeople, mergeBoxes, mergeRois, personShare, roiOfBox, squareOf, stretchLevels, trackRois, type PersonBox, type Roi } from './people.ts';

/** The exports of assembly/segment.ts (and the shared kernels it reuses) that the background effects call. */
export type SegmentKernelExports = Pick<
  KernelExports,
  | 'resizeRgbaToInput'
  | 'resizeI420ToInput'
  | 'resizeRgbaRectToInput'
  | 'resizeI420RectToInput'
  | 'maskPlaceRect'
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
 * The detector's score from which a box counts as a person. scikit-image's photos: people pasted
 * small, rotated or dark onto other photos score 0.24 to 0.48, the cat 0.00, the coffee cup 0.09.
 */
export const PERSON_MIN_SCORE = 0.2;
/**
 * Detector passes in a row that must find nobody before a live session's tracked people are
 * dropped (their mask then fades with the temporal smoothing): one missed look at a person who
 * turned away or was blurred by movement does not cut them out.
 */
const MISSES_TO_DROP = 2;
/** Frames at least this much wider than tall (or taller than wide) get the second look on their end squares. */
const TILE_ASPECT = 1.25;
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
  /**
   * Look for people with the detector on this frame (a still, a session's first mask, the periodic
   * look for newcomers); otherwise the model runs on the people the state tracks. Always done
   * when the state has no mask yet.
   */
  readonly detect?: boolean;
  /** Weight of the previous mask in the temporal smoothing, 0 (none) .. 0.95. */
  readonly smoothing: number;
}

export interface BackgroundReport extends MaskReport {
  readonly maskReused: boolean;
}

export interface MaskReport {
  /** Time in the models, the detector's included (0 when the mask was reused). */
  readonly inferenceSeconds: number;
  /** The detector's part of inferenceSeconds (0 when it did not run). */
  readonly detectorSeconds: number;
  /** The regions the model ran on (frame units); the whole frame without a detector. */
  readonly rois: readonly Roi[];
  /** The best detector score of this update (undefined when the detector did not run). */
  readonly personScore: number | undefined;
  /** Share of the frame the new mask keeps as person (at or above half the ramp). */
  readonly personShare: number;
}

const NO_MASK_UPDATE: MaskReport = { inferenceSeconds: 0, detectorSeconds: 0, rois: [], personScore: undefined, personShare: 0 };

export class BackgroundEffects {
  readonly #k: SegmentKernelExports;
  readonly #mem: FrameMemory;
  readonly #model: SegmentationModel;
  readonly #detector: PersonDetectorModel | undefined;
  readonly #modelPixels: number;
  /**
   * Model input (floats), the model's output on one ROI (floats), the union of the ROIs' outputs
   * over the frame's mask grid (floats), the mask state (bytes), the detector's input (floats):
   * fixed sizes.
   */
  readonly #inputPtr: number;
  readonly #roiProbPtr: number;
  readonly #probPtr: number;
  readonly #statePtr: number;
  readonly #detectorInputPtr: number;
  #scratch = new Map<string, { ptr: number; bytes: number }>();
  #planeCapacity = { width: 0, height: 0, channels: 0, sigmaQ: 0 };

  /** Without a detector, the model runs on the whole frame stretched to its input (the mask of every frame). */
  constructor(kernels: SegmentKernelExports, memory: FrameMemory, model: SegmentationModel, detector?: PersonDetectorModel) {
    this.#k = kernels;
    this.#mem = memory;
    this.#model = model;
    this.#detector = detector;
    const { inputWidth, inputHeight } = model.spec;
    this.#modelPixels = inputWidth * inputHeight;
    this.#inputPtr = memory.alloc(this.#modelPixels * 12);
    this.#roiProbPtr = memory.alloc(this.#modelPixels * 4);
    this.#probPtr = memory.alloc(this.#modelPixels * 4);
    this.#statePtr = memory.alloc(this.#modelPixels);
    this.#detectorInputPtr = detector ? memory.alloc(detector.spec.inputWidth * detector.spec.inputHeight * 12) : 0;
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
    let update = NO_MASK_UPDATE;
    if (infer) update = this.updateMask(job);
    else this.#loadMask(job.state);
    planes.forEach((plane, index) => this.#composePlane(layout, plane, index, job));
    return { ...update, maskReused: !infer };
  }

  /**
   * Runs the model on the frame and blends its mask into the state (temporal smoothing), without
   * composing a frame: a live session's mask job.
   *
   * With a detector: the people are found (job.detect, or no mask yet) or taken from the state's
   * tracking; each one's ROI goes through the model at its input resolution and the outputs are
   * placed back on the frame's mask grid, their union; nobody found: an empty mask (a still), or
   * on a live session the tracked people kept until MISSES_TO_DROP looks in a row found nobody.
   */
  updateMask(job: Pick<BackgroundRun, 'layout' | 'srcPtr' | 'state' | 'smoothing' | 'detect'>): MaskReport {
    const state = job.state;
    const hasState = state?.valid ?? false;
    this.#loadMask(state);
    const t0 = performance.now();
    const { layout } = job;
    let rois: Roi[] = [{ x0: 0, y0: 0, x1: 1, y1: 1, turns: 0 }];
    let personScore: number | undefined;
    let misses = state?.misses ?? 0;
    let detectorSeconds = 0;
    if (this.#detector) {
      const tracked = hasState && state ? state.rois() : [];
      rois = tracked;
      if (job.detect === true || !hasState) {
        const t1 = performance.now();
        const people = this.#detect(this.#detector, layout, job.srcPtr);
        detectorSeconds = (performance.now() - t1) / 1000;
        personScore = people[0]?.score ?? 0;
        if (people.length > 0) {
          // Newcomers first (the detector's boxes), then the tracked people the boxes do not cover.
          rois = mergeRois([...people.map((p) => roiOfBox(p, layout.width, layout.height)), ...tracked]);
          misses = 0;
        } else {
          misses++;
          if (misses >= MISSES_TO_DROP) rois = [];
        }
      }
    }
    this.#segmentRois(layout, job.srcPtr, rois);
    const inferenceSeconds = (performance.now() - t0) / 1000;
    const weightQ8 = Math.round((1 - Math.min(0.95, Math.max(0, job.smoothing))) * 256);
    this.#k.maskUpdate(this.#probPtr, this.#statePtr, this.#modelPixels, weightQ8, hasState ? 0 : 1);
    const mask = this.#mem.view(this.#statePtr, this.#modelPixels);
    const { inputWidth: mw, inputHeight: mh } = this.#model.spec;
    if (state) {
      // Frames of the session may read the state meanwhile: a frame composed from a half-written
      // mask mixes two masks a frame apart, which the eye does not see; no lock on the hot path.
      state.mask.set(mask);
      if (this.#detector) {
        state.setRois(trackRois(mask, mw, mh, rois, layout.width, layout.height));
        state.misses = misses;
      }
      state.markValid();
    }
    return { inferenceSeconds, detectorSeconds, rois, personScore, personShare: personShare(mask) };
  }

  /**
   * The people in a frame: the detector on the whole frame letterboxed into its square input
   * (aspect kept: a person squeezed thin is not found), its levels stretched so that a dark room
   * looks lit. Nobody found on a frame wider (or taller) than a square: again on its two end
   * squares, where a small person is seen at up to twice the size (16:9: 1.8x). Boxes in frame units.
   */
  #detect(detector: PersonDetectorModel, layout: FrameLayout, srcPtr: number): PersonBox[] {
    const { width, height } = layout;
    const side = Math.max(width, height);
    const people = this.#detectIn(detector, layout, srcPtr, (width - side) / 2, (height - side) / 2, side);
    const short = Math.min(width, height);
    if (people.length > 0 || side < short * TILE_ASPECT) return people;
    const ends = width > height ? [[0, 0], [width - short, 0]] : [[0, 0], [0, height - short]];
    return mergeBoxes(ends.flatMap(([x, y]) => this.#detectIn(detector, layout, srcPtr, x!, y!, short)));
  }

  /** The detector on the square (x, y, side) of frame pixels; boxes in frame units. */
  #detectIn(detector: PersonDetectorModel, layout: FrameLayout, srcPtr: number, x: number, y: number, side: number): PersonBox[] {
    const { inputWidth: W, inputHeight: H, inputScale, inputOffset } = detector.spec;
    this.#resizeRect(layout, srcPtr, { x, y, w: side, h: side, turns: 0 }, this.#detectorInputPtr, W, H, inputScale, inputOffset);
    const input = new Float32Array(this.#mem.view(0, 0).buffer, this.#detectorInputPtr, W * H * 3);
    stretchLevels(input, inputScale, inputOffset);
    return decodePeople(detector.detect(input), PERSON_MIN_SCORE).map((p) => ({
      score: p.score,
      turns: p.turns,
      x0: (x + p.x0 * side) / layout.width,
      x1: (x + p.x1 * side) / layout.width,
      y0: (y + p.y0 * side) / layout.height,
      y1: (y + p.y1 * side) / layout.height,
    }));
  }

  /**
   * The model on each ROI (a square of frame pixels, see squareOf; the whole frame is stretched
   * instead), placed back onto the frame's mask grid in #probPtr: their union, 0 elsewhere.
   */
  #segmentRois(layout: FrameLayout, srcPtr: number, rois: readonly Roi[]): void {
    const spec = this.#model.spec;
    const { inputWidth: W, inputHeight: H } = spec;
    const { width, height } = layout;
    // Views are taken after every alloc of this run: memory growth would detach older ones.
    const bytes = this.#mem.view(0, 0).buffer;
    const input = new Float32Array(bytes, this.#inputPtr, this.#modelPixels * 3);
    const combined = new Float32Array(bytes, this.#probPtr, this.#modelPixels);
    const whole = rois.length === 1 && rois[0]!.x0 === 0 && rois[0]!.y0 === 0 && rois[0]!.x1 === 1 && rois[0]!.y1 === 1 && !this.#detector;
    if (whole) {
      this.#resizeRect(layout, srcPtr, { x: 0, y: 0, w: width, h: height, turns: 0 }, this.#inputPtr, W, H, spec.inputScale, spec.inputOffset);
      this.#model.infer(input, combined);
      return;
    }
    combined.fill(0);
    const roiProb = new Float32Array(bytes, this.#roiProbPtr, this.#modelPixels);
    for (const roi of rois) {
      const sq = squareOf(roi, width, height);
      const rect = { ...sq, turns: roi.turns };
      this.#resizeRect(layout, srcPtr, rect, this.#inputPtr, W, H, spec.inputScale, spec.inputOffset);
      this.#model.infer(input, roiProb);
      this.#k.maskPlaceRect(this.#roiProbPtr, W, H, rect.x, rect.y, rect.w, rect.h, rect.turns, width, height, this.#probPtr, W, H);
    }
  }

  /** Copies a valid session mask into the kernels' memory. */
  #loadMask(state: MaskStateView | undefined): void {
    if (state?.valid) this.#mem.view(this.#statePtr, this.#modelPixels).set(state.mask);
  }

  /** A rectangle of the frame (frame pixels) resized to a W x H model input at dst. */
  #resizeRect(layout: FrameLayout, srcPtr: number, r: { x: number; y: number; w: number; h: number; turns: number }, dst: number, W: number, H: number, scale: number, offset: number): void {
    const k = this.#k;
    const { width, height } = layout;
    if (layout.format === 'rgba') {
      k.resizeRgbaRectToInput(srcPtr, width, height, r.x, r.y, r.w, r.h, r.turns, dst, W, H, scale, offset);
    } else {
      const c = chromaSize(width, height);
      const u = srcPtr + width * height;
      const v = u + c.width * c.height;
      k.resizeI420RectToInput(srcPtr, u, v, width, height, r.x, r.y, r.w, r.h, r.turns, dst, W, H, scale, offset);
    }
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

    // The edge on this plane's grid (graph-frame.ts, edgeMask): quarter grid with the ramp, 3x3 mean, two 2x upsamplings.
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
    let total = this.#modelPixels * 21 + (this.#detector ? this.#detector.spec.inputWidth * this.#detector.spec.inputHeight * 12 : 0);
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
