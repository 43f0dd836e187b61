/**
 * Reads a TF.js graph model (model.json + its weight files) into the op list of graph.ts.
 *
 * Steps: decode the weights (float32, or float16 / uint8 quantised, as the manifest says); turn
 * each TensorFlow node into a layer of a small intermediate form, constants resolved; fold, until
 * nothing changes: a constant bias add into the convolution before it (also across a residual
 * add: (conv + r) + b = (conv + b) + r), the hard-swish subgraph x * relu6(x + 3) * (1/6) into one
 * activation, and an activation into the layer before it; then give every remaining value a
 * tensor number and a shape. A node type or attribute this does not know is an error naming it,
 * never a silent approximation.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { convAxis, type Activation, type GraphModel, type GraphOp, type Shape } from './graph.ts';

interface TfAttr {
  readonly s?: string;
  readonly i?: string;
  readonly f?: number;
  readonly b?: boolean;
  readonly list?: { readonly i?: string[] };
  readonly shape?: { readonly dim?: Array<{ readonly size: string }> };
}
interface TfNode {
  readonly name: string;
  readonly op: string;
  readonly input?: string[];
  readonly attr?: Record<string, TfAttr>;
}
interface TfWeight {
  readonly name: string;
  readonly shape: number[];
  readonly dtype: string;
  readonly quantization?: { readonly dtype: string; readonly scale?: number; readonly min?: number };
}
export interface TfGraphModelJson {
  readonly format?: string;
  readonly modelTopology: { readonly node: TfNode[] };
  readonly weightsManifest: Array<{ readonly paths: string[]; readonly weights: TfWeight[] }>;
  readonly signature?: { readonly outputs?: Record<string, { readonly name: string }> };
}

export class GraphModelError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'GraphModelError';
  }
}

interface Constant {
  readonly shape: readonly number[];
  readonly values: Float32Array;
}

/** The intermediate form: values are named by the layer that produces them. */
type Layer =
  | {
      kind: 'conv2d' | 'depthwise';
      input: string;
      filter: Constant;
      bias: Float32Array | null;
      strides: [number, number];
      padding: 'SAME' | 'VALID';
      act: Activation;
    }
  | { kind: 'deconv'; input: string; filter: Constant; outSize: [number, number]; bias: Float32Array | null; strides: [number, number]; padding: 'SAME' | 'VALID'; act: Activation }
  | { kind: 'add'; a: string; b: string; act: Activation }
  | { kind: 'mul'; a: string; b: string }
  | { kind: 'addConst'; input: string; values: Float32Array }
  | { kind: 'mulConst'; input: string; values: Float32Array }
  | { kind: 'act'; input: string; act: Activation }
  | { kind: 'avgPool'; input: string; ksize: [number, number]; strides: [number, number]; padding: 'SAME' | 'VALID' }
  | { kind: 'resize'; input: string; size: [number, number]; halfPixel: boolean; alignCorners: boolean }
  | { kind: 'input'; shape: Shape };

const MAX_WEIGHT_BYTES = 64 * 1024 * 1024;
const MAX_TENSOR_ELEMENTS = 64 * 1024 * 1024;

function float16ToFloat32(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const frac = h & 0x3ff;
  if (exp === 0) return sign * 2 ** -14 * (frac / 1024);
  if (exp === 31) return frac ? Number.NaN : sign * Number.POSITIVE_INFINITY;
  return sign * 2 ** (exp - 15) * (1 + frac / 1024);
}

/** Decodes every weight of the manifest from the concatenated bytes of each group's files. */
function decodeWeights(json: TfGraphModelJson, groups: readonly Uint8Array[]): Map<string, Constant> {
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

const tensorName = (input: string) => input.replace(/:0$/, '');
const decodeString = (attr: TfAttr | undefined) => (attr?.s ? Buffer.from(attr.s, 'base64').toString('latin1') : undefined);
const listInts = (attr: TfAttr | undefined) => (attr?.list?.i ?? []).map(Number);

function nhwcPair(node: TfNode, key: string, fallback: number): [number, number] {
  const v = listInts(node.attr?.[key]);
  if (v.length === 0) return [fallback, fallback];
  if (v.length !== 4 || v[0] !== 1 || v[3] !== 1) throw new GraphModelError(`${node.name}: ${key} ${JSON.stringify(v)} is not [1, h, w, 1]`);
  return [v[1]!, v[2]!];
}

function checkNhwc(node: TfNode): void {
  const format = decodeString(node.attr?.data_format);
  if (format !== undefined && format !== 'NHWC') throw new GraphModelError(`${node.name}: data_format ${format} (only NHWC)`);
  const dilations = nhwcPair(node, 'dilations', 1);
  if (dilations[0] !== 1 || dilations[1] !== 1) throw new GraphModelError(`${node.name}: dilated convolutions are not supported`);
}

function paddingOf(node: TfNode): 'SAME' | 'VALID' {
  const p = decodeString(node.attr?.padding);
  if (p !== 'SAME' && p !== 'VALID') throw new GraphModelError(`${node.name}: padding ${p} (only SAME and VALID)`);
  return p;
}

function isClose(values: Float32Array, want: number): boolean {
  return values.length === 1 && Math.abs(values[0]! - want) < 1e-3 * Math.max(1, Math.abs(want));
}

/** TensorFlow nodes to layers, constants resolved. */
function toLayers(json: TfGraphModelJson, weights: Map<string, Constant>): Map<string, Layer> {
  const layers = new Map<string, Layer>();
  const constOf = (input: string): Constant | undefined => weights.get(tensorName(input));
  for (const node of json.modelTopology.node) {
    const ins = (node.input ?? []).filter((i) => !i.startsWith('^')).map(tensorName);
    const constIn = ins.map((i) => constOf(i));
    const name = node.name;
    switch (node.op) {
      case 'Const':
        if (!weights.has(name)) throw new GraphModelError(`constant ${name} has no weights`);
        break;
      case 'Placeholder': {
        const dims = (node.attr?.shape?.shape?.dim ?? []).map((d) => Number(d.size));
        if (dims.length !== 4 || dims[0] !== 1 || dims.slice(1).some((d) => !(d > 0))) {
          throw new GraphModelError(`input ${name}: shape ${JSON.stringify(dims)} is not [1, h, w, c]`);
        }
        layers.set(name, { kind: 'input', shape: { h: dims[1]!, w: dims[2]!, c: dims[3]! } });
        break;
      }
      case 'Identity':
        layers.set(name, { kind: 'act', input: ins[0]!, act: 'none' });
        break;
      case 'Conv2D':
      case 'DepthwiseConv2dNative': {
        checkNhwc(node);
        const filter = constIn[1];
        if (!filter || filter.shape.length !== 4) throw new GraphModelError(`${name}: the filter must be a 4-d constant`);
        if (node.op === 'DepthwiseConv2dNative' && filter.shape[3] !== 1) throw new GraphModelError(`${name}: channel multiplier ${filter.shape[3]} (only 1)`);
        const kind = node.op === 'Conv2D' ? 'conv2d' : 'depthwise';
        layers.set(name, { kind, input: ins[0]!, filter, bias: null, strides: nhwcPair(node, 'strides', 1), padding: paddingOf(node), act: 'none' });
        break;
      }
      case 'Conv2DBackpropInput': {
        checkNhwc(node);
        const sizes = constIn[0];
        const filter = constIn[1];
        if (!sizes || sizes.values.length !== 4 || !filter || filter.shape.length !== 4) throw new GraphModelError(`${name}: output sizes and filter must be constants`);
        layers.set(name, {
          kind: 'deconv',
          input: ins[2]!,
          filter,
          outSize: [sizes.values[1]!, sizes.values[2]!],
          bias: null,
          strides: nhwcPair(node, 'strides', 1),
          padding: paddingOf(node),
          act: 'none',
        });
        break;
      }
      case 'Add':
      case 'AddV2':
      case 'AddN':
      case 'BiasAdd': {
        if (ins.length !== 2) throw new GraphModelError(`${name}: ${node.op} of ${ins.length} inputs (only 2)`);
        const k = constIn.findIndex((c) => c !== undefined);
        if (constIn[0] && constIn[1]) throw new GraphModelError(`${name}: adds two constants`);
        if (k >= 0) layers.set(name, { kind: 'addConst', input: ins[1 - k]!, values: constIn[k]!.values });
        else layers.set(name, { kind: 'add', a: ins[0]!, b: ins[1]!, act: 'none' });
        break;
      }
      case 'Mul': {
        const k = constIn.findIndex((c) => c !== undefined);
        if (constIn[0] && constIn[1]) throw new GraphModelError(`${name}: multiplies two constants`);
        if (k >= 0) layers.set(name, { kind: 'mulConst', input: ins[1 - k]!, values: constIn[k]!.values });
        else layers.set(name, { kind: 'mul', a: ins[0]!, b: ins[1]! });
        break;
      }
      case 'Relu':
      case 'Relu6':
      case 'Sigmoid': {
        const act = ({ Relu: 'relu', Relu6: 'relu6', Sigmoid: 'sigmoid' } as const)[node.op];
        layers.set(name, { kind: 'act', input: ins[0]!, act });
        break;
      }
      case 'AvgPool':
        checkNhwc(node);
        layers.set(name, { kind: 'avgPool', input: ins[0]!, ksize: nhwcPair(node, 'ksize', 1), strides: nhwcPair(node, 'strides', 1), padding: paddingOf(node) });
        break;
      case 'ResizeBilinear': {
        const size = constIn[1];
        if (!size || size.values.length !== 2) throw new GraphModelError(`${name}: the size must be a constant [h, w]`);
        layers.set(name, {
          kind: 'resize',
          input: ins[0]!,
          size: [size.values[0]!, size.values[1]!],
          halfPixel: node.attr?.half_pixel_centers?.b === true,
          alignCorners: node.attr?.align_corners?.b === true,
        });
        break;
      }
      default:
        throw new GraphModelError(`${name}: TensorFlow op ${node.op} is not supported`);
    }
  }
  return layers;
}

function inputsOf(layer: Layer): string[] {
  switch (layer.kind) {
    case 'input':
      return [];
    case 'add':
    case 'mul':
      return [layer.a, layer.b];
    default:
      return [layer.input];
  }
}

const isConv = (l: Layer | undefined): l is Extract<Layer, { kind: 'conv2d' | 'depthwise' | 'deconv' }> =>
  l !== undefined && (l.kind === 'conv2d' || l.kind === 'depthwise' || l.kind === 'deconv');

/** Folds constants and activations into the layers before them; returns how many folds were made. */
function fold(layers: Map<string, Layer>, output: string): number {
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

function reshapeFilter(c: Constant): Float32Array {
  return new Float32Array(c.values);
}

/** Layers in dependency order, each value numbered, shapes inferred. */
function toModel(layers: Map<string, Layer>, output: string): GraphModel {
  const ids = new Map<string, number>();
  const shapes: Shape[] = [];
  const ops: GraphOp[] = [];
  let weightBytes = 0;
  const visiting = new Set<string>();
  const order: string[] = [];
  const visit = (name: string) => {
    if (ids.has(name) || order.includes(name)) return;
    if (visiting.has(name)) throw new GraphModelError(`the graph has a cycle through ${name}`);
    const layer = layers.get(name);
    if (!layer) throw new GraphModelError(`value ${name} is not produced by any node`);
    visiting.add(name);
    for (const i of inputsOf(layer)) visit(i);
    visiting.delete(name);
    order.push(name);
  };
  const inputName = [...layers].find(([, l]) => l.kind === 'input')?.[0];
  if (!inputName) throw new GraphModelError('the graph has no input');
  visit(inputName);
  visit(output);
  for (const name of order) {
    const layer = layers.get(name)!;
    const id = shapes.length;
    const shapeOf = (n: string) => shapes[ids.get(n)!]!;
    const idOf = (n: string) => ids.get(n)!;
    let shape: Shape;
    switch (layer.kind) {
      case 'input':
        shape = layer.shape;
        break;
      case 'conv2d':
      case 'depthwise': {
        const s = shapeOf(layer.input);
        const [kh, kw, ci, co] = layer.filter.shape as [number, number, number, number];
        if (ci !== s.c) throw new GraphModelError(`${name}: filter expects ${ci} channels, the input has ${s.c}`);
        const y = convAxis(s.h, kh, layer.strides[0], layer.padding);
        const x = convAxis(s.w, kw, layer.strides[1], layer.padding);
        const outC = layer.kind === 'conv2d' ? co : ci;
        shape = { h: y.out, w: x.out, c: outC };
        const filter = reshapeFilter(layer.filter);
        const bias = layer.bias ?? new Float32Array(outC);
        weightBytes += 4 * (filter.length + bias.length);
        ops.push({ kind: layer.kind, input: idOf(layer.input), output: id, filter, bias, act: layer.act, kh, kw, strideH: layer.strides[0], strideW: layer.strides[1], padTop: y.pad, padLeft: x.pad });
        break;
      }
      case 'deconv': {
        const s = shapeOf(layer.input);
        const [kh, kw, co, ci] = layer.filter.shape as [number, number, number, number];
        if (ci !== s.c) throw new GraphModelError(`${name}: filter expects ${ci} channels, the input has ${s.c}`);
        const [oh, ow] = layer.outSize;
        // The forward convolution (output -> input) fixes the padding.
        const y = convAxis(oh, kh, layer.strides[0], layer.padding);
        const x = convAxis(ow, kw, layer.strides[1], layer.padding);
        if (y.out !== s.h || x.out !== s.w) throw new GraphModelError(`${name}: output ${oh}x${ow} does not match the input ${s.h}x${s.w}`);
        shape = { h: oh, w: ow, c: co };
        const filter = reshapeFilter(layer.filter);
        const bias = layer.bias ?? new Float32Array(co);
        weightBytes += 4 * (filter.length + bias.length);
        ops.push({ kind: 'deconv', input: idOf(layer.input), output: id, filter, bias, act: layer.act, kh, kw, strideH: layer.strides[0], strideW: layer.strides[1], padTop: y.pad, padLeft: x.pad });
        break;
      }
      case 'avgPool': {
        const s = shapeOf(layer.input);
        if (layer.padding !== 'VALID') throw new GraphModelError(`${name}: average pooling with SAME padding is not supported`);
        const [kh, kw] = layer.ksize;
        const y = convAxis(s.h, kh, layer.strides[0], 'VALID');
        const x = convAxis(s.w, kw, layer.strides[1], 'VALID');
        if (y.out < 1 || x.out < 1) throw new GraphModelError(`${name}: a ${kh}x${kw} window does not fit ${s.h}x${s.w}`);
        shape = { h: y.out, w: x.out, c: s.c };
        ops.push({ kind: 'avgPool', input: idOf(layer.input), output: id, kh, kw, strideH: layer.strides[0], strideW: layer.strides[1], padTop: 0, padLeft: 0 });
        break;
      }
      case 'resize': {
        const s = shapeOf(layer.input);
        shape = { h: layer.size[0], w: layer.size[1], c: s.c };
        ops.push({ kind: 'resize', input: idOf(layer.input), output: id, halfPixel: layer.halfPixel, alignCorners: layer.alignCorners });
        break;
      }
      case 'act':
        shape = shapeOf(layer.input);
        ops.push({ kind: 'activation', input: idOf(layer.input), output: id, act: layer.act });
        break;
      case 'add': {
        const a = shapeOf(layer.a);
        const b = shapeOf(layer.b);
        if (a.h !== b.h || a.w !== b.w || a.c !== b.c) throw new GraphModelError(`${name}: adds ${a.h}x${a.w}x${a.c} and ${b.h}x${b.w}x${b.c}`);
        shape = a;
        ops.push({ kind: 'add', a: idOf(layer.a), b: idOf(layer.b), output: id, act: layer.act });
        break;
      }
      case 'mul': {
        let [a, b] = [layer.a, layer.b];
        if (shapeOf(a).h * shapeOf(a).w < shapeOf(b).h * shapeOf(b).w) [a, b] = [b, a];
        const sa = shapeOf(a);
        const sb = shapeOf(b);
        const same = sa.h === sb.h && sa.w === sb.w;
        if (sa.c !== sb.c || !(same || (sb.h === 1 && sb.w === 1))) throw new GraphModelError(`${name}: multiplies ${sa.h}x${sa.w}x${sa.c} by ${sb.h}x${sb.w}x${sb.c}`);
        shape = sa;
        ops.push({ kind: 'mul', a: idOf(a), b: idOf(b), output: id });
        break;
      }
      case 'addConst':
      case 'mulConst':
        throw new GraphModelError(`${name}: a constant ${layer.kind === 'addConst' ? 'add' : 'multiply'} that no layer could absorb`);
    }
    if (shape.h < 1 || shape.w < 1 || shape.c < 1 || shape.h * shape.w * shape.c > MAX_TENSOR_ELEMENTS) {
      throw new GraphModelError(`${name}: shape ${shape.h}x${shape.w}x${shape.c} out of range`);
    }
    ids.set(name, id);
    shapes.push(shape);
  }
  return { tensors: shapes, ops, output: ids.get(output)!, weightBytes };
}

/** Builds the op list from a parsed model.json and the bytes of each weight group (its files concatenated). */
export function parseGraphModel(json: TfGraphModelJson, weightGroups: readonly Uint8Array[]): GraphModel {
  if (json.format !== undefined && json.format !== 'graph-model') throw new GraphModelError(`format ${json.format} (only graph-model)`);
  const weights = decodeWeights(json, weightGroups);
  const layers = toLayers(json, weights);
  const outputs = Object.values(json.signature?.outputs ?? {}).map((o) => tensorName(o.name));
  if (outputs.length !== 1) throw new GraphModelError(`the model has ${outputs.length} outputs (only 1)`);
  const output = outputs[0]!;
  while (fold(layers, output) > 0) {
    // folding one layer can make the next fold possible
  }
  return toModel(layers, output);
}

/** Reads model.json and the weight files beside it. */
export function loadGraphModelFile(modelJsonPath: string): GraphModel {
  const json = JSON.parse(readFileSync(modelJsonPath, 'utf8')) as TfGraphModelJson;
  const dir = path.dirname(modelJsonPath);
  let total = 0;
  const groups = json.weightsManifest.map((group) => {
    const parts = group.paths.map((p) => {
      const file = path.resolve(dir, p);
      if (path.dirname(file) !== path.resolve(dir)) throw new GraphModelError(`weight file ${p} lies outside the model's folder`);
      const bytes = readFileSync(file);
      total += bytes.byteLength;
      if (total > MAX_WEIGHT_BYTES) throw new GraphModelError(`the weights exceed ${MAX_WEIGHT_BYTES} bytes`);
      return bytes;
    });
    return new Uint8Array(Buffer.concat(parts));
  });
  return parseGraphModel(json, groups);
}
