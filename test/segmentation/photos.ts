/**
 * Real photographs of people for the segmentation tests, from Debian's python3-skimage (public
 * domain: NASA's astronaut.png, the MIT "cameraman" camera.png), decoded to RGBA. Absent package:
 * the tests skip with a message, except under CI=true where that is a failure.
 */
import { existsSync } from 'node:fs';
import sharp from 'sharp';
import { requireOrSkip } from '../tools.ts';

export const SKIMAGE_DATA = '/usr/lib/python3/dist-packages/skimage/data';

export interface Photo {
  readonly width: number;
  readonly height: number;
  readonly rgba: Uint8Array;
}

/** Boxes [x0, y0, x1, y1) in each photo: clearly person, clearly background. */
export const REGIONS = {
  'astronaut.png': {
    person: [[185, 90, 270, 180], [40, 300, 260, 500]],
    background: [[0, 0, 110, 250], [400, 0, 512, 250]],
  },
  'camera.png': {
    person: [[170, 90, 245, 190], [20, 260, 140, 420]],
    background: [[360, 300, 512, 500], [330, 0, 512, 150]],
  },
} as const;

export type PhotoName = keyof typeof REGIONS;

export function photosAvailable(): boolean {
  return existsSync(`${SKIMAGE_DATA}/astronaut.png`);
}

/** Skips the test (or fails it under CI) when the photos are not installed. */
export function skipWithoutPhotos(t: { skip(message: string): void }): boolean {
  const skip = requireOrSkip(photosAvailable(), `scikit-image's photos (${SKIMAGE_DATA})`, 'apt-get install python3-skimage');
  if (skip !== false) t.skip(skip);
  return skip !== false;
}

export async function loadPhoto(name: PhotoName): Promise<Photo> {
  const { data, info } = await sharp(`${SKIMAGE_DATA}/${name}`).ensureAlpha().raw().toBuffer({ resolveWithObject: true });
  return { width: info.width, height: info.height, rgba: new Uint8Array(data.buffer, data.byteOffset, data.byteLength) };
}

/** Variance of the 4-neighbour Laplacian of BT.601 luma inside a box: a sharpness measure. */
export function sharpness(rgba: Uint8Array, width: number, box: readonly number[]): number {
  const [x0, y0, x1, y1] = box as [number, number, number, number];
  const luma = (x: number, y: number) => {
    const i = (y * width + x) * 4;
    return 0.299 * rgba[i]! + 0.587 * rgba[i + 1]! + 0.114 * rgba[i + 2]!;
  };
  let sum = 0;
  let sumSq = 0;
  let n = 0;
  for (let y = y0 + 1; y < y1 - 1; y++) {
    for (let x = x0 + 1; x < x1 - 1; x++) {
      const l = 4 * luma(x, y) - luma(x - 1, y) - luma(x + 1, y) - luma(x, y - 1) - luma(x, y + 1);
      sum += l;
      sumSq += l * l;
      n++;
    }
  }
  const mean = sum / n;
  return sumSq / n - mean * mean;
}

/** Mean absolute difference per colour channel between two RGBA images inside a box. */
export function meanAbsDiff(a: Uint8Array, b: Uint8Array, width: number, box: readonly number[]): number {
  const [x0, y0, x1, y1] = box as [number, number, number, number];
  let sum = 0;
  let n = 0;
  for (let y = y0; y < y1; y++) {
    for (let x = x0; x < x1; x++) {
      for (let c = 0; c < 3; c++) {
        const i = (y * width + x) * 4 + c;
        sum += Math.abs(a[i]! - b[i]!);
        n++;
      }
    }
  }
  return sum / n;
}

/** Mean distance of a box's pixels to an RGB colour (per channel). */
export function meanDistanceTo(rgba: Uint8Array, width: number, box: readonly number[], rgb: number): number {
  const target = [(rgb >> 16) & 0xff, (rgb >> 8) & 0xff, rgb & 0xff];
  const [x0, y0, x1, y1] = box as [number, number, number, number];
  let sum = 0;
  let n = 0;
  for (let y = y0; y < y1; y++) {
    for (let x = x0; x < x1; x++) {
      for (let c = 0; c < 3; c++) {
        sum += Math.abs(rgba[(y * width + x) * 4 + c]! - target[c]!);
        n++;
      }
    }
  }
  return sum / n;
}
