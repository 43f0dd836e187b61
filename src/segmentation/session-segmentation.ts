/**
 * A live session's side of the segmentation effects (main thread): the mask state every frame's
 * job carries, the backdrop image, and the inference schedule.
 *
 * Mask jobs (the default, `maskJob`): the model runs in a job of its own, beside the frames, at
 * most one at a time per session and at most SEGMENT_INFERENCE_MAX_FPS; every frame is composed
 * with the latest mask in the state, so a frame costs the post-processing only and the session
 * keeps its frame rate; when the pod is loaded the mask jobs simply come less often (the last mask
 * is reused meanwhile). Frames infer themselves only until the first mask exists.
 *
 * Inline schedule (engines without mask jobs): the model is the expensive part of a frame. When a session's frames take longer than
 * the frames' own interval (the pod is loaded, or the CPU is small), the model runs on every Nth
 * frame only and the frames in between reuse the last (smoothed) mask, so the session keeps its
 * frame rate and the mask lags by at most N - 1 frames. N is the smallest that fits the measured
 * latencies into LOAD_TARGET of the frame interval, capped by SEGMENT_MAX_MASK_AGE_FRAMES.
 *
 * People: the model runs on the people the worker tracks in the state (their regions follow the
 * masks); the person detector looks at the whole frame for the first mask and every
 * SEGMENT_DETECT_INTERVAL_MS after (newcomers; people who left are dropped after two looks).
 *
 * Bounded: the state is a fixed SharedArrayBuffer (65,632 bytes with the selfie model), the
 * backdrop at most BACKDROP_MAX_PIXELS RGBA; both are dropped with the session (`clear`).
 */
import { randomUUID } from 'node:crypto';
import type { SegmentationTask } from '../protocol/worker-messages.ts';
import { createMaskState } from './mask-state.ts';
import { SELFIE_MODEL } from './model.ts';

export interface SegmentationSettings {
  /** Weight of the previous mask in the temporal smoothing (SEGMENT_MASK_SMOOTHING). */
  readonly smoothing: number;
  /** Inline schedule: longest run of frames that reuse one mask (SEGMENT_MAX_MASK_AGE_FRAMES); 1: the model on every frame. */
  readonly maxMaskAgeFrames: number;
  /** Mask jobs: the most a session starts per second (SEGMENT_INFERENCE_MAX_FPS). */
  readonly maxInferenceFps: number;
  /**
   * How often the person detector looks at the whole frame for newcomers (SEGMENT_DETECT_INTERVAL_MS);
   * in between, the model runs on the people tracked from the last masks.
   */
  readonly detectIntervalMs?: number;
}

const DEFAULT_DETECT_INTERVAL_MS = 2000;

export const DEFAULT_SEGMENTATION_SETTINGS: SegmentationSettings = { smoothing: 0.5, maxMaskAgeFrames: 6, maxInferenceFps: 15, detectIntervalMs: DEFAULT_DETECT_INTERVAL_MS };

/** Share of the frame interval the session's frames may take on average. */
const LOAD_TARGET = 0.8;
/** Weight of a new sample in the moving averages (about the last 8 frames). */
const EMA_WEIGHT = 0.125;

export interface Backdrop {
  readonly width: number;
  readonly height: number;
  /** RGBA, width * height * 4 bytes. */
  readonly rgba: Uint8Array;
}

export class SessionSegmentation {
  readonly #settings: SegmentationSettings;
  readonly #state = createMaskState(SELFIE_MODEL.inputWidth * SELFIE_MODEL.inputHeight);
  #backdrop: SegmentationTask['backdrop'];
  /** Moving averages (seconds): frame interval, latency of frames with and without the model. */
  #intervalSeconds: number | undefined;
  #inferLatencySeconds: number | undefined;
  #reuseLatencySeconds: number | undefined;
  #lastArrivalMs: number | undefined;
  #framesSinceInference = Number.POSITIVE_INFINITY;
  #maskEvery = 1;
  #inferences = 0;
  #reuses = 0;
  #maskJobInFlight = false;
  #lastMaskJobMs = Number.NEGATIVE_INFINITY;
  #lastDetectMs = Number.NEGATIVE_INFINITY;

  constructor(settings: SegmentationSettings = DEFAULT_SEGMENTATION_SETTINGS) {
    this.#settings = settings;
  }

  /** The segmentation part of the job for a frame that arrived at `arrivedAtMs`. */
  task(arrivedAtMs: number): SegmentationTask {
    if (this.#lastArrivalMs !== undefined) {
      const gap = (arrivedAtMs - this.#lastArrivalMs) / 1000;
      if (gap > 0 && gap < 1) this.#intervalSeconds = ema(this.#intervalSeconds, gap);
    }
    this.#lastArrivalMs = arrivedAtMs;
    const infer = this.#async ? !this.#hasMask() : this.#framesSinceInference + 1 >= this.#maskEvery;
    this.#framesSinceInference = infer ? 0 : this.#framesSinceInference + 1;
    return {
      state: this.#state,
      infer,
      detect: infer && this.#detectDue(arrivedAtMs),
      smoothing: this.#settings.smoothing,
      ...(this.#backdrop ? { backdrop: this.#backdrop } : {}),
    };
  }

  /**
   * Mask jobs: the task of a model-only job for the frame that arrived at `arrivedAtMs`, or
   * undefined when one is running, the last started too recently, or no mask exists yet (the
   * frame makes the first one itself). Call `maskJobDone` when it settles. After a start, the
   * frames' own tasks reuse the mask (`task` says infer only while no mask exists).
   */
  maskJob(arrivedAtMs: number): SegmentationTask | undefined {
    this.#async = true;
    if (this.#maskJobInFlight || !this.#hasMask()) return undefined;
    if (arrivedAtMs - this.#lastMaskJobMs < 1000 / this.#settings.maxInferenceFps) return undefined;
    this.#maskJobInFlight = true;
    this.#lastMaskJobMs = arrivedAtMs;
    return { state: this.#state, infer: true, detect: this.#detectDue(arrivedAtMs), smoothing: this.#settings.smoothing, maskOnly: true };
  }

  /**
   * Whether the mask made from the frame of `arrivedAtMs` should look for people with the detector
   * (no mask yet, or SEGMENT_DETECT_INTERVAL_MS since the last look); counts the look when it says yes.
   */
  #detectDue(arrivedAtMs: number): boolean {
    const intervalMs = this.#settings.detectIntervalMs ?? DEFAULT_DETECT_INTERVAL_MS;
    if (this.#hasMask() && arrivedAtMs - this.#lastDetectMs < intervalMs) return false;
    this.#lastDetectMs = arrivedAtMs;
    return true;
  }

  maskJobDone(): void {
    this.#maskJobInFlight = false;
  }

  /** A processed frame: whether its mask was reused and its latency from arrival to output. */
  observe(maskReused: boolean, latencySeconds: number): void {
    if (maskReused) {
      this.#reuses++;
      this.#reuseLatencySeconds = ema(this.#reuseLatencySeconds, latencySeconds);
    } else {
      this.#inferences++;
      this.#inferLatencySeconds = ema(this.#inferLatencySeconds, latencySeconds);
    }
    this.#maskEvery = this.#plan();
  }

  /** Sets (or, with undefined, clears) the image background-replace puts behind the person. */
  setBackdrop(image: Backdrop | undefined): void {
    if (!image) {
      this.#backdrop = undefined;
      return;
    }
    const rgba = new SharedArrayBuffer(image.width * image.height * 4);
    new Uint8Array(rgba).set(image.rgba.subarray(0, rgba.byteLength));
    // A new id for every image: workers cache it resized per frame size under this key.
    this.#backdrop = { id: randomUUID(), width: image.width, height: image.height, rgba };
  }

  get hasBackdrop(): boolean {
    return this.#backdrop !== undefined;
  }

  /** The model runs on one frame in this many (1: every frame). */
  get maskEvery(): number {
    return this.#maskEvery;
  }

  get counts(): { readonly inferences: number; readonly reuses: number } {
    return { inferences: this.#inferences, reuses: this.#reuses };
  }

  /** Bytes this session holds for segmentation. */
  get heldBytes(): number {
    return this.#state.byteLength + (this.#backdrop?.rgba.byteLength ?? 0);
  }

  #async = false;

  #hasMask(): boolean {
    return Atomics.load(new Int32Array(this.#state, 0, 1), 0) === 1;
  }

  #plan(): number {
    const max = this.#settings.maxMaskAgeFrames;
    const interval = this.#intervalSeconds;
    const infer = this.#inferLatencySeconds;
    if (max <= 1 || interval === undefined || infer === undefined) return 1;
    const budget = interval * LOAD_TARGET;
    if (infer <= budget) return 1;
    // Until a reused frame was measured, assume it costs a tenth of one with the model.
    const reuse = this.#reuseLatencySeconds ?? infer / 10;
    if (reuse >= budget) return max;
    // Mean latency over a cycle of N frames: (infer + (N - 1) reuse) / N <= budget.
    return Math.min(max, Math.max(1, Math.ceil((infer - reuse) / (budget - reuse))));
  }
}

function ema(previous: number | undefined, sample: number): number {
  return previous === undefined ? sample : previous + (sample - previous) * EMA_WEIGHT;
}
