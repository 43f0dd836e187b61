/**
 * Frames the segmentation model was not made for, built from scikit-image's public-domain photos
 * (python3-skimage): the people of astronaut.png and camera.png cut out with the model's own mask
 * on the original close-up (where it is right: quality.test.ts), then scaled, moved, rotated,
 * darkened, made noisy and pasted onto other photos (rocket, motorcycle, coffee) or grey, at
 * 1280x720; and frames with no person (coffee, the cat). Each frame comes with its true person
 * mask, so that what an effect keeps and replaces can be counted per pixel.
 *
 * Used by test/segmentation/people.test.ts (assertions) and bench/segmentation.ts (the table).
 */
import sharp from 'sharp';
import { SKIMAGE_DATA } from './photos.ts';

export const FRAME_WIDTH = 1280;
export const FRAME_HEIGHT = 720;

/** A person cut out of a photo: RGBA with the model's probability as alpha. */
export interface Cutout {
  readonly width: number;
  readonly height: number;
  readonly rgba: Uint8Array;
}

export interface Composite {
  readonly name: string;
  readonly rgba: Uint8Array;
  /** 1 where a person is (alpha >= 128 after pasting), else 0; width x height. */
  readonly person: Uint8Array;
}

interface Placement {
  readonly who: 'astronaut' | 'camera';
  /** Height of the pasted photo in frame pixels (the photos are square). */
  readonly sizePx: number;
  /** Left edge and top edge in frame pixels; the default top puts the photo's bottom on the frame's. */
  readonly x: number;
  readonly y?: number;
  /** Clockwise quarter turns. */
  readonly quarterTurns?: 0 | 1;
}

export interface CaseSpec {
  readonly name: string;
  /** A photo scaled to cover the frame, or a grey level. */
  readonly background: string | number;
  readonly people: readonly Placement[];
  /** Multiply the whole frame by this and add seeded Gaussian-like noise of this sigma (a dark, noisy room). */
  readonly dark?: { readonly gain: number; readonly noiseSigma: number };
}

/** The cases of the table (and more): person scale, position, rotation, darkness, noise, two people, none. */
export const CASES: readonly CaseSpec[] = [
  { name: 'astronaut 400 px, off-centre, on the rocket', background: 'rocket.jpg', people: [{ who: 'astronaut', sizePx: 400, x: 760 }] },
  { name: 'camera-man 400 px on grey', background: 128, people: [{ who: 'camera', sizePx: 400, x: 440 }] },
  { name: 'camera-man 300 px on grey', background: 128, people: [{ who: 'camera', sizePx: 300, x: 120 }] },
  { name: 'astronaut 180 px on the motorcycle', background: 'motorcycle_left.png', people: [{ who: 'astronaut', sizePx: 180, x: 980 }] },
  { name: 'astronaut 600 px, full height, centred', background: 'rocket.jpg', people: [{ who: 'astronaut', sizePx: 600, x: 340 }] },
  { name: 'astronaut rotated 90°, on the rocket', background: 'rocket.jpg', people: [{ who: 'astronaut', sizePx: 560, x: 360, y: 80, quarterTurns: 1 }] },
  { name: 'astronaut dark and noisy', background: 'rocket.jpg', people: [{ who: 'astronaut', sizePx: 600, x: 340 }], dark: { gain: 0.3, noiseSigma: 12 } },
  { name: 'two people on the coffee photo', background: 'coffee.png', people: [{ who: 'astronaut', sizePx: 420, x: 60 }, { who: 'camera', sizePx: 420, x: 800 }] },
  { name: 'no person: coffee', background: 'coffee.png', people: [] },
  { name: 'no person: the cat', background: 'chelsea.png', people: [] },
];

/** A photo cut out by a probability mask (the model's own on the close-up), alpha = probability. */
export async function cutout(file: string, probability: Float32Array, maskWidth: number, maskHeight: number): Promise<Cutout> {
  const { data, info } = await sharp(`${SKIMAGE_DATA}/${file}`).ensureAlpha().raw().toBuffer({ resolveWithObject: true });
  const rgba = new Uint8Array(data);
  const { width, height } = info;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const mx = Math.min(maskWidth - 1, Math.floor(((x + 0.5) * maskWidth) / width));
      const my = Math.min(maskHeight - 1, Math.floor(((y + 0.5) * maskHeight) / height));
      rgba[(y * width + x) * 4 + 3] = Math.round(probability[my * maskWidth + mx]! * 255);
    }
  }
  return { width, height, rgba };
}

export async function buildComposite(spec: CaseSpec, people: Record<Placement['who'], Cutout>): Promise<Composite> {
  const base =
    typeof spec.background === 'number'
      ? sharp({ create: { width: FRAME_WIDTH, height: FRAME_HEIGHT, channels: 4, background: { r: spec.background, g: spec.background, b: spec.background, alpha: 1 } } })
      : sharp(`${SKIMAGE_DATA}/${spec.background}`).resize(FRAME_WIDTH, FRAME_HEIGHT, { fit: 'cover' }).ensureAlpha();
  const layers: sharp.OverlayOptions[] = [];
  const truth = new Uint8Array(FRAME_WIDTH * FRAME_HEIGHT);
  for (const p of spec.people) {
    const cut = people[p.who];
    let img = sharp(Buffer.from(cut.rgba), { raw: { width: cut.width, height: cut.height, channels: 4 } }).resize(p.sizePx, p.sizePx);
    if (p.quarterTurns) img = sharp(await img.png().toBuffer()).rotate(90 * p.quarterTurns);
    const { data, info } = await img.raw().toBuffer({ resolveWithObject: true });
    const top = p.y ?? FRAME_HEIGHT - info.height;
    layers.push({ input: data, raw: { width: info.width, height: info.height, channels: 4 }, left: p.x, top });
    for (let y = 0; y < info.height; y++) {
      for (let x = 0; x < info.width; x++) {
        const fx = p.x + x;
        const fy = top + y;
        if (fx < 0 || fy < 0 || fx >= FRAME_WIDTH || fy >= FRAME_HEIGHT) continue;
        if (data[(y * info.width + x) * 4 + 3]! >= 128) truth[fy * FRAME_WIDTH + fx] = 1;
      }
    }
  }
  const out = await base.composite(layers).raw().toBuffer();
  const rgba = new Uint8Array(out.buffer, out.byteOffset, out.byteLength).slice();
  if (spec.dark) darken(rgba, spec.dark.gain, spec.dark.noiseSigma);
  return { name: spec.name, rgba, person: truth };
}

/** value * gain + noise (a sum of three seeded uniforms: near Gaussian), alpha untouched. */
function darken(rgba: Uint8Array, gain: number, sigma: number): void {
  let s = 12345;
  const uniform = () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32 - 0.5;
  };
  // Three uniforms of variance 1/12 each: sigma * 2 * their sum has variance sigma^2.
  for (let i = 0; i < rgba.length; i++) {
    if ((i & 3) === 3) continue;
    const noise = (uniform() + uniform() + uniform()) * 2 * sigma;
    rgba[i] = Math.min(255, Math.max(0, Math.round(rgba[i]! * gain + noise)));
  }
}

/**
 * What the effect keeps: the mask grid (mw x mh bytes over the frame) sampled bilinearly at each
 * pixel through the feathering ramp (lo..hi), as the compositor does; `kept` is its mean over the
 * person's pixels, `replaced` the mean of its complement over the other pixels.
 */
export function keptAndReplaced(mask: Uint8Array, mw: number, mh: number, truth: Uint8Array, lo: number, hi: number): { kept: number; replaced: number } {
  let personSum = 0;
  let personN = 0;
  let backSum = 0;
  let backN = 0;
  for (let y = 0; y < FRAME_HEIGHT; y++) {
    const sy = Math.min(mh - 1, Math.max(0, ((y + 0.5) * mh) / FRAME_HEIGHT - 0.5));
    const y0 = Math.floor(sy);
    const y1 = Math.min(mh - 1, y0 + 1);
    const wy = sy - y0;
    for (let x = 0; x < FRAME_WIDTH; x++) {
      const sx = Math.min(mw - 1, Math.max(0, ((x + 0.5) * mw) / FRAME_WIDTH - 0.5));
      const x0 = Math.floor(sx);
      const x1 = Math.min(mw - 1, x0 + 1);
      const wx = sx - x0;
      const top = mask[y0 * mw + x0]! + (mask[y0 * mw + x1]! - mask[y0 * mw + x0]!) * wx;
      const bottom = mask[y1 * mw + x0]! + (mask[y1 * mw + x1]! - mask[y1 * mw + x0]!) * wx;
      const alpha = Math.min(1, Math.max(0, (top + (bottom - top) * wy - lo) / (hi - lo)));
      if (truth[y * FRAME_WIDTH + x]) {
        personSum += alpha;
        personN++;
      } else {
        backSum += 1 - alpha;
        backN++;
      }
    }
  }
  return { kept: personN ? personSum / personN : 1, replaced: backN ? backSum / backN : 1 };
}
