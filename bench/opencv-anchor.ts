/**
 * OpenCV without OpenCV: its time per pass of each effect as a multiple of its own frame copy
 * (numpy's copyto), recorded from a same-run `npm run bench -- --opencv --record-opencv` into
 * bench/opencv-anchor.json with the machine and the date. A run without OpenCV divides our
 * "x copy" by OpenCV's recorded one: an estimate of ours / OpenCV that needs no python, as long
 * as our memory.copy and OpenCV's copy move a frame equally fast on the machine (0.91-0.98x when
 * recorded) and the machine is of the recorded kind.
 */
import { readFileSync, writeFileSync } from 'node:fs';

const ANCHOR_FILE = new URL('./opencv-anchor.json', import.meta.url);

export interface OpenCvAnchor {
  readonly machine: string;
  readonly date: string;
  readonly opencv: string;
  /** `WxH` -> case name (`copy`, `gaussian:8`, ...) -> OpenCV ms / OpenCV's copy ms, same run. */
  readonly perCopy: Readonly<Record<string, Readonly<Record<string, number>>>>;
}

/** The targets, ours / OpenCV: memory-bound effects no slower, compute-bound ones at most half. */
export function targetPerOpenCv(name: string): number | undefined {
  if (name === 'copy') return undefined;
  return name === 'invert' || name === 'grayscale' ? 1 : 0.5;
}

export function readAnchor(): OpenCvAnchor | undefined {
  try {
    return JSON.parse(readFileSync(ANCHOR_FILE, 'utf8')) as OpenCvAnchor;
  } catch {
    return undefined;
  }
}

/** Our time over OpenCV's, estimated from both multiples of a copy; undefined where none was recorded. */
export function estimatePerOpenCv(anchor: OpenCvAnchor | undefined, size: string, name: string, ourPerCopy: number): number | undefined {
  const theirs = anchor?.perCopy[size]?.[name];
  return theirs === undefined || theirs <= 0 ? undefined : ourPerCopy / theirs;
}

/** Writes the anchor from one run's OpenCV times (ms per case, `copy` included, per size). */
export function writeAnchor(machine: string, opencv: string, timesMs: ReadonlyMap<string, ReadonlyMap<string, number>>): void {
  const perCopy: Record<string, Record<string, number>> = {};
  for (const [size, times] of timesMs) {
    const copyMs = times.get('copy');
    if (copyMs === undefined || copyMs <= 0) continue;
    perCopy[size] = Object.fromEntries([...times].map(([name, ms]) => [name, Number((ms / copyMs).toFixed(2))]));
  }
  const anchor: OpenCvAnchor = { machine, date: new Date().toISOString().slice(0, 10), opencv, perCopy };
  writeFileSync(ANCHOR_FILE, `${JSON.stringify(anchor, null, 2)}\n`);
}
