/** Pixel formats the engine understands. RGBA is interleaved 8-bit; I420 is planar Y, U, V (4:2:0). */
export type PixelFormat = 'rgba' | 'i420';

export interface FrameLayout {
  readonly format: PixelFormat;
  readonly width: number;
  readonly height: number;
}

export interface PlaneLayout {
  readonly offset: number;
  readonly width: number;
  readonly height: number;
  /** Bytes per row (planes are tightly packed: stride = width * channels). */
  readonly stride: number;
  readonly channels: number;
}

/** Chroma planes of I420 cover odd sizes by rounding up, as libwebrtc does. */
export function chromaSize(width: number, height: number): { width: number; height: number } {
  return { width: (width + 1) >> 1, height: (height + 1) >> 1 };
}

export function planesOf(layout: FrameLayout): PlaneLayout[] {
  const { width, height } = layout;
  if (layout.format === 'rgba') {
    return [{ offset: 0, width, height, stride: width * 4, channels: 4 }];
  }
  const c = chromaSize(width, height);
  const ySize = width * height;
  const cSize = c.width * c.height;
  return [
    { offset: 0, width, height, stride: width, channels: 1 },
    { offset: ySize, width: c.width, height: c.height, stride: c.width, channels: 1 },
    { offset: ySize + cSize, width: c.width, height: c.height, stride: c.width, channels: 1 },
  ];
}

export function frameBytes(layout: FrameLayout): number {
  if (layout.format === 'rgba') return layout.width * layout.height * 4;
  const c = chromaSize(layout.width, layout.height);
  return layout.width * layout.height + 2 * c.width * c.height;
}
