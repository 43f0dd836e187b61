/**
 * A session's segmentation state: the last (temporally smoothed) mask at the model's resolution,
 * in a SharedArrayBuffer the session owns and sends with each frame's job, so that any worker can
 * take the next frame and the state goes away with the session. Fixed size: a 16-byte header and
 * one byte per model pixel (65,552 bytes for the 256x256 selfie model).
 *
 * Header (Int32): [0] 1 once a mask was written, [1] model pixels (a guard against a swapped model).
 */
export const MASK_STATE_HEADER_BYTES = 16;

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
}

export function viewMaskState(buffer: SharedArrayBuffer, modelPixels: number): MaskStateView {
  if (buffer.byteLength !== maskStateBytes(modelPixels)) {
    throw new RangeError(`mask state holds ${buffer.byteLength} bytes; this model needs ${maskStateBytes(modelPixels)}`);
  }
  const header = new Int32Array(buffer, 0, 4);
  const mask = new Uint8Array(buffer, MASK_STATE_HEADER_BYTES, modelPixels);
  return {
    get valid() {
      return Atomics.load(header, 0) === 1 && header[1] === modelPixels;
    },
    mask,
    markValid() {
      Atomics.store(header, 0, 1);
    },
  };
}
