/**
 * The op list of graph.ts executed in plain TypeScript: one loop nest per op, float64 sums,
 * nothing clever. It is the baseline "own kernels" implementation and the oracle the CUDA kernels
 * (src/cuda/segment.cu) are tested against, op by op and end to end.
 */
import { applyActivation, elements, type GraphModel, type GraphOp, type Shape } from './graph.ts';

/** Runs one op, reading its inputs from `values` and writing its output there. */
export function runReferenceOp(op: GraphOp, shapes: readonly Shape[], values: Array<Float32Array | undefined>): Float32Array {
  const out = new Float32Array(elements(shapes[op.output]!));
  const get = (id: number): Float32Array => {
    const v = values[id];
    if (!v) throw new Error(`tensor ${id} is read before it is written`);
    return v;
  };
  const o = shapes[op.output]!;
  switch (op.kind) {
    case 'conv2d': {
      const x = get(op.input);
      const s = shapes[op.input]!;
      for (let oy = 0; oy < o.h; oy++)
        for (let ox = 0; ox < o.w; ox++)
          for (let oc = 0; oc < o.c; oc++) {
            let sum = op.bias[oc]!;
            for (let ky = 0; ky < op.kh; ky++) {
              const iy = oy * op.strideH - op.padTop + ky;
              if (iy < 0 || iy >= s.h) continue;
              for (let kx = 0; kx < op.kw; kx++) {
                const ix = ox * op.strideW - op.padLeft + kx;
                if (ix < 0 || ix >= s.w) continue;
                for (let ic = 0; ic < s.c; ic++) sum += x[(iy * s.w + ix) * s.c + ic]! * op.filter[((ky * op.kw + kx) * s.c + ic) * o.c + oc]!;
              }
            }
            out[(oy * o.w + ox) * o.c + oc] = applyActivation(op.act, sum);
          }
      break;
    }
    case 'depthwise': {
      const x = get(op.input);
      const s = shapes[op.input]!;
      for (let oy = 0; oy < o.h; oy++)
        for (let ox = 0; ox < o.w; ox++)
          for (let c = 0; c < o.c; c++) {
            let sum = op.bias[c]!;
            for (let ky = 0; ky < op.kh; ky++) {
              const iy = oy * op.strideH - op.padTop + ky;
              if (iy < 0 || iy >= s.h) continue;
              for (let kx = 0; kx < op.kw; kx++) {
                const ix = ox * op.strideW - op.padLeft + kx;
                if (ix < 0 || ix >= s.w) continue;
                sum += x[(iy * s.w + ix) * s.c + c]! * op.filter[(ky * op.kw + kx) * s.c + c]!;
              }
            }
            out[(oy * o.w + ox) * o.c + c] = applyActivation(op.act, sum);
          }
      break;
    }
    case 'deconv': {
      // Each output pixel gathers the input pixels whose stride-spaced kernel footprint covers it.
      const x = get(op.input);
      const s = shapes[op.input]!;
      for (let oy = 0; oy < o.h; oy++)
        for (let ox = 0; ox < o.w; ox++)
          for (let oc = 0; oc < o.c; oc++) {
            let sum = op.bias[oc]!;
            for (let ky = 0; ky < op.kh; ky++) {
              const ty = oy + op.padTop - ky;
              if (ty < 0 || ty % op.strideH !== 0) continue;
              const iy = ty / op.strideH;
              if (iy >= s.h) continue;
              for (let kx = 0; kx < op.kw; kx++) {
                const tx = ox + op.padLeft - kx;
                if (tx < 0 || tx % op.strideW !== 0) continue;
                const ix = tx / op.strideW;
                if (ix >= s.w) continue;
                for (let ic = 0; ic < s.c; ic++) sum += x[(iy * s.w + ix) * s.c + ic]! * op.filter[((ky * op.kw + kx) * o.c + oc) * s.c + ic]!;
              }
            }
            out[(oy * o.w + ox) * o.c + oc] = applyActivation(op.act, sum);
          }
      break;
    }
    case 'avgPool': {
      const x = get(op.input);
      const s = shapes[op.input]!;
      for (let oy = 0; oy < o.h; oy++)
        for (let ox = 0; ox < o.w; ox++)
          for (let c = 0; c < o.c; c++) {
            let sum = 0;
            for (let ky = 0; ky < op.kh; ky++)
              for (let kx = 0; kx < op.kw; kx++) sum += x[((oy * op.strideH + ky) * s.w + ox * op.strideW + kx) * s.c + c]!;
            out[(oy * o.w + ox) * o.c + c] = sum / (op.kh * op.kw);
          }
      break;
    }
    case 'resize': {
      const x = get(op.input);
      const s = shapes[op.input]!;
      const ay = resizeAxis(s.h, o.h, op.halfPixel, op.alignCorners);
      const ax = resizeAxis(s.w, o.w, op.halfPixel, op.alignCorners);
      for (let oy = 0; oy < o.h; oy++) {
        const [y0, y1, fy] = ay(oy);
        for (let ox = 0; ox < o.w; ox++) {
          const [x0, x1, fx] = ax(ox);
          for (let c = 0; c < o.c; c++) {
            const at = (yy: number, xx: number) => x[(yy * s.w + xx) * s.c + c]!;
            const top = at(y0, x0) + (at(y0, x1) - at(y0, x0)) * fx;
            const bottom = at(y1, x0) + (at(y1, x1) - at(y1, x0)) * fx;
            out[(oy * o.w + ox) * o.c + c] = top + (bottom - top) * fy;
          }
        }
      }
      break;
    }
    case 'activation': {
      const x = get(op.input);
      for (let i = 0; i < out.length; i++) out[i] = applyActivation(op.act, x[i]!);
      break;
    }
    case 'add': {
      const a = get(op.a);
      const b = get(op.b);
      for (let i = 0; i < out.length; i++) out[i] = applyActivation(op.act, a[i]! + b[i]!);
      break;
    }
    case 'mul': {
      const a = get(op.a);
      const b = get(op.b);
      const sb = shapes[op.b]!;
      const broadcast = sb.h * sb.w === 1;
      for (let i = 0; i < out.length; i++) out[i] = a[i]! * b[broadcast ? i % o.c : i]!;
      break;
    }
  }
  values[op.output] = out;
  return out;
}

/**
 * Source positions of TensorFlow's ResizeBilinear along one axis: the two neighbours and the
 * weight of the second. Half-pixel centres map out + 0.5 to in + 0.5; the neighbours are clamped
 * to the input, so edge pixels repeat.
 */
export function resizeAxis(inSize: number, outSize: number, halfPixel: boolean, alignCorners: boolean): (o: number) => [number, number, number] {
  const scale = alignCorners && outSize > 1 ? (inSize - 1) / (outSize - 1) : inSize / outSize;
  return (o) => {
    const src = halfPixel ? (o + 0.5) * scale - 0.5 : o * scale;
    const floor = Math.floor(src);
    const i0 = Math.max(floor, 0);
    const i1 = Math.min(Math.ceil(src), inSize - 1);
    return [Math.min(i0, inSize - 1), Math.max(i1, 0), src - floor];
  };
}

/** Runs the whole model on one NHWC input; returns the output tensor. */
export function runReferenceGraph(model: GraphModel, input: Float32Array): Float32Array {
  if (input.length !== elements(model.tensors[0]!)) throw new RangeError(`input has ${input.length} values, the model takes ${elements(model.tensors[0]!)}`);
  const values: Array<Float32Array | undefined> = new Array(model.tensors.length);
  values[0] = input;
  // Free each tensor after its last reader, so the peak is a few layers, not the whole network.
  const lastUse = new Map<number, number>();
  model.ops.forEach((op, i) => {
    for (const t of op.kind === 'add' || op.kind === 'mul' ? [op.a, op.b] : [op.input]) lastUse.set(t, i);
  });
  model.ops.forEach((op, i) => {
    runReferenceOp(op, model.tensors, values);
    for (const [t, last] of lastUse) if (last === i && t !== model.output) values[t] = undefined;
  });
  return values[model.output]!;
}
