/** The folded layers as the op list of graph.ts: in dependency order, every value numbered, shapes inferred and checked. */
import { convAxis, type GraphModel, type GraphOp, type Shape } from '../graph.ts';
import { inputsOf, type Constant, type Layer } from './layers.ts';
import { GraphModelError } from './tf-json.ts';

const MAX_TENSOR_ELEMENTS = 64 * 1024 * 1024;

function reshapeFilter(c: Constant): Float32Array {
  return new Float32Array(c.values);
}

/** Layers in dependency order, each value numbered, shapes inferred. */
export function toModel(layers: Map<string, Layer>, output: string): GraphModel {
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
