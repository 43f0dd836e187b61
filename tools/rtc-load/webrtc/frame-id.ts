/**
 * A frame id written into the luma plane of a synthetic I420 frame, readable after a VP8 round
 * trip and the server's effect.
 *
 * Layout (at the sent resolution): two rows of 17 square cells, one cell in from the top-left
 * corner. Column 0 holds two reference cells (white above black); columns 1..16 hold 32 bits,
 * row-major: a 24-bit id then an 8-bit CRC of it. Cells are large (a multiple of 8 pixels, about
 * width / 19: 16 px at 320x240, 64 px at 1280x720) and pure black or white, so quantisation and
 * blurring only soften their borders; the reader averages the inner half of each cell.
 *
 * The reference cells make the reader independent of the effect's levels: the threshold is their
 * midpoint, and when the "white" reference reads darker than the "black" one the picture was
 * inverted and the bits are read inverted. A received frame smaller than the sent one (libwebrtc
 * scales down under CPU or bandwidth pressure) is read at the same relative positions.
 *
 * Which effects keep the id readable: blur, gaussian (sigma up to about a sixth of a cell),
 * sharpen, grayscale (Y untouched), invert (read inverted), pixelate with a block no larger than
 * a cell, iters=0. edge turns uniform cells into black, so neither reference nor bit survives:
 * frames then arrive without an id and only their rate can be measured.
 */
import { chromaSize } from '../client/i420.ts';

export const ID_BITS = 24;
const CHECK_BITS = 8;
const DATA_COLUMNS = 16;
const ROWS = 2;
/** The reference column plus the data columns. */
const COLUMNS = DATA_COLUMNS + 1;
export const MAX_FRAME_ID = 2 ** ID_BITS - 1;
const BLACK = 16;
const WHITE = 235;
const BACKDROP = 128;
/** Reference cells closer than this (0..255) carry no code: the effect flattened the picture. */
const MIN_CONTRAST = 48;
/** Changes the CRC of the all-zero word, so a black or flat frame never reads as id 0. */
const CHECK_XOR = 0x5a;

export const MIN_WIDTH = 160;
export const MIN_HEIGHT = 96;

export interface CodeGeometry {
  /** Cell edge in pixels at the sent resolution. */
  readonly cell: number;
  /** Top-left corner of the reference cell in row 0. */
  readonly x0: number;
  readonly y0: number;
}

/** Where the code sits in a frame of this (sent) size; throws below MIN_WIDTH x MIN_HEIGHT. */
export function codeGeometry(width: number, height: number): CodeGeometry {
  if (width < MIN_WIDTH || height < MIN_HEIGHT) throw new RangeError(`a frame id needs at least ${MIN_WIDTH}x${MIN_HEIGHT}, got ${width}x${height}`);
  const fit = Math.min(width / (COLUMNS + 2), height / (ROWS + 2));
  const cell = Math.max(8, Math.floor(fit / 8) * 8);
  return { cell, x0: cell, y0: cell };
}

/** CRC-8 (polynomial 0x07) of the id's three bytes, xor CHECK_XOR. */
export function idCheck(id: number): number {
  let crc = 0;
  for (const byte of [(id >>> 16) & 0xff, (id >>> 8) & 0xff, id & 0xff]) {
    crc ^= byte;
    for (let i = 0; i < 8; i++) crc = crc & 0x80 ? ((crc << 1) ^ 0x07) & 0xff : (crc << 1) & 0xff;
  }
  return crc ^ CHECK_XOR;
}

function codeBits(id: number): number[] {
  const word = id * 2 ** CHECK_BITS + idCheck(id);
  const bits: number[] = [];
  for (let i = ID_BITS + CHECK_BITS - 1; i >= 0; i--) bits.push(Math.floor(word / 2 ** i) % 2);
  return bits;
}

/**
 * Paints the code of `id` (0..MAX_FRAME_ID) into an I420 frame in place: a neutral grey band
 * behind the cells (so that nearby picture content does not bleed into them under a blur), the
 * cells themselves, and neutral chroma under the band.
 */
export function writeFrameId(data: Uint8Array, width: number, height: number, id: number, geometry = codeGeometry(width, height)): void {
  if (!Number.isInteger(id) || id < 0 || id > MAX_FRAME_ID) throw new RangeError(`frame id out of range: ${id}`);
  const { cell, x0, y0 } = geometry;
  const bandRight = Math.min(width, x0 + (COLUMNS + 1) * cell);
  const bandBottom = Math.min(height, y0 + (ROWS + 1) * cell);
  for (let y = 0; y < bandBottom; y++) data.fill(BACKDROP, y * width, y * width + bandRight);

  const bits = codeBits(id);
  const paint = (column: number, row: number, value: number): void => {
    const left = x0 + column * cell;
    const top = y0 + row * cell;
    for (let y = top; y < top + cell; y++) data.fill(value, y * width + left, y * width + left + cell);
  };
  paint(0, 0, WHITE);
  paint(0, 1, BLACK);
  bits.forEach((bit, i) => paint(1 + (i % DATA_COLUMNS), Math.floor(i / DATA_COLUMNS), bit ? WHITE : BLACK));

  const c = chromaSize(width, height);
  const uOffset = width * height;
  const vOffset = uOffset + c.width * c.height;
  const cRight = Math.min(c.width, (bandRight + 1) >> 1);
  const cBottom = Math.min(c.height, (bandBottom + 1) >> 1);
  for (let y = 0; y < cBottom; y++) {
    data.fill(128, uOffset + y * c.width, uOffset + y * c.width + cRight);
    data.fill(128, vOffset + y * c.width, vOffset + y * c.width + cRight);
  }
}

/**
 * Mean luma of the inner half of a cell, in a frame of `width` x `height` that may be a scaled
 * copy of the `sentWidth` x `sentHeight` frame the code was written into.
 */
function cellMean(data: Uint8Array, width: number, height: number, sx: number, sy: number, geometry: CodeGeometry, column: number, row: number): number {
  const { cell, x0, y0 } = geometry;
  const left = Math.max(0, Math.floor((x0 + column * cell + cell / 4) * sx));
  const right = Math.min(width, Math.max(left + 1, Math.ceil((x0 + column * cell + (3 * cell) / 4) * sx)));
  const top = Math.max(0, Math.floor((y0 + row * cell + cell / 4) * sy));
  const bottom = Math.min(height, Math.max(top + 1, Math.ceil((y0 + row * cell + (3 * cell) / 4) * sy)));
  // Every other row and column is plenty for a flat cell and halves the reads twice over.
  const step = right - left >= 8 ? 2 : 1;
  let sum = 0;
  let count = 0;
  for (let y = top; y < bottom; y += step) {
    const rowStart = y * width;
    for (let x = left; x < right; x += step) {
      sum += data[rowStart + x] ?? 0;
      count++;
    }
  }
  return count === 0 ? 0 : sum / count;
}

/**
 * The id in a received frame, or undefined when it cannot be read (no contrast between the
 * reference cells, or a CRC mismatch). `sentWidth` x `sentHeight` is the size the code was
 * written at; the received frame may be smaller or larger.
 */
export function readFrameId(data: Uint8Array, width: number, height: number, sentWidth: number, sentHeight: number, geometry = codeGeometry(sentWidth, sentHeight)): number | undefined {
  if (data.length < width * height) return undefined;
  const sx = width / sentWidth;
  const sy = height / sentHeight;
  const white = cellMean(data, width, height, sx, sy, geometry, 0, 0);
  const black = cellMean(data, width, height, sx, sy, geometry, 0, 1);
  if (Math.abs(white - black) < MIN_CONTRAST) return undefined;
  const threshold = (white + black) / 2;
  const inverted = white < black;
  let word = 0;
  for (let i = 0; i < ID_BITS + CHECK_BITS; i++) {
    const mean = cellMean(data, width, height, sx, sy, geometry, 1 + (i % DATA_COLUMNS), Math.floor(i / DATA_COLUMNS));
    const bit = mean > threshold !== inverted ? 1 : 0;
    word = word * 2 + bit;
  }
  const id = Math.floor(word / 2 ** CHECK_BITS);
  const check = word % 2 ** CHECK_BITS;
  return idCheck(id) === check ? id : undefined;
}
