/**
 * The kernels of segment.cu as the host sees them: their names, the PTX, and the two argument
 * structs (SegArgs for a layer of the network, SegFrameArgs for the frame-sized kernels) written
 * byte for byte as segment.cu declares them (little-endian, x86-64 / aarch64).
 */
import { readFileSync } from 'node:fs';
import { GAUSSIAN_RECURSIVE_MIN_SIGMA, gaussianWeights } from '../effects/reference.ts';
import { packageUrl } from '../paths.ts';
import type { Activation, GraphOp, GraphOpKind, Shape } from '../segmentation/graph.ts';
import { FEATHER_HIGH, FEATHER_LOW } from '../segmentation/graph-frame.ts';
import type { CuDevicePtr } from './driver.ts';
import { recursiveGaussianFloats } from './gaussian-coefficients.ts';

/** Every `.entry` of segment.cu; the PTX must declare exactly these. */
export const SEGMENT_KERNEL_NAMES = [
  'rtc_seg_conv2d',
  'rtc_seg_depthwise',
  'rtc_seg_deconv',
  'rtc_seg_avgpool',
  'rtc_seg_resize',
  'rtc_seg_activation',
  'rtc_seg_add',
  'rtc_seg_mul',
  'rtc_seg_rgba_to_input',
  'rtc_seg_i420_to_input',
  'rtc_seg_mask_update',
  'rtc_seg_down4_c4',
  'rtc_seg_down4_c1',
  'rtc_seg_blur_rows_c4',
  'rtc_seg_blur_rows_c1',
  'rtc_seg_blur_columns_c4',
  'rtc_seg_blur_columns_c1',
  'rtc_seg_edge_quarter',
  'rtc_seg_edge_box',
  'rtc_seg_edge_half',
  'rtc_seg_edge_full',
  'rtc_seg_blend_c4',
  'rtc_seg_blend_c1',
] as const;
export type SegmentKernelName = (typeof SEGMENT_KERNEL_NAMES)[number];

/** The kernel of each layer kind; a new kind of layer adds its kernel here (the compiler asks for it). */
export const OP_KERNELS = {
  conv2d: 'rtc_seg_conv2d',
  depthwise: 'rtc_seg_depthwise',
  deconv: 'rtc_seg_deconv',
  avgPool: 'rtc_seg_avgpool',
  resize: 'rtc_seg_resize',
  activation: 'rtc_seg_activation',
  add: 'rtc_seg_add',
  mul: 'rtc_seg_mul',
} as const satisfies { readonly [K in GraphOpKind]: SegmentKernelName };

export const SEGMENT_PTX_URL = packageUrl('src/cuda/ptx/segment.ptx');

export function readSegmentPtx(): string {
  return readFileSync(SEGMENT_PTX_URL, 'utf8');
}

/** Mirrors of segment.cu. */
export const SEG_ARGS_BYTES = 112;
export const SEG_FRAME_ARGS_BYTES = 496;
const SEG_FRAME_EDGE_OFFSET = 488;
const SEG_FRAME_WEIGHTS_OFFSET = 100;
export const BACKDROP_CODE = { blur: 0, colour: 1, image: 2 } as const;
const ACT_CODE: Readonly<Record<Activation, number>> = { none: 0, relu: 1, relu6: 2, sigmoid: 3, hswish: 4 };
const FLAG_HALF_PIXEL = 1;
const FLAG_ALIGN_CORNERS = 2;
const FLAG_BROADCAST = 4;

/** How a frame's 0..255 byte becomes a model input value: byte * scale + offset. */
export interface InputScaling {
  readonly scale: number;
  readonly offset: number;
}
export const RGB_UNIT: InputScaling = { scale: 1 / 255, offset: 0 };

/** The device buffers of one layer: its operands, weights and output. */
export interface OpBuffers {
  readonly input: CuDevicePtr;
  /** add, mul: the second operand (else 0n). */
  readonly input2: CuDevicePtr;
  readonly filter: CuDevicePtr;
  readonly bias: CuDevicePtr;
  readonly output: CuDevicePtr;
}

/** SegArgs for one layer; `tensors` are the model's shapes. */
export function writeOpArgs(v: DataView, op: GraphOp, tensors: readonly Shape[], buffers: OpBuffers): void {
  const out = tensors[op.output]!;
  const input = tensors[op.kind === 'add' || op.kind === 'mul' ? op.a : op.input]!;
  v.setBigUint64(0, buffers.input, true);
  v.setBigUint64(8, buffers.input2, true);
  v.setBigUint64(16, buffers.filter, true);
  v.setBigUint64(24, buffers.bias, true);
  v.setBigUint64(32, buffers.output, true);
  [input.h, input.w, input.c, out.h, out.w, out.c].forEach((n, i) => v.setInt32(40 + 4 * i, n, true));
  const win = 'kh' in op ? op : { kh: 1, kw: 1, strideH: 1, strideW: 1, padTop: 0, padLeft: 0 };
  [win.kh, win.kw, win.strideH, win.strideW, win.padTop, win.padLeft].forEach((n, i) => v.setInt32(64 + 4 * i, n, true));
  v.setInt32(88, 'act' in op ? ACT_CODE[op.act] : 0, true);
  let flags = 0;
  let scaleH = 0;
  let scaleW = 0;
  if (op.kind === 'resize') {
    flags = (op.halfPixel ? FLAG_HALF_PIXEL : 0) | (op.alignCorners ? FLAG_ALIGN_CORNERS : 0);
    const scale = (i: number, o: number) => (op.alignCorners && o > 1 ? (i - 1) / (o - 1) : i / o);
    scaleH = scale(input.h, out.h);
    scaleW = scale(input.w, out.w);
  }
  if (op.kind === 'mul') {
    const b = tensors[op.b]!;
    if (b.h * b.w === 1 && out.h * out.w !== 1) flags |= FLAG_BROADCAST;
  }
  v.setInt32(92, flags, true);
  v.setFloat32(96, scaleH, true);
  v.setFloat32(100, scaleW, true);
  v.setInt32(104, 0, true);
  v.setInt32(108, 0, true);
}

/** What a frame-sized kernel reads: `grid` is the model-resolution side (the model input for *_to_input, the mask otherwise). */
export interface FrameArgs {
  readonly src: CuDevicePtr;
  readonly dst?: CuDevicePtr;
  readonly work?: CuDevicePtr;
  readonly bg?: CuDevicePtr;
  readonly width: number;
  readonly height: number;
  readonly grid: Shape;
  readonly sigma?: number;
  readonly mode?: number;
  readonly colour?: number;
  readonly newWeight?: number;
  /** The plane's edge bytes (edge kernels and the blend): 22 qw qh bytes, see segment.cu. */
  readonly edge?: CuDevicePtr;
}

/** The buffers and scaling every frame kernel of one segmenter shares. */
export interface FrameBindings {
  /** The network's output (the person probability). */
  readonly prob: CuDevicePtr;
  readonly mask: CuDevicePtr;
  readonly input: InputScaling;
}

/** SegFrameArgs. */
export function writeFrameArgs(v: DataView, f: FrameArgs, bound: FrameBindings): void {
  v.setBigUint64(0, f.src, true);
  v.setBigUint64(8, f.dst ?? 0n, true);
  v.setBigUint64(16, bound.prob, true);
  v.setBigUint64(24, bound.mask, true);
  v.setBigUint64(32, f.work ?? 0n, true);
  v.setBigUint64(40, f.bg ?? 0n, true);
  v.setInt32(48, f.width, true);
  v.setInt32(52, f.height, true);
  v.setInt32(56, f.grid.h, true);
  v.setInt32(60, f.grid.w, true);
  v.setInt32(64, f.grid.c, true);
  // The blur: the FIR's weights, or (radius -1) the recursive filter's coefficients.
  const sigma = f.sigma ?? 0;
  const recursive = sigma >= GAUSSIAN_RECURSIVE_MIN_SIGMA;
  const weights = recursive ? recursiveGaussianFloats(sigma) : sigma > 0 ? gaussianWeights(sigma) : [1];
  v.setInt32(68, recursive ? -1 : weights.length - 1, true);
  v.setInt32(72, f.mode ?? BACKDROP_CODE.blur, true);
  v.setUint32(76, f.colour ?? 0, true);
  v.setFloat32(80, FEATHER_LOW, true);
  v.setFloat32(84, FEATHER_HIGH, true);
  v.setFloat32(88, f.newWeight ?? 1, true);
  v.setFloat32(92, bound.input.scale, true);
  v.setFloat32(96, bound.input.offset, true);
  weights.forEach((w, i) => v.setFloat32(SEG_FRAME_WEIGHTS_OFFSET + 4 * i, w, true));
  v.setBigUint64(SEG_FRAME_EDGE_OFFSET, f.edge ?? 0n, true);
}
