import { i420Bytes } from '../client/i420.ts';
import type { I420Frame } from '../client/i420.ts';
import { codeGeometry, MAX_FRAME_ID, writeFrameId, type CodeGeometry } from './frame-id.ts';

/** Distinct backgrounds cycled through: enough motion for VP8 to code inter frames with real residue. */
const BACKGROUNDS = 16;
/**
 * Buffers each publisher rotates through. libwebrtc copies a frame when it is handed over, so one
 * would do; a second keeps a frame intact should a caller still look at it after the next send.
 */
const RING = 2;

const backgroundCache = new Map<string, Uint8Array[]>();

/** A moving test card (gradient, checkerboard, sweeping bar, drifting chroma), as bench/webrtc.ts uses. */
function backgrounds(width: number, height: number): Uint8Array[] {
  const key = `${width}x${height}`;
  const cached = backgroundCache.get(key);
  if (cached) return cached;
  const cw = (width + 1) >> 1;
  const ch = (height + 1) >> 1;
  const step = Math.max(2, Math.round(width / 160));
  const list = Array.from({ length: BACKGROUNDS }, (_, i) => {
    const shift = i * step;
    const data = new Uint8Array(i420Bytes(width, height));
    const barX = (shift * 4) % width;
    const barHalf = Math.max(4, width >> 5);
    for (let y = 0; y < height; y++) {
      const row = y * width;
      for (let x = 0; x < width; x++) {
        const bar = Math.abs(x - barX) < barHalf ? 80 : 0;
        const checker = (((x + shift) >> 5) ^ (y >> 5)) & 1 ? 40 : 0;
        data[row + x] = Math.min(255, ((x + y + shift) & 127) + checker + bar);
      }
    }
    const u = width * height;
    const v = u + cw * ch;
    for (let y = 0; y < ch; y++) {
      for (let x = 0; x < cw; x++) {
        data[u + y * cw + x] = 96 + ((x + shift) & 63);
        data[v + y * cw + x] = 160 - ((y + shift) & 63);
      }
    }
    return data;
  });
  backgroundCache.set(key, list);
  return list;
}

/** Frames for one publisher: the test card with the frame id written over it. */
export class FrameSource {
  readonly width: number;
  readonly height: number;
  readonly geometry: CodeGeometry;
  readonly #backgrounds: Uint8Array[];
  readonly #ring: Uint8Array[];

  constructor(width: number, height: number) {
    this.width = width;
    this.height = height;
    this.geometry = codeGeometry(width, height);
    this.#backgrounds = backgrounds(width, height);
    this.#ring = Array.from({ length: RING }, () => new Uint8Array(i420Bytes(width, height)));
  }

  /** The frame that carries `id`; ids wrap at MAX_FRAME_ID + 1. */
  frame(id: number): I420Frame {
    const data = this.#ring[id % RING] as Uint8Array;
    data.set(this.#backgrounds[id % BACKGROUNDS] as Uint8Array);
    writeFrameId(data, this.width, this.height, id % (MAX_FRAME_ID + 1), this.geometry);
    return { width: this.width, height: this.height, data };
  }
}
