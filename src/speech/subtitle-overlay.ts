/**
 * `subtitles=burn`: the latest caption drawn onto the processed video. The text is rendered once per
 * caption (sharp's text input: Pango with a real font file) into a per-pixel weight band; every
 * frame then blends that band into its I420 planes in place, touching only the caption's rows.
 */
import sharp from 'sharp';
import type { Caption } from './caption-types.ts';

export const DEFAULT_SUBTITLE_FONT_FILE = '/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf';

export interface SubtitleOverlayOptions {
  /** A TrueType/OpenType file (SUBTITLE_FONT_FILE). */
  readonly fontFile?: string;
  /** At most this many characters are shown: the end of a longer caption (SUBTITLE_MAX_CHARS). */
  readonly maxChars?: number;
}

/**
 * What one frame's blend needs: for each luma pixel of the band the weight kept of the frame (of 256)
 * and the value added (already times 256); the same for each chroma pixel, whose added value is
 * always neutral grey (the text is white on a translucent black box).
 */
interface Band {
  readonly frameWidth: number;
  readonly frameHeight: number;
  /** Top-left of the band in the frame (even, so that chroma lines up). */
  readonly x: number;
  readonly y: number;
  readonly width: number;
  readonly height: number;
  readonly lumaKeep: Uint16Array;
  readonly lumaAdd: Uint16Array;
  /** (width/2) x (height/2). */
  readonly chromaKeep: Uint16Array;
}

/** The box behind the text: 60% opaque. */
const BOX_ALPHA_256 = 154;
const BOX_LUMA = 16;
const TEXT_LUMA = 235;
const NEUTRAL_CHROMA = 128;
/** Captions sit this far above the bottom edge (a share of the frame height). */
const BOTTOM_MARGIN = 0.06;
/** Text height relative to the frame's; never smaller than MIN_FONT_PX. */
const FONT_SHARE = 0.05;
const MIN_FONT_PX = 12;
/** The band never covers more than this share of the frame's height (its top lines are clipped). */
const MAX_BAND_SHARE = 0.4;
/** Frame size assumed until the first frame is seen. */
const DEFAULT_FRAME = { width: 1280, height: 720 } as const;

const escapePango = (text: string): string =>
  text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&#39;');

/** The end of a long caption, cut at a word boundary where there is one. */
export function tailOf(text: string, maxChars: number): string {
  const trimmed = text.trim().replace(/\s+/g, ' ');
  if (trimmed.length <= maxChars) return trimmed;
  const tail = trimmed.slice(trimmed.length - maxChars);
  const space = tail.indexOf(' ');
  return space > 0 && space < tail.length - 1 ? `…${tail.slice(space + 1)}` : `…${tail}`;
}

/** The text a caption burns in: its translation when it has one. */
const shownText = (caption: Caption | undefined): string => (caption === undefined ? '' : (caption.translation?.text ?? caption.text));

export class SubtitleOverlay {
  readonly #fontFile: string;
  readonly #maxChars: number;
  #band: Band | undefined;
  /** The text wanted now and the frame size it is for; a render that finishes for another is dropped. */
  #wantedText = '';
  #frame: { width: number; height: number } = DEFAULT_FRAME;
  #generation = 0;
  #rendering: Promise<void> | undefined;

  constructor(options: SubtitleOverlayOptions = {}) {
    this.#fontFile = options.fontFile ?? DEFAULT_SUBTITLE_FONT_FILE;
    this.#maxChars = options.maxChars ?? 120;
  }

  /** Renders the caption's text (its translation when there is one) once; undefined clears it. */
  async update(caption: Caption | undefined): Promise<void> {
    const text = tailOf(shownText(caption), this.#maxChars);
    if (text === this.#wantedText && this.#band?.frameWidth === this.#frame.width && this.#band.frameHeight === this.#frame.height) return;
    this.#wantedText = text;
    await this.#render();
  }

  /** Blends the caption band into an I420 frame in place (Y, then U, then V planes, even sizes). */
  blendI420(frame: Uint8Array, width: number, height: number): void {
    if (width !== this.#frame.width || height !== this.#frame.height) {
      this.#frame = { width, height };
      // Drawn again for the new size; until then the old band is blended, clipped to the frame.
      if (this.#wantedText !== '') void this.#render();
    }
    const band = this.#band;
    if (band === undefined) return;
    blendBand(frame, width, height, band);
  }

  /** True while a caption is shown (tests, stats). */
  get showing(): boolean {
    return this.#band !== undefined;
  }

  async #render(): Promise<void> {
    const generation = ++this.#generation;
    const text = this.#wantedText;
    const frame = this.#frame;
    if (text === '') {
      this.#band = undefined;
      return;
    }
    // One render at a time: a burst of partial captions costs one render each, never a pile of them.
    await this.#rendering?.catch(() => undefined);
    if (generation !== this.#generation) return;
    const rendering = renderBand(text, frame.width, frame.height, this.#fontFile);
    this.#rendering = rendering.then(() => undefined);
    try {
      const band = await rendering;
      if (generation === this.#generation) this.#band = band;
    } catch {
      // A font that cannot be read or a text Pango refuses: no caption rather than a broken frame.
      if (generation === this.#generation) this.#band = undefined;
    }
  }
}

async function renderBand(text: string, frameWidth: number, frameHeight: number, fontFile: string): Promise<Band | undefined> {
  const fontPx = Math.max(MIN_FONT_PX, Math.round(frameHeight * FONT_SHARE));
  const padPx = Math.max(2, Math.round(fontPx / 3)) & ~1;
  const maxTextWidth = Math.max(fontPx, Math.floor(frameWidth * 0.9) - 2 * padPx);
  const { data, info } = await sharp({
    text: {
      text: escapePango(text),
      font: `DejaVu Sans ${fontPx}`,
      fontfile: fontFile,
      width: maxTextWidth,
      dpi: 72,
      rgba: true,
      align: 'centre',
      wrap: 'word',
    },
  })
    .raw()
    .toBuffer({ resolveWithObject: true });
  const maxHeight = Math.floor(frameHeight * MAX_BAND_SHARE) & ~1;
  const width = Math.min(frameWidth & ~1, (info.width + 2 * padPx + 1) & ~1);
  const height = Math.min(maxHeight, (info.height + 2 * padPx + 1) & ~1);
  if (width < 2 || height < 2) return undefined;
  const x = ((frameWidth - width) >> 1) & ~1;
  const y = Math.max(0, (frameHeight - height - Math.round(frameHeight * BOTTOM_MARGIN)) & ~1);
  // The text's bottom lines are kept when the band is clipped: the newest words are at the end.
  const textX = Math.round((width - info.width) / 2);
  const textY = height - padPx - info.height;
  const lumaKeep = new Uint16Array(width * height);
  const lumaAdd = new Uint16Array(width * height);
  for (let row = 0; row < height; row++) {
    const ty = row - textY;
    for (let col = 0; col < width; col++) {
      const tx = col - textX;
      const textAlpha = ty >= 0 && ty < info.height && tx >= 0 && tx < info.width ? data[(ty * info.width + tx) * 4 + 3]! : 0;
      // Text (alpha t of 255) over the box (BOX_ALPHA of 256) over the frame.
      const t256 = textAlpha + (textAlpha >> 7);
      const keep = ((256 - BOX_ALPHA_256) * (256 - t256)) >> 8;
      const boxWeight = (BOX_ALPHA_256 * (256 - t256)) >> 8;
      const i = row * width + col;
      lumaKeep[i] = keep;
      lumaAdd[i] = BOX_LUMA * boxWeight + TEXT_LUMA * t256;
    }
  }
  const chromaWidth = width >> 1;
  const chromaKeep = new Uint16Array(chromaWidth * (height >> 1));
  for (let row = 0; row < height >> 1; row++) {
    for (let col = 0; col < chromaWidth; col++) {
      const a = (row * 2) * width + col * 2;
      chromaKeep[row * chromaWidth + col] = (lumaKeep[a]! + lumaKeep[a + 1]! + lumaKeep[a + width]! + lumaKeep[a + width + 1]! + 2) >> 2;
    }
  }
  return { frameWidth, frameHeight, x, y, width, height, lumaKeep, lumaAdd, chromaKeep };
}

/** The per-frame part: only the band's rows, clipped to the frame. */
function blendBand(frame: Uint8Array, width: number, height: number, band: Band): void {
  const chromaWidth = width >> 1;
  const chromaHeight = height >> 1;
  const lumaBytes = width * height;
  if (frame.length < lumaBytes + 2 * chromaWidth * chromaHeight) return;
  // Centred on this frame (the band may have been drawn for another size until it is drawn again).
  const x0 = Math.max(0, ((width - band.width) >> 1) & ~1);
  const y0 = band.frameWidth === width && band.frameHeight === height ? band.y : Math.max(0, (height - band.height - Math.round(height * BOTTOM_MARGIN)) & ~1);
  const cols = Math.min(band.width, width - x0);
  const rows = Math.min(band.height, height - y0);
  for (let row = 0; row < rows; row++) {
    const dst = (y0 + row) * width + x0;
    const src = row * band.width;
    for (let col = 0; col < cols; col++) {
      const i = src + col;
      frame[dst + col] = (frame[dst + col]! * band.lumaKeep[i]! + band.lumaAdd[i]!) >> 8;
    }
  }
  const bandChromaWidth = band.width >> 1;
  const chromaCols = cols >> 1;
  const chromaRows = rows >> 1;
  for (const planeOffset of [lumaBytes, lumaBytes + chromaWidth * chromaHeight]) {
    for (let row = 0; row < chromaRows; row++) {
      const dst = planeOffset + ((y0 >> 1) + row) * chromaWidth + (x0 >> 1);
      const src = row * bandChromaWidth;
      for (let col = 0; col < chromaCols; col++) {
        const keep = band.chromaKeep[src + col]!;
        frame[dst + col] = (frame[dst + col]! * keep + NEUTRAL_CHROMA * (256 - keep)) >> 8;
      }
    }
  }
}
