/**
 * A session's segmentation state: the last (temporally smoothed) mask at the model's resolution,
 * and where its people are, in a SharedArrayBuffer the session owns and sends with each frame's
 * job, so that any worker can take the next frame and the state goes away with the session. Fixed
 * size: a 96-byte header and one byte per model pixel (65,632 bytes for the 256x256 selfie model).
 *
 * Header: Int32 [0] 1 once a mask was written, [1] model pixels (a guard against a swapped model),
 * [2] tracked ROIs (0..MAX_ROIS), [3] detector passes in a row that found nobody; Float32 from
 * byte 16: MAX_ROIS rectangles (x0, y0, x1, y1 in frame units).
 */
import { MAX_ROIS, type Rect } from './people.ts';

export const MASK_STATE_HEADER_BYTES = 96;
const ROIS_AT_BYTES = 16;

export function maskStateBytes(modelPixels: number): number {
  return MASK_STATE_HEADER_BYTES + modelPixels;
}

export function createMaskState(modelPixels: number): SharedArrayBuffer {
  const buffer = new SharedArrayBuffer(maskStateBytes(modelPixels));
  new Int32Array(buffer, 0, 4)[1] = modelPixels;
  return buffer;
}

/** The worker's view of a state buffer. */
export interface MaskStateView {
  readonly valid: boolean;
  readonly mask: Uint8Array;
  markValid(): void;
  /** The people tracked by the last mask update (empty: none, or none yet). */
  rois(): Rect[];
  setRois(rois: readonly Rect[]): void;
  /** Detector passes in a row that found nobody (the hysteresis before tracked people are dropped). */
  misses: number;
}

export function viewMaskState(buffer: SharedArrayBuffer, modelPixels: number): MaskStateView {
  if (buffer.byteLength !== maskStateBytes(modelPixels)) {
    throw new RangeError(`mask state holds ${buffer.byteLength} bytes; this model needs ${maskStateBytes(modelPixels)}`);
  }
  const header = new Int32Array(buffer, 0, 4);
  const rects = new Float32Array(buffer, ROIS_AT_BYTES, MAX_ROIS * 4);
  const mask = new Uint8Array(buffer, MASK_STATE_HEADER_BYTES, modelPixels);
  return {
    get valid() {
      return Atomics.load(header, 0) === 1 && header[1] === modelPixels;
    },
    mask,
    markValid() {
      Atomics.store(header, 0, 1);
    },
    rois() {
      const n = Math.min(MAX_ROIS, Math.max(0, header[2] ?? 0));
      return Array.from({ length: n }, (_, i) => ({ x0: rects[i * 4]!, y0: rects[i * 4 + 1]!, x1: rects[i * 4 + 2]!, y1: rects[i * 4 + 3]! }));
    },
    setRois(rois) {
      const n = Math.min(MAX_ROIS, rois.length);
      rois.slice(0, n).forEach((r, i) => rects.set([r.x0, r.y0, r.x1, r.y1], i * 4));
      header[2] = n;
    },
    get misses() {
      return header[3] ?? 0;
    },
    set misses(n: number) {
      header[3] = n;
    },
  };
}
