/** The weights of a TF.js graph model: float32 and int32, or float16 / uint8 quantised, as the manifest says. */
import type { Constant } from './layers.ts';
import { GraphModelError, type TfGraphModelJson } from './tf-json.ts';

function float16ToFloat32(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const frac = h & 0x3ff;
  if (exp === 0) return sign * 2 ** -14 * (frac / 1024);
  if (exp === 31) return frac ? Number.NaN : sign * Number.POSITIVE_INFINITY;
  return sign * 2 ** (exp - 15) * (1 + frac / 1024);
}

/** Decodes every weight of the manifest from the concatenated bytes of each group's files. */
export function decodeWeights(json: TfGraphModelJson, groups: readonly Uint8Array[]): Map<string, Constant> {
  const out = new Map<string, Constant>();
  json.weightsManifest.forEach((group, g) => {
    const bytes = groups[g];
    if (!bytes) throw new GraphModelError(`weight group ${g} has no data`);
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    let at = 0;
    for (const w of group.weights) {
      const count = w.shape.reduce((a, b) => a * b, 1);
      const q = w.quantization?.dtype;
      const size = q === 'float16' ? 2 : q === 'uint8' ? 1 : q === undefined && (w.dtype === 'float32' || w.dtype === 'int32') ? 4 : 0;
      if (size === 0) throw new GraphModelError(`weight ${w.name}: unsupported dtype ${w.dtype}${q ? ` quantised as ${q}` : ''}`);
      if (at + count * size > bytes.byteLength) throw new GraphModelError(`weight ${w.name} runs past the end of its file`);
      const values = new Float32Array(count);
      for (let i = 0; i < count; i++) {
        const o = at + i * size;
        if (q === 'float16') values[i] = float16ToFloat32(view.getUint16(o, true));
        else if (q === 'uint8') values[i] = (w.quantization!.min ?? 0) + (w.quantization!.scale ?? 1) * view.getUint8(o);
        else if (w.dtype === 'int32') values[i] = view.getInt32(o, true);
        else values[i] = view.getFloat32(o, true);
      }
      at += count * size;
      out.set(w.name, { shape: w.shape, values });
    }
  });
  return out;
}
