/**
 * Person segmentation and background blur on a CUDA device: the network of graph.ts run by the
 * kernels of segment.cu, on the stream and in the context of its owner (the CUDA backend, or a
 * standalone instance for the tests and the benchmark).
 *
 * Memory: the weights go up once, into one device buffer. The network's tensors live in a fixed
 * set of device buffers assigned at construction by liveness (a buffer is reused once the last
 * reader of its tensor has run), so a frame allocates nothing for the network. The frame-sized
 * float buffer of the blur is kept and grown to the largest frame seen (the frame size is bounded
 * by the engine's own limits). A pinned staging block serves the synchronous test helpers.
 *
 * Everything is queued on one stream; nothing here waits except the synchronous helpers.
 */
import { readFileSync } from 'node:fs';
import { gaussianWeights } from '../effects/reference.ts';
import { packageUrl } from '../paths.ts';
import { elements, opInputs, type Activation, type GraphModel, type GraphOp, type Shape } from '../segmentation/graph.ts';
import { FEATHER_HIGH, FEATHER_LOW } from '../segmentation/graph-frame.ts';
import {
  CU_EVENT_BLOCKING_SYNC,
  CU_EVENT_DISABLE_TIMING,
  CU_STREAM_NON_BLOCKING,
  DEFAULT_CUDA_LIBRARY,
  loadCudaDriver,
  type CuContext,
  type CudaDriver,
  type CuDevicePtr,
  type CuEvent,
  type CuFunction,
  type CuHostPointer,
  type CuModule,
  type CuStream,
  type LaunchArgs,
} from './driver.ts';

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
  'rtc_seg_frame_to_input',
  'rtc_seg_blur_rows',
  'rtc_seg_blend',
] as const;
export type SegmentKernelName = (typeof SEGMENT_KERNEL_NAMES)[number];

export const SEGMENT_PTX_URL = packageUrl('src/cuda/ptx/segment.ptx');

export function readSegmentPtx(): string {
  return readFileSync(SEGMENT_PTX_URL, 'utf8');
}

/** Mirrors of segment.cu. */
export const SEG_ARGS_BYTES = 112;
export const SEG_FRAME_ARGS_BYTES = 456;
const SEG_FRAME_WEIGHTS_OFFSET = 64;
export const SEG_MAX_RADIUS = 96;
const ACT_CODE: Readonly<Record<Activation, number>> = { none: 0, relu: 1, relu6: 2, sigmoid: 3, hswish: 4 };
const FLAG_HALF_PIXEL = 1;
const FLAG_ALIGN_CORNERS = 2;
const FLAG_BROADCAST = 4;
const THREADS = 256;
const MAX_BLOCKS = 65535;
const ALIGN_BYTES = 256;
const F32 = 4;

const alignUp = (n: number) => Math.ceil(n / ALIGN_BYTES) * ALIGN_BYTES;

interface OpWeights {
  readonly filter: CuDevicePtr;
  readonly bias: CuDevicePtr;
}

export interface SegmenterStats {
  readonly weightBytes: number;
  readonly tensorBytes: number;
  readonly tensorBuffers: number;
}

export class CudaSegmenter {
  readonly model: GraphModel;
  readonly stats: SegmenterStats;

  readonly #d: CudaDriver;
  readonly #context: CuContext;
  readonly #stream: CuStream;
  readonly #functions = new Map<SegmentKernelName, CuFunction>();
  readonly #module: CuModule;
  readonly #args: LaunchArgs;
  readonly #allocations: CuDevicePtr[] = [];
  readonly #weights: OpWeights[] = [];
  /** Device address of each tensor's buffer. */
  readonly #tensor: CuDevicePtr[] = [];
  #rows: { pointer: CuDevicePtr; bytes: number } | undefined;
  #staging: { pointer: CuHostPointer; address: number; bytes: number; view: ArrayBuffer } | undefined;
  #done: CuEvent | undefined;
  #closed = false;

  /** The caller owns context and stream, and keeps them alive until close(). */
  constructor(driver: CudaDriver, context: CuContext, stream: CuStream, model: GraphModel, ptx: string = readSegmentPtx()) {
    this.#d = driver;
    this.#context = context;
    this.#stream = stream;
    this.model = model;
    driver.setCurrentContext(context);
    this.#module = driver.loadModule(ptx);
    try {
      for (const name of SEGMENT_KERNEL_NAMES) this.#functions.set(name, driver.getFunction(this.#module, name));
      this.#args = driver.createLaunchArgs(Math.max(SEG_ARGS_BYTES, SEG_FRAME_ARGS_BYTES));
      const weightBytes = this.#uploadWeights();
      const { bytes, buffers } = this.#assignTensors();
      this.stats = { weightBytes, tensorBytes: bytes, tensorBuffers: buffers };
    } catch (err) {
      this.close();
      throw err;
    }
  }

  #alloc(bytes: number): CuDevicePtr {
    const pointer = this.#d.memAlloc(Math.max(bytes, 1));
    this.#allocations.push(pointer);
    return pointer;
  }

  /** A pinned block of at least `bytes`, kept for the next call. */
  #stagingBlock(bytes: number): { address: number; view: ArrayBuffer } {
    if (!this.#staging || this.#staging.bytes < bytes) {
      if (this.#staging) this.#d.memFreeHost(this.#staging.pointer);
      this.#staging = undefined;
      const size = alignUp(bytes);
      const { pointer, address } = this.#d.memHostAlloc(size);
      this.#staging = { pointer, address, bytes: size, view: this.#d.hostView(pointer, size) };
    }
    return this.#staging;
  }

  #sync(): void {
    this.#done ??= this.#d.eventCreate(CU_EVENT_BLOCKING_SYNC | CU_EVENT_DISABLE_TIMING);
    this.#d.eventRecord(this.#done, this.#stream);
    this.#d.eventSynchronize(this.#done);
  }

  /** All filters and biases in one buffer, each 256-byte aligned; one copy, then the staging block is reused. */
  #uploadWeights(): number {
    const layers = this.model.ops.filter((op): op is Extract<GraphOp, { filter: Float32Array }> => 'filter' in op);
    let total = 0;
    for (const op of layers) total += alignUp(op.filter.byteLength) + alignUp(op.bias.byteLength);
    if (total === 0) {
      for (const _ of this.model.ops) this.#weights.push({ filter: 0n, bias: 0n });
      return 0;
    }
    const device = this.#alloc(total);
    const host = this.#stagingBlock(total);
    const floats = new Float32Array(host.view, 0, total / F32);
    let at = 0;
    for (const op of this.model.ops) {
      if (!('filter' in op)) {
        this.#weights.push({ filter: 0n, bias: 0n });
        continue;
      }
      floats.set(op.filter, at / F32);
      const filter = device + BigInt(at);
      at += alignUp(op.filter.byteLength);
      floats.set(op.bias, at / F32);
      const bias = device + BigInt(at);
      at += alignUp(op.bias.byteLength);
      this.#weights.push({ filter, bias });
    }
    this.#d.memcpyHtoDAsync(device, host.address, total, this.#stream);
    this.#sync();
    return total;
  }

  /** One buffer per live tensor at a time: a buffer is free again after its tensor's last reader. */
  #assignTensors(): { bytes: number; buffers: number } {
    const { tensors, ops, output } = this.model;
    const lastUse = new Array<number>(tensors.length).fill(-1);
    ops.forEach((op, i) => {
      for (const t of opInputs(op)) lastUse[t] = i;
    });
    lastUse[output] = Number.POSITIVE_INFINITY;
    const slots: number[] = [];
    const free: number[] = [];
    const slotOf = new Array<number>(tensors.length).fill(-1);
    const take = (bytes: number): number => {
      let best = -1;
      for (const s of free) if (slots[s]! >= bytes && (best < 0 || slots[s]! < slots[best]!)) best = s;
      if (best >= 0) {
        free.splice(free.indexOf(best), 1);
        return best;
      }
      slots.push(bytes);
      return slots.length - 1;
    };
    slotOf[0] = take(elements(tensors[0]!) * F32);
    ops.forEach((op, i) => {
      slotOf[op.output] = take(elements(tensors[op.output]!) * F32);
      for (const t of new Set(opInputs(op))) if (lastUse[t] === i) free.push(slotOf[t]!);
    });
    const pointers = slots.map((bytes) => this.#alloc(bytes));
    slotOf.forEach((s, t) => {
      this.#tensor[t] = s >= 0 ? pointers[s]! : 0n;
    });
    return { bytes: slots.reduce((a, b) => a + b, 0), buffers: slots.length };
  }

  #launch(name: SegmentKernelName, total: number): void {
    const blocks = Math.max(1, Math.min(Math.ceil(total / THREADS), MAX_BLOCKS));
    const fn = this.#functions.get(name);
    if (!fn) throw new Error(`kernel ${name} is not loaded`);
    this.#d.launch(fn, [blocks, 1, 1], [THREADS, 1, 1], this.#stream, this.#args);
  }

  #launchOp(op: GraphOp, index: number): void {
    const { tensors } = this.model;
    const v = this.#args.view;
    const out = tensors[op.output]!;
    const first = op.kind === 'add' || op.kind === 'mul' ? op.a : op.input;
    const input = tensors[first]!;
    const w = this.#weights[index]!;
    v.setBigUint64(0, this.#tensor[first]!, true);
    v.setBigUint64(8, op.kind === 'add' || op.kind === 'mul' ? this.#tensor[op.b]! : 0n, true);
    v.setBigUint64(16, w.filter, true);
    v.setBigUint64(24, w.bias, true);
    v.setBigUint64(32, this.#tensor[op.output]!, true);
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
    this.#launch(`rtc_seg_${op.kind === 'avgPool' ? 'avgpool' : op.kind}` as SegmentKernelName, elements(out));
  }

  /** Queues the network on the tensor already in the input buffer; the output stays on the device. */
  #enqueueNetwork(): CuDevicePtr {
    this.model.ops.forEach((op, i) => this.#launchOp(op, i));
    return this.#tensor[this.model.output]!;
  }

  /** `grid` is the model-resolution side: the model input for frame_to_input, the mask for the blur. */
  #frameArgs(src: CuDevicePtr, dst: CuDevicePtr, work: CuDevicePtr, width: number, height: number, grid: Shape, sigma: number): void {
    const v = this.#args.view;
    v.setBigUint64(0, src, true);
    v.setBigUint64(8, dst, true);
    v.setBigUint64(16, this.#tensor[this.model.output]!, true);
    v.setBigUint64(24, work, true);
    v.setInt32(32, width, true);
    v.setInt32(36, height, true);
    v.setInt32(40, grid.h, true);
    v.setInt32(44, grid.w, true);
    v.setInt32(48, grid.c, true);
    const weights = sigma > 0 ? gaussianWeights(sigma) : [1];
    if (weights.length - 1 > SEG_MAX_RADIUS) throw new RangeError(`background blur: radius ${weights.length - 1} exceeds the kernels' ${SEG_MAX_RADIUS}`);
    v.setInt32(52, weights.length - 1, true);
    v.setFloat32(56, FEATHER_LOW, true);
    v.setFloat32(60, FEATHER_HIGH, true);
    weights.forEach((w, i) => v.setFloat32(SEG_FRAME_WEIGHTS_OFFSET + 4 * i, w, true));
  }

  /** Queues frame -> model input -> network for an RGBA frame in device memory. */
  enqueueMask(src: CuDevicePtr, width: number, height: number): CuDevicePtr {
    this.#checkOpen();
    checkFrame(width, height);
    const input = this.model.tensors[0]!;
    if (input.c !== 3) throw new RangeError(`the model takes ${input.c} channels, not RGB`);
    this.#d.setCurrentContext(this.#context);
    this.#frameArgs(src, 0n, this.#tensor[0]!, width, height, input, 0);
    this.#launch('rtc_seg_frame_to_input', input.h * input.w);
    return this.#enqueueNetwork();
  }

  /**
   * Queues the whole background blur of an RGBA frame: mask, Gaussian of sigma, blend into dst.
   * src and dst are device frames of width x height x 4 bytes and must not overlap.
   */
  enqueueBackgroundBlur(src: CuDevicePtr, dst: CuDevicePtr, width: number, height: number, sigma: number): void {
    if (!(sigma > 0 && Number.isFinite(sigma))) throw new RangeError(`background blur: sigma must be > 0, got ${sigma}`);
    this.enqueueMask(src, width, height);
    const rowBytes = width * height * 4 * F32;
    if (!this.#rows || this.#rows.bytes < rowBytes) {
      // The old buffer may still be read by queued work: the stream orders the free after it on a
      // GPU only if we wait, so wait (this happens once per new largest frame size).
      if (this.#rows) {
        this.#sync();
        this.#d.memFree(this.#rows.pointer);
        this.#allocations.splice(this.#allocations.indexOf(this.#rows.pointer), 1);
      }
      this.#rows = { pointer: this.#alloc(rowBytes), bytes: rowBytes };
    }
    this.#frameArgs(src, dst, this.#rows.pointer, width, height, this.model.tensors[this.model.output]!, sigma);
    this.#launch('rtc_seg_blur_rows', width * height);
    this.#launch('rtc_seg_blend', width * height);
  }

  /** Test and benchmark helper: runs the network on `input` (NHWC, the model's input shape) and returns its output. */
  runNetwork(input: Float32Array): Float32Array {
    this.#checkOpen();
    const inShape = this.model.tensors[0]!;
    if (input.length !== elements(inShape)) throw new RangeError(`input has ${input.length} values, the model takes ${elements(inShape)}`);
    this.#d.setCurrentContext(this.#context);
    const outCount = elements(this.model.tensors[this.model.output]!);
    const host = this.#stagingBlock(Math.max(input.byteLength, outCount * F32));
    new Float32Array(host.view, 0, input.length).set(input);
    this.#d.memcpyHtoDAsync(this.#tensor[0]!, host.address, input.byteLength, this.#stream);
    const out = this.#enqueueNetwork();
    this.#d.memcpyDtoHAsync(host.address, out, outCount * F32, this.#stream);
    this.#sync();
    return new Float32Array(host.view, 0, outCount).slice();
  }

  /** Test helper: the model's output for an RGBA frame (the whole device path from the frame). */
  maskOf(rgba: Uint8Array, width: number, height: number): Float32Array {
    return this.#roundTrip(rgba, width, height, (src) => {
      const outCount = elements(this.model.tensors[this.model.output]!);
      const out = this.enqueueMask(src, width, height);
      return { from: out, bytes: outCount * F32 };
    }, (view, bytes) => new Float32Array(view, 0, bytes / F32).slice());
  }

  /** Test helper: the background blur of an RGBA frame through the device. */
  backgroundBlur(rgba: Uint8Array, width: number, height: number, sigma: number): Uint8Array {
    const frameBytes = width * height * 4;
    let dst: CuDevicePtr = 0n;
    return this.#roundTrip(rgba, width, height, (src) => {
      dst = this.#alloc(frameBytes);
      this.enqueueBackgroundBlur(src, dst, width, height, sigma);
      return { from: dst, bytes: frameBytes };
    }, (view, bytes) => {
      this.#freeOwned(dst);
      return new Uint8Array(view, 0, bytes).slice();
    });
  }

  #roundTrip<T>(rgba: Uint8Array, width: number, height: number, work: (src: CuDevicePtr) => { from: CuDevicePtr; bytes: number }, read: (view: ArrayBuffer, bytes: number) => T): T {
    this.#checkOpen();
    checkFrame(width, height);
    if (rgba.length !== width * height * 4) throw new RangeError(`an RGBA frame of ${width}x${height} has ${width * height * 4} bytes, got ${rgba.length}`);
    this.#d.setCurrentContext(this.#context);
    const src = this.#alloc(rgba.length);
    try {
      const outBytes = Math.max(rgba.length, elements(this.model.tensors[this.model.output]!) * F32);
      const host = this.#stagingBlock(outBytes);
      new Uint8Array(host.view, 0, rgba.length).set(rgba);
      this.#d.memcpyHtoDAsync(src, host.address, rgba.length, this.#stream);
      const { from, bytes } = work(src);
      this.#d.memcpyDtoHAsync(host.address, from, bytes, this.#stream);
      this.#sync();
      return read(host.view, bytes);
    } finally {
      this.#freeOwned(src);
    }
  }

  #freeOwned(pointer: CuDevicePtr): void {
    const at = this.#allocations.indexOf(pointer);
    if (at < 0) return;
    this.#allocations.splice(at, 1);
    this.#d.memFree(pointer);
  }

  #checkOpen(): void {
    if (this.#closed) throw new Error('the CUDA segmenter is closed');
  }

  /** Frees every buffer and the module; the context and stream stay with their owner. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    const d = this.#d;
    const steps: Array<() => void> = [
      () => d.setCurrentContext(this.#context),
      () => d.streamSynchronize(this.#stream),
      ...this.#allocations.map((p) => () => d.memFree(p)),
      () => this.#staging && d.memFreeHost(this.#staging.pointer),
      () => this.#done && d.eventDestroy(this.#done),
      () => this.#args && d.freeLaunchArgs(this.#args),
      () => d.unloadModule(this.#module),
    ];
    for (const step of steps) {
      try {
        step();
      } catch {
        // best effort, as CudaKernels.close(): after a sticky error every call fails
      }
    }
    this.#allocations.length = 0;
  }
}

function checkFrame(width: number, height: number): void {
  if (!Number.isSafeInteger(width) || !Number.isSafeInteger(height) || width < 1 || height < 1 || width * height * 16 > 0x7fffffff) {
    throw new RangeError(`invalid frame size ${width}x${height}`);
  }
}

/** A segmenter with its own context and stream (tests, benchmarks); close() releases them too. */
export function createCudaSegmenter(model: GraphModel, options: { libraryPath?: string; ordinal?: number } = {}): CudaSegmenter & { dispose(): void } {
  const driver = loadCudaDriver(options.libraryPath ?? DEFAULT_CUDA_LIBRARY);
  driver.init();
  const device = driver.device(options.ordinal ?? 0);
  const context = driver.primaryContextRetain(device);
  driver.setCurrentContext(context);
  const stream = driver.streamCreate(CU_STREAM_NON_BLOCKING);
  const segmenter = new CudaSegmenter(driver, context, stream, model) as CudaSegmenter & { dispose(): void };
  segmenter.dispose = () => {
    segmenter.close();
    try {
      driver.setCurrentContext(context);
      driver.streamDestroy(stream);
    } finally {
      driver.setCurrentContext(null);
      driver.primaryContextRelease(device);
    }
  };
  return segmenter;
}
