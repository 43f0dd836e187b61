/**
 * A segmentation network as a short list of typed ops over NHWC float32 tensors (batch 1), the
 * form that both the plain TypeScript interpreter (graph-reference.ts) and the CUDA kernels
 * (src/cuda/segment.cu) execute. graph-load.ts builds it from a TF.js graph model, with the
 * bias adds, batch norms and activations already folded into the layers that precede them.
 *
 * Layouts (chosen so that neighbouring GPU threads, which own neighbouring output channels, read
 * neighbouring weights):
 * - conv2d filter:     [kh][kw][inC][outC]  (TensorFlow's HWIO)
 * - depthwise filter:  [kh][kw][C]          (channel multiplier 1)
 * - transposed conv:   [kh][kw][outC][inC]  (TensorFlow's Conv2DBackpropInput filter)
 */

/** Activation applied to a layer's output. hswish is x * relu6(x + 3) / 6 (MobileNetV3). */
export type Activation = 'none' | 'relu' | 'relu6' | 'sigmoid' | 'hswish';

/** A tensor's shape: height, width, channels (batch 1). */
export interface Shape {
  readonly h: number;
  readonly w: number;
  readonly c: number;
}

/** Window geometry of a convolution or pooling: kernel, stride, and the padding before the first row/column. */
export interface Window {
  readonly kh: number;
  readonly kw: number;
  readonly strideH: number;
  readonly strideW: number;
  readonly padTop: number;
  readonly padLeft: number;
}

interface Unary {
  readonly input: number;
  readonly output: number;
}

export type GraphOp =
  | (Unary & Window & { readonly kind: 'conv2d'; readonly filter: Float32Array; readonly bias: Float32Array; readonly act: Activation })
  | (Unary & Window & { readonly kind: 'depthwise'; readonly filter: Float32Array; readonly bias: Float32Array; readonly act: Activation })
  | (Unary & Window & { readonly kind: 'deconv'; readonly filter: Float32Array; readonly bias: Float32Array; readonly act: Activation })
  /** Average over kh x kw windows without padding (VALID); the global pool of squeeze-excite blocks. */
  | (Unary & Window & { readonly kind: 'avgPool' })
  /** Bilinear resize to the output shape; halfPixel as TensorFlow's half_pixel_centers. */
  | (Unary & { readonly kind: 'resize'; readonly halfPixel: boolean; readonly alignCorners: boolean })
  | (Unary & { readonly kind: 'activation'; readonly act: Activation })
  /** a + b, same shapes, then act. */
  | { readonly kind: 'add'; readonly a: number; readonly b: number; readonly output: number; readonly act: Activation }
  /** a * b where b has a's shape or is 1 x 1 x C (the channel scale of a squeeze-excite block). */
  | { readonly kind: 'mul'; readonly a: number; readonly b: number; readonly output: number };

export type GraphOpKind = GraphOp['kind'];

export interface GraphModel {
  /** Tensor 0 is the input. */
  readonly tensors: readonly Shape[];
  readonly ops: readonly GraphOp[];
  readonly output: number;
  /** Bytes of all filters and biases, as float32. */
  readonly weightBytes: number;
}

export const elements = (s: Shape): number => s.h * s.w * s.c;

/** The tensors an op reads. */
export function opInputs(op: GraphOp): number[] {
  return op.kind === 'add' || op.kind === 'mul' ? [op.a, op.b] : [op.input];
}

/** The output size and padding of TensorFlow's SAME or VALID along one axis. */
export function convAxis(size: number, kernel: number, stride: number, padding: 'SAME' | 'VALID'): { out: number; pad: number } {
  if (padding === 'VALID') return { out: Math.floor((size - kernel) / stride) + 1, pad: 0 };
  const out = Math.ceil(size / stride);
  const total = Math.max((out - 1) * stride + kernel - size, 0);
  return { out, pad: Math.floor(total / 2) };
}

export function applyActivation(act: Activation, x: number): number {
  switch (act) {
    case 'none':
      return x;
    case 'relu':
      return x > 0 ? x : 0;
    case 'relu6':
      return Math.min(Math.max(x, 0), 6);
    case 'sigmoid':
      return 1 / (1 + Math.exp(-x));
    case 'hswish':
      return (x * Math.min(Math.max(x + 3, 0), 6)) / 6;
  }
}
