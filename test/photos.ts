/**
 * Photographs of people for the segmentation tests: scikit-image's sample data (public domain),
 * installed by Debian's python3-skimage (CI installs it). RGBA bytes via sharp.
 */
import { existsSync } from 'node:fs';
import sharp from 'sharp';

export const SKIMAGE_DATA = '/usr/lib/python3/dist-packages/skimage/data';

export function photoPath(name: string): string {
  return `${SKIMAGE_DATA}/${name}`;
}

export function photosPresent(names: readonly string[]): boolean {
  return names.every((n) => existsSync(photoPath(n)));
}

export async function readPhoto(name: string): Promise<{ rgba: Uint8Array; width: number; height: number }> {
  const { data, info } = await sharp(photoPath(name)).ensureAlpha().raw().toBuffer({ resolveWithObject: true });
  return { rgba: new Uint8Array(data.buffer, data.byteOffset, data.byteLength), width: info.width, height: info.height };
}
