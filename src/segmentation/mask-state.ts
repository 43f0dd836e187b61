/**
 * A session's segmentation state: the last (temporally smoothed) mask at the model's resolution,
 * and where its people are, in a SharedArrayBuffer the session owns and sends with each frame's
 * job, so that any worker can take the next frame and the state goes away with the session. Fixed
 * size: a 96-byte header and one byte per model pixel (65,632 bytes for the 256x256 selfie model).
 *
 * Header: Int32 [0] 1 once a mask was written, [1] model pixels (a guard against a swapped model),
 * [2] tracked ROIs (0..MAX_ROIS), [3] detector passes in a row that found nobody; Float32 from
 * byte 16: MAX_ROIS regions (x0, y0, x1, y1 in frame units, quarter turns).
 */
import { MAX_ROIS, type Roi, type Turns } from './people.ts';

export const MASK_STATE_HEADER_BYTES = 96;
const ROIS_AT_BYTES = 16;
const ROI_FLOATS = 5;

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
  rois(): Roi[];
  setRois(rois: readonly Roi[]): void;
  /** Detector passes in a row that found nobody (the hysteresis before tracked people are dropped). */
  misses: number;
}

export function viewMaskState(buffer: SharedArrayBuffer, modelPixels: number): MaskStateView {
  if (buffer.byteLength !== maskStateBytes(modelPixels)) {
    throw new RangeError(`mask state holds ${buffer.byteLength} bytes; this model needs ${maskStateBytes(modelPixels)}`);
  }
  const header = new Int32Array(buffer, 0, 4);
  const rects = new Float32Array(buffer, ROIS_AT_BYTES, MAX_ROIS * ROI_FLOATS);
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
      return Array.from({ length: n }, (_, i) => {
        const at = i * ROI_FLOATS;
        return { x0: rects[at]!, y0: rects[at + 1]!, x1: rects[at + 2]!, y1: rects[at + 3]!, turns: (rects[at + 4]! & 3) as Turns };
      });
    },
    setRois(rois) {
      const n = Math.min(MAX_ROIS, rois.length);
      rois.slice(0, n).forEach((r, i) => rects.set([r.x0, r.y0, r.x1, r.y1, r.turns], i * ROI_FLOATS));
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
