/**
 * The people's regions (src/segmentation/people.ts), pure functions on numbers: the detector's
 * output decoded (scores, boxes, which way the head points), the square the model sees, merging,
 * tracking from a mask, and the detector input's level stretch. No model, no server.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { decodePeople, MAX_ROIS, mergeRois, roiOfBox, squareOf, stretchLevels, trackRois, type Roi } from '../../src/segmentation/people.ts';

/** One detector person: box (y0, x0, y1, x1), score, and the head and body keypoints at (x, y). */
function person(raw: Float32Array, p: number, box: [number, number, number, number], score: number, head?: [number, number], body?: [number, number]): void {
  const at = p * 56;
  if (head) for (const k of [0, 1, 2, 3, 4]) raw.set([head[1], head[0], 0.9], at + k * 3);
  if (body) for (const k of [5, 6, 11, 12]) raw.set([body[1], body[0], 0.9], at + k * 3);
  raw.set([...box, score], at + 51);
}

test('decodePeople keeps the people from the score up, best first, and says which way each head points', () => {
  const raw = new Float32Array(6 * 56);
  person(raw, 0, [0.1, 0.2, 0.9, 0.4], 0.3, [0.3, 0.2], [0.3, 0.6]); // upright
  person(raw, 1, [0.2, 0.5, 0.6, 0.95], 0.45, [0.55, 0.4], [0.85, 0.4]); // head to the left: lying
  person(raw, 2, [0.2, 0.5, 0.6, 0.95], 0.1); // under the score
  person(raw, 3, [0.5, 0.5, 0.5, 0.7], 0.9); // an empty box
  person(raw, 4, [0.3, 0.3, 0.6, 0.6], 0.25, [0.45, 0.55], [0.45, 0.35]); // upside down
  const people = decodePeople(raw, 0.2);
  assert.deepEqual(
    people.map((p) => [p.score.toFixed(2), p.turns]),
    [
      ['0.45', 1],
      ['0.30', 0],
      ['0.25', 2],
    ],
  );
  assert.deepEqual([people[1]!.x0, people[1]!.y0, people[1]!.x1, people[1]!.y1].map((v) => v.toFixed(2)), ['0.20', '0.10', '0.40', '0.90']);
});

test('squareOf: a square of frame pixels inside the frame; the frame whole along an axis it does not fit', () => {
  const small: Roi = { x0: 0.9, y0: 0.1, x1: 1.05, y1: 0.3, turns: 0 };
  // 1280x720: 192 x 144 pixels -> a 192-pixel square, moved inside the frame at the right.
  const got = squareOf(small, 1280, 720);
  assert.deepEqual([got.x, got.y, got.w, got.h].map((v) => +v.toFixed(6)), [1280 - 192, 0.2 * 720 - 96, 192, 192]);
  const tall: Roi = { x0: 0.3, y0: -0.2, x1: 0.6, y1: 1.3, turns: 0 };
  const sq = squareOf(tall, 1280, 720);
  assert.deepEqual([sq.y, sq.h], [0, 720], 'taller than the frame: its whole height');
  assert.equal(sq.w, 1.5 * 720);
});

test('roiOfBox adds a fifth of the larger side around a box; mergeRois joins the ones that are mostly one another', () => {
  const roi = roiOfBox({ x0: 0.5, y0: 0.5, x1: 0.6, y1: 0.7, turns: 3 }, 1000, 1000);
  assert.deepEqual([roi.x0, roi.y0, roi.x1, roi.y1].map((v) => +v.toFixed(3)), [0.46, 0.46, 0.64, 0.74]);
  assert.equal(roi.turns, 3);
  const a: Roi = { x0: 0, y0: 0, x1: 0.4, y1: 0.4, turns: 0 };
  const inside: Roi = { x0: 0.1, y0: 0.1, x1: 0.45, y1: 0.3, turns: 1 };
  const apart: Roi = { x0: 0.6, y0: 0.6, x1: 0.9, y1: 0.9, turns: 0 };
  assert.deepEqual(mergeRois([a, inside, apart]), [{ x0: 0, y0: 0, x1: 0.45, y1: 0.4, turns: 0 }, apart], 'merged, turned as the first');
  const many = Array.from({ length: 6 }, (_, i): Roi => ({ x0: i / 6, y0: 0, x1: i / 6 + 0.1, y1: 0.1, turns: 0 }));
  assert.equal(mergeRois(many).length, MAX_ROIS);
});

test('trackRois follows the person cells inside each region, with the margin; an empty region is dropped', () => {
  const [mw, mh] = [64, 64];
  const mask = new Uint8Array(mw * mh);
  for (let y = 20; y < 40; y++) for (let x = 10; x < 20; x++) mask[y * mw + x] = 200;
  const rois: Roi[] = [
    { x0: 0, y0: 0.2, x1: 0.5, y1: 0.8, turns: 2 },
    { x0: 0.6, y0: 0, x1: 1, y1: 0.5, turns: 0 },
  ];
  const tracked = trackRois(mask, mw, mh, rois, 640, 640);
  assert.equal(tracked.length, 1, 'the region with nobody in it is dropped');
  const margin = 0.2 * (20 / 64);
  const want = [10 / 64 - margin, 20 / 64 - margin, 20 / 64 + margin, 40 / 64 + margin];
  assert.deepEqual([tracked[0]!.x0, tracked[0]!.y0, tracked[0]!.x1, tracked[0]!.y1].map((v) => +v.toFixed(4)), want.map((v) => +v.toFixed(4)));
  assert.equal(tracked[0]!.turns, 2);
});

test('stretchLevels lifts a dark picture to white at its brightest 1 %, at most 4x, and leaves the black bars', () => {
  const dark = new Float32Array(300 * 3).map((_, i) => (i < 30 ? 0 : 20 + (i % 40)));
  stretchLevels(dark, 1, 0);
  assert.equal(dark[0], 0, 'the bars stay black');
  assert.ok(Math.max(...dark) <= 255 && Math.max(...dark) >= 230, `brightest ${Math.max(...dark)}`);
  const veryDark = new Float32Array(300).fill(10);
  stretchLevels(veryDark, 1, 0);
  assert.equal(veryDark[5], 40, 'the gain stops at 4');
  const lit = new Float32Array(300).map((_, i) => i % 256);
  const before = lit.slice();
  stretchLevels(lit, 1, 0);
  assert.deepEqual(lit, before, 'a lit picture is left alone');
});
