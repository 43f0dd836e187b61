/** TensorFlow nodes to layers of the intermediate form: constants resolved, attributes checked. */
import type { Constant, Layer } from './layers.ts';
import { GraphModelError, type TfAttr, type TfGraphModelJson, type TfNode } from './tf-json.ts';

export const tensorName = (input: string) => input.replace(/:0$/, '');
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

/** TensorFlow nodes to layers, constants resolved. */
export function toLayers(json: TfGraphModelJson, weights: Map<string, Constant>): Map<string, Layer> {
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
