/** I420 frames as the WHIP clients send and receive them; no server module involved. */
export interface I420Frame {
  readonly width: number;
  readonly height: number;
  /** Y, then U, then V, tightly packed; chroma planes are ceil(w/2) x ceil(h/2). */
  readonly data: Uint8Array;
}

/** Chroma planes of I420 cover odd sizes by rounding up, as libwebrtc does. */
export function chromaSize(width: number, height: number): { width: number; height: number } {
  return { width: (width + 1) >> 1, height: (height + 1) >> 1 };
}

export function i420Bytes(width: number, height: number): number {
  const c = chromaSize(width, height);
  return width * height + 2 * c.width * c.height;
}

/** An I420 frame of `width` x `height` filled by `fill(plane, x, y)` (plane 0 = Y, 1 = U, 2 = V). */
export function i420Frame(width: number, height: number, fill: (plane: 0 | 1 | 2, x: number, y: number) => number): I420Frame {
  const data = new Uint8Array(i420Bytes(width, height));
  const { width: cw, height: ch } = chromaSize(width, height);
  let o = 0;
  for (let y = 0; y < height; y++) for (let x = 0; x < width; x++) data[o++] = fill(0, x, y);
  for (const plane of [1, 2] as const) for (let y = 0; y < ch; y++) for (let x = 0; x < cw; x++) data[o++] = fill(plane, x, y);
  return { width, height, data };
}
