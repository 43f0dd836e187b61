/**
 * The CPU person mask of one RGBA frame, in plain TypeScript around the runtime: the reference
 * that other paths (the WASM pre/post-processing kernels, the CUDA graph) are checked against.
 *
 * Pre-processing: the frame is stretched to the model's input with bilinear sampling at
 * half-pixel centres (src = (dst + 0.5) * srcSize / dstSize - 0.5, clamped to the edge; the
 * "align_corners = false, half_pixel_centers = true" convention), RGB scaled by the model's
 * inputScale/inputOffset, alpha ignored.
 */
import { SELFIE_MODEL, type ModelSpec } from './model.ts';
import type { SegmentationModel } from './runtime.ts';

export interface CpuMask {
  readonly width: number;
  readonly height: number;
  /** Person probability in [0, 1], row-major, width * height. */
  readonly probability: Float32Array;
}

/** Bilinear sample positions for one axis: index of the left/top neighbour and its weight. */
function axisTaps(dst: number, src: number): { i0: Int32Array; i1: Int32Array; w1: Float32Array } {
  const i0 = new Int32Array(dst);
  const i1 = new Int32Array(dst);
  const w1 = new Float32Array(dst);
  const scale = src / dst;
  for (let d = 0; d < dst; d++) {
    const s = Math.min(src - 1, Math.max(0, (d + 0.5) * scale - 0.5));
    const lo = Math.floor(s);
    i0[d] = lo;
    i1[d] = Math.min(src - 1, lo + 1);
    w1[d] = s - lo;
  }
  return { i0, i1, w1 };
}

/** The model's input tensor (HWC RGB floats) for an RGBA frame. */
export function modelInputFromRgba(rgba: Uint8Array, width: number, height: number, spec: ModelSpec = SELFIE_MODEL): Float32Array {
  if (rgba.length < width * height * 4) throw new RangeError(`an RGBA ${width}x${height} frame needs ${width * height * 4} bytes`);
  const W = spec.inputWidth;
  const H = spec.inputHeight;
  const xs = axisTaps(W, width);
  const ys = axisTaps(H, height);
  const out = new Float32Array(W * H * 3);
  for (let y = 0; y < H; y++) {
    const r0 = ys.i0[y]! * width * 4;
    const r1 = ys.i1[y]! * width * 4;
    const wy = ys.w1[y]!;
    for (let x = 0; x < W; x++) {
      const c0 = xs.i0[x]! * 4;
      const c1 = xs.i1[x]! * 4;
      const wx = xs.w1[x]!;
      for (let c = 0; c < 3; c++) {
        const top = rgba[r0 + c0 + c]! + (rgba[r0 + c1 + c]! - rgba[r0 + c0 + c]!) * wx;
        const bottom = rgba[r1 + c0 + c]! + (rgba[r1 + c1 + c]! - rgba[r1 + c0 + c]!) * wx;
        out[(y * W + x) * 3 + c] = (top + (bottom - top) * wy) * spec.inputScale + spec.inputOffset;
      }
    }
  }
  return out;
}

export interface CpuSegmenter {
  readonly model: SegmentationModel;
  /** The person probability at the model's resolution (inputWidth x inputHeight). */
  maskRgba(rgba: Uint8Array, width: number, height: number): CpuMask;
}

export async function createCpuSegmenter(spec: ModelSpec = SELFIE_MODEL): Promise<CpuSegmenter> {
  // TF.js (megabytes of CommonJS) is loaded with the first mask, not by every worker at its start.
  const { loadSegmentationModel } = await import('./runtime.ts');
  const model = await loadSegmentationModel(spec);
  return {
    model,
    maskRgba(rgba, width, height) {
      const probability = new Float32Array(spec.inputWidth * spec.inputHeight);
      model.infer(modelInputFromRgba(rgba, width, height, spec), probability);
      return { width: spec.inputWidth, height: spec.inputHeight, probability };
    },
  };
}
