/**
 * Folds, one pass at a time until nothing changes: a constant bias add into the convolution before
 * it (also across a residual add), the hard-swish subgraph into one activation, and an activation
 * into the layer before it.
 */
import { inputsOf, isConv, type Layer } from './layers.ts';

function isClose(values: Float32Array, want: number): boolean {
  return values.length === 1 && Math.abs(values[0]! - want) < 1e-3 * Math.max(1, Math.abs(want));
}

/** Folds constants and activations into the layers before them; returns how many folds were made. */
export function fold(layers: Map<string, Layer>, output: string): number {
  const uses = new Map<string, number>([[output, 1]]);
  for (const l of layers.values()) for (const i of inputsOf(l)) uses.set(i, (uses.get(i) ?? 0) + 1);
  const only = (name: string) => uses.get(name) === 1 && name !== output;
  /** `from` takes over the name `to`, which its only consumer had: that consumer is gone. */
  const rename = (from: string, to: string, layer: Layer) => {
    layers.delete(from);
    layers.set(to, layer);
  };
  const addBias = (conv: Extract<Layer, { bias: Float32Array | null }>, values: Float32Array): boolean => {
    const channels = conv.kind === 'deconv' ? conv.filter.shape[2]! : conv.filter.shape[conv.kind === 'conv2d' ? 3 : 2]!;
    if (values.length !== channels && values.length !== 1) return false;
    const bias = conv.bias ?? new Float32Array(channels);
    for (let c = 0; c < channels; c++) bias[c] = bias[c]! + values[values.length === 1 ? 0 : c]!;
    conv.bias = bias;
    return true;
  };
  let folds = 0;
  for (const name of [...layers.keys()]) {
    // Read afresh: an earlier fold in this pass may have given the name to another layer.
    const layer = layers.get(name);
    if (!layer) continue;
    if (layer.kind === 'addConst') {
      const src = layers.get(layer.input);
      if (isConv(src) && src.act === 'none' && only(layer.input) && addBias(src, layer.values)) {
        rename(layer.input, name, src);
        folds++;
      } else if (src?.kind === 'add' && src.act === 'none' && only(layer.input)) {
        // (conv + r) + b = (conv + b) + r
        const side = [src.a, src.b].find((s) => {
          const conv = layers.get(s);
          return isConv(conv) && conv.act === 'none' && only(s);
        });
        const conv = side === undefined ? undefined : layers.get(side);
        if (isConv(conv) && addBias(conv, layer.values)) {
          rename(layer.input, name, src);
          folds++;
        }
      }
      continue;
    }
    if (layer.kind === 'mul') {
      // hard swish: mul(mulConst(x, 1/6), act(relu6, addConst(x, 3))), operands in either order
      for (const [p, q] of [[layer.a, layer.b], [layer.b, layer.a]] as const) {
        const scale = layers.get(p);
        const relu6 = layers.get(q);
        if (scale?.kind !== 'mulConst' || relu6?.kind !== 'act' || relu6.act !== 'relu6') continue;
        const shift = layers.get(relu6.input);
        if (shift?.kind !== 'addConst' || shift.input !== scale.input) continue;
        if (!isClose(scale.values, 1 / 6) || !isClose(shift.values, 3) || !only(p) || !only(q) || !only(relu6.input)) continue;
        layers.delete(p);
        layers.delete(q);
        layers.delete(relu6.input);
        layers.set(name, { kind: 'act', input: scale.input, act: 'hswish' });
        folds++;
        break;
      }
      continue;
    }
    if (layer.kind === 'act') {
      const src = layers.get(layer.input);
      if ((isConv(src) || src?.kind === 'add') && src.act === 'none' && only(layer.input)) {
        src.act = layer.act;
        rename(layer.input, name, src);
        folds++;
      }
    }
  }
  return folds;
}
