import { imageSize } from 'image-size';
import sharp from 'sharp';
import { badRequest, tooLarge, unsupportedMediaType } from '../errors.ts';

/** Image encode/decode for uploads: the one module that uses sharp (libvips, off the event loop). */

sharp.cache(false);

export type ImageFormat = 'png' | 'jpeg';

export const IMAGE_TYPES: Readonly<Record<string, ImageFormat>> = { 'image/png': 'png', 'image/jpeg': 'jpeg' };

export interface DecodedImage {
  readonly width: number;
  readonly height: number;
  /** RGBA, width * height * 4 bytes. */
  readonly pixels: Buffer;
}

/** The most pixels an image may declare, and the setting that says so (named in the 413). */
export interface PixelLimit {
  readonly maxPixels: number;
  readonly setting: string;
}

/**
 * Decodes a PNG or JPEG into RGBA. The header is read first: an image that declares more than
 * `limit.maxPixels` is refused before any pixel is decoded, and a body that is not what its content
 * type says is refused too.
 */
export async function decodeImage(
  body: Buffer,
  declared: ImageFormat,
  limit: PixelLimit,
  /** Called with the declared size once the header is read, before decoding; may throw to refuse. */
  beforeDecode?: (width: number, height: number) => void,
): Promise<DecodedImage> {
  // Only the header is read here (image-size), so a bomb is refused before libvips sees it.
  let header: { width: number; height: number; type?: string | undefined };
  try {
    header = imageSize(body);
  } catch {
    throw badRequest(`the body is not a readable ${declared.toUpperCase()} image`);
  }
  const actual = header.type === 'jpg' ? 'jpeg' : header.type;
  if (actual !== declared) {
    throw unsupportedMediaType(`the body is ${actual ?? 'unknown'}, but Content-Type says image/${declared}`);
  }
  const { width, height } = header;
  if (!(width >= 1 && height >= 1)) throw badRequest('the image declares no size');
  const { maxPixels, setting } = limit;
  if (width * height > maxPixels) {
    throw tooLarge(`the image declares ${width}x${height} (${width * height} pixels); the limit is ${maxPixels} (${setting})`);
  }
  beforeDecode?.(width, height);
  try {
    const { data, info } = await sharp(body, { limitInputPixels: maxPixels, failOn: 'error' })
      .ensureAlpha()
      .raw()
      .toBuffer({ resolveWithObject: true });
    if (info.channels !== 4 || info.width !== width || info.height !== height) throw new Error('unexpected layout');
    return { width, height, pixels: data };
  } catch {
    throw badRequest(`the ${declared.toUpperCase()} image could not be decoded (truncated or corrupt)`);
  }
}

export async function encodeImage(rgba: Uint8Array, width: number, height: number, format: ImageFormat): Promise<Buffer> {
  const input = sharp(Buffer.from(rgba.buffer, rgba.byteOffset, width * height * 4), {
    raw: { width, height, channels: 4 },
  });
  // Speed over size: these are real-time answers, not archives.
  return format === 'png' ? input.png({ compressionLevel: 3 }).toBuffer() : input.jpeg({ quality: 90 }).toBuffer();
}
