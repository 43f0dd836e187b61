/**
 * Where the people are: the person detector's boxes, the regions of interest (ROIs) the
 * segmentation model runs on, and how a live session tracks them from its own masks. Pure
 * functions over numbers; the model calls are in background.ts.
 *
 * Rectangles are in frame units ([0, 1] of the frame's width and height), so that they survive a
 * change of resolution mid-session. A ROI is run through the model as a square of frame pixels
 * (aspect kept; the part past the frame's edge is black), so that a standing person is not
 * squeezed into the square input and a small one is seen at the model's resolution.
 */

export interface Rect {
  readonly x0: number;
  readonly y0: number;
  readonly x1: number;
  readonly y1: number;
}

/** Quarter turns clockwise that bring a person's head up (0: upright; 1: lying with the head to the left). */
export type Turns = 0 | 1 | 2 | 3;

/** A region the model runs on: a rectangle of the frame, and how to turn it so that its person stands. */
export interface Roi extends Rect {
  readonly turns: Turns;
}

export interface PersonBox extends Roi {
  /** The detector's confidence that this is a person, 0..1. */
  readonly score: number;
}

/** MoveNet MultiPose's output: 6 people, 17 keypoints (y, x, score), then ymin, xmin, ymax, xmax, score. */
const DETECTOR_PEOPLE = 6;
const DETECTOR_VALUES = 56;
const BOX_AT = 51;
/** Keypoints: 0 nose, 1-4 eyes and ears (the head); 5, 6 shoulders and 11, 12 hips (the body). */
const HEAD_KEYPOINTS = [0, 1, 2, 3, 4];
const BODY_KEYPOINTS = [5, 6, 11, 12];
/** A keypoint counts for the orientation from this score. */
const KEYPOINT_MIN_SCORE = 0.2;

/**
 * The most ROIs one mask update segments (each is one run of the model): the detector reports six
 * people at most; four at the model's resolution cover a small group in a call.
 */
export const MAX_ROIS = 4;

/**
 * Room around a person's box, as a share of its larger side on each side: the detector's box
 * follows the keypoints (eyes, shoulders, wrists), hair and a raised hand reach past it.
 */
const ROI_MARGIN = 0.2;
/** ROIs overlapping more than this (intersection over the smaller) are one ROI. */
const MERGE_OVERLAP = 0.5;
/** A tracked ROI follows the mask cells at or above this byte (half the ramp). */
const TRACK_THRESHOLD = 128;

/** The people the detector reports with at least `minScore`, best first. */
export function decodePeople(raw: Float32Array, minScore: number): PersonBox[] {
  const people: PersonBox[] = [];
  for (let p = 0; p < DETECTOR_PEOPLE; p++) {
    const o = p * DETECTOR_VALUES + BOX_AT;
    const score = raw[o + 4] ?? 0;
    if (!(score >= minScore)) continue;
    const box = { y0: clamp01(raw[o]!), x0: clamp01(raw[o + 1]!), y1: clamp01(raw[o + 2]!), x1: clamp01(raw[o + 3]!), score, turns: turnsOf(raw, p * DETECTOR_VALUES) };
    if (box.x1 > box.x0 && box.y1 > box.y0) people.push(box);
  }
  return people.sort((a, b) => b.score - a.score);
}

/**
 * Which way a person's head points, from the keypoints (the head's mean against the body's):
 * the quarter turns that bring it up. Upright when either part is not seen. The detector's input
 * is square (letterboxed), so its x and y are in the same units.
 */
function turnsOf(raw: Float32Array, at: number): Turns {
  const mean = (points: readonly number[]) => {
    let x = 0;
    let y = 0;
    let n = 0;
    for (const k of points) {
      if ((raw[at + k * 3 + 2] ?? 0) < KEYPOINT_MIN_SCORE) continue;
      y += raw[at + k * 3]!;
      x += raw[at + k * 3 + 1]!;
      n++;
    }
    return n ? { x: x / n, y: y / n } : undefined;
  };
  const head = mean(HEAD_KEYPOINTS);
  const body = mean(BODY_KEYPOINTS);
  if (!head || !body) return 0;
  const dx = head.x - body.x;
  const dy = head.y - body.y;
  if (Math.abs(dy) >= Math.abs(dx)) return dy <= 0 ? 0 : 2;
  return dx < 0 ? 1 : 3;
}

/** A person's box with room around it (ROI_MARGIN of its larger side in frame pixels). */
export function roiOfBox(box: Roi, frameWidth: number, frameHeight: number): Roi {
  const w = (box.x1 - box.x0) * frameWidth;
  const h = (box.y1 - box.y0) * frameHeight;
  const margin = ROI_MARGIN * Math.max(w, h);
  return {
    x0: box.x0 - margin / frameWidth,
    y0: box.y0 - margin / frameHeight,
    x1: box.x1 + margin / frameWidth,
    y1: box.y1 + margin / frameHeight,
    turns: box.turns,
  };
}

/**
 * The rectangle of frame pixels the model sees for a ROI: a square of its larger side centred on
 * it, moved inside the frame along an axis where it fits; along an axis where it does not (a person
 * taller than the frame is high), the frame's whole extent, so the region is stretched a little
 * rather than padded. Padding is avoided because flat areas slow the model down (denormal floats
 * in XNNPACK's WASM: about 20 % on a letterboxed 16:9 frame).
 */
export function squareOf(roi: Rect, frameWidth: number, frameHeight: number): { x: number; y: number; w: number; h: number } {
  const side = Math.max((roi.x1 - roi.x0) * frameWidth, (roi.y1 - roi.y0) * frameHeight, 16);
  const place = (centre: number, frame: number) => (side <= frame ? { start: Math.min(frame - side, Math.max(0, centre - side / 2)), size: side } : { start: 0, size: frame });
  const x = place(((roi.x0 + roi.x1) / 2) * frameWidth, frameWidth);
  const y = place(((roi.y0 + roi.y1) / 2) * frameHeight, frameHeight);
  return { x: x.start, y: y.start, w: x.size, h: y.size };
}

function overlap(a: Rect, b: Rect): number {
  const w = Math.min(a.x1, b.x1) - Math.max(a.x0, b.x0);
  const h = Math.min(a.y1, b.y1) - Math.max(a.y0, b.y0);
  if (w <= 0 || h <= 0) return 0;
  const smaller = Math.min((a.x1 - a.x0) * (a.y1 - a.y0), (b.x1 - b.x0) * (b.y1 - b.y0));
  return smaller > 0 ? (w * h) / smaller : 0;
}

/** Merges ROIs that are mostly one another into their bounding rectangle (turned as the first); at most MAX_ROIS, the first kept. */
export function mergeRois(rois: readonly Roi[]): Roi[] {
  const out: Roi[] = [];
  for (const roi of rois) {
    let merged: Roi = roi;
    for (let i = out.length - 1; i >= 0; i--) {
      if (overlap(out[i]!, merged) > MERGE_OVERLAP) {
        const o = out.splice(i, 1)[0]!;
        merged = { x0: Math.min(o.x0, merged.x0), y0: Math.min(o.y0, merged.y0), x1: Math.max(o.x1, merged.x1), y1: Math.max(o.y1, merged.y1), turns: o.turns };
      }
    }
    out.push(merged);
  }
  return out.slice(0, MAX_ROIS);
}

/** People found twice (on overlapping squares) are one: the better-scored box is kept. */
export function mergeBoxes(boxes: readonly PersonBox[]): PersonBox[] {
  const out: PersonBox[] = [];
  for (const box of [...boxes].sort((a, b) => b.score - a.score)) if (!out.some((o) => overlap(o, box) > MERGE_OVERLAP)) out.push(box);
  return out;
}

/**
 * Tracking: each ROI of the last update moves to the mask's person cells inside it (their
 * bounding box, with the margin again), so a ROI follows its person and grows over a few updates
 * to take in what its first box cut off. A ROI whose mask is empty is dropped (the person left).
 * `mask` is the frame's mask grid (mw x mh bytes over the whole frame).
 */
export function trackRois(mask: Uint8Array, mw: number, mh: number, rois: readonly Roi[], frameWidth: number, frameHeight: number): Roi[] {
  const next: Roi[] = [];
  for (const roi of rois) {
    const cx0 = Math.max(0, Math.floor(roi.x0 * mw));
    const cy0 = Math.max(0, Math.floor(roi.y0 * mh));
    const cx1 = Math.min(mw, Math.ceil(roi.x1 * mw));
    const cy1 = Math.min(mh, Math.ceil(roi.y1 * mh));
    let x0 = mw;
    let y0 = mh;
    let x1 = -1;
    let y1 = -1;
    for (let y = cy0; y < cy1; y++) {
      for (let x = cx0; x < cx1; x++) {
        if (mask[y * mw + x]! < TRACK_THRESHOLD) continue;
        if (x < x0) x0 = x;
        if (x > x1) x1 = x;
        if (y < y0) y0 = y;
        if (y > y1) y1 = y;
      }
    }
    if (x1 < 0) continue;
    next.push(roiOfBox({ x0: x0 / mw, y0: y0 / mh, x1: (x1 + 1) / mw, y1: (y1 + 1) / mh, turns: roi.turns }, frameWidth, frameHeight));
  }
  return mergeRois(next);
}

/** Share of the mask grid at or above the tracking threshold: the person's area in the frame. */
export function personShare(mask: Uint8Array): number {
  let n = 0;
  for (const v of mask) if (v >= TRACK_THRESHOLD) n++;
  return mask.length === 0 ? 0 : n / mask.length;
}

/**
 * Stretches a detector input's levels (HWC floats, byte * scale + offset) so that its brightest
 * 1 % reaches white, at most 4x: a dark room is seen as a lit one. The black letterbox bars
 * (exactly `offset`) are left out of the count and stay black.
 */
export function stretchLevels(input: Float32Array, scale: number, offset: number): void {
  const histogram = new Uint32Array(256);
  let counted = 0;
  for (let i = 0; i < input.length; i += 3) {
    const r = input[i]!;
    const g = input[i + 1]!;
    const b = input[i + 2]!;
    if (r === offset && g === offset && b === offset) continue;
    const level = Math.round((Math.max(r, g, b) - offset) / scale);
    histogram[Math.min(255, Math.max(0, level))]!++;
    counted++;
  }
  let above = 0;
  let white = 255;
  while (white > 0 && above + histogram[white]! <= counted * 0.01) above += histogram[white--]!;
  const gain = Math.min(4, 255 / Math.max(1, white));
  if (gain <= 1.05) return;
  for (let i = 0; i < input.length; i++) {
    const level = (input[i]! - offset) / scale;
    input[i] = Math.min(255, level * gain) * scale + offset;
  }
}

function clamp01(v: number): number {
  return Math.min(1, Math.max(0, v));
}
