/**
 * The loader's intermediate form between TensorFlow nodes and the op list: values are named by the
 * layer that produces them, constants are resolved, and the folds rewrite layers in place.
 */
import type { Activation, Shape } from '../graph.ts';

export interface Constant {
  readonly shape: readonly number[];
  readonly values: Float32Array;
}

/** One layer; its inputs are the names of the layers that produce them. */
export type Layer =
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

export function inputsOf(layer: Layer): string[] {
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

export const isConv = (l: Layer | undefined): l is Extract<Layer, { kind: 'conv2d' | 'depthwise' | 'deconv' }> =>
  l !== undefined && (l.kind === 'conv2d' || l.kind === 'depthwise' || l.kind === 'deconv');
