/**
 * Person segmentation and background blur on a CUDA device: the network of graph.ts run by the
 * kernels of segment.cu, on the stream and in the context of its owner (the CUDA backend, or a
 * standalone instance for the tests and the benchmark).
 *
 * Here: the frame-sized kernels around the network (frame to model input, mask update, the
 * quarter-grid blur, the blend) and the session's mask. The network itself (weights, tensor
 * buffers, layers) is segment-network.ts; the kernels' names and argument structs segment-args.ts.
 *
 * Memory: the network's buffers are fixed at construction, so a frame allocates nothing for it.
 * The frame-sized float buffer of the blur is kept and grown to the largest frame seen (the frame
 * size is bounded by the engine's own limits). A pinned staging block serves the weights' upload
 * and the synchronous test helpers.
 *
 * Everything is queued on one stream; nothing here waits except the construction and the
 * synchronous helpers.
 */
import { elements, type GraphModel } from '../segmentation/graph.ts';
import { planeColour } from '../segmentation/background.ts';
import { quarterSigma } from '../segmentation/graph-frame.ts';
import { frameBytes, planesOf, type FrameLayout } from '../frames/layout.ts';
import {
  CU_EVENT_BLOCKING_SYNC,
  CU_EVENT_DEFAULT,
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
import {
  BACKDROP_CODE,
  readSegmentPtx,
  RGB_UNIT,
  SEG_ARGS_BYTES,
  SEG_FRAME_ARGS_BYTES,
  SEGMENT_KERNEL_NAMES,
  writeFrameArgs,
  type FrameArgs,
  type InputScaling,
  type SegmentKernelName,
} from './segment-args.ts';
import { DeviceNetwork, type NetworkStats } from './segment-network.ts';
import { alignUp, F32 } from './segment-plan.ts';

const THREADS = 256;
const MAX_BLOCKS = 65535;

/** What goes behind the person. An image is a device frame of the job's layout. */
export type DeviceBackdrop =
  | { readonly kind: 'blur'; readonly strengthPx: number }
  | { readonly kind: 'colour'; readonly rgb: number }
  | { readonly kind: 'image'; readonly frame: CuDevicePtr };

export interface DeviceBackgroundJob {
  readonly layout: FrameLayout;
  readonly src: CuDevicePtr;
  readonly dst: CuDevicePtr;
  readonly backdrop: DeviceBackdrop;
  /** Run the network on this frame; false blends with the mask already on the device. */
  readonly infer: boolean;
  /** Weight of the previous mask in the temporal smoothing, 0 .. 0.95. */
  readonly smoothing: number;
  /** The device's mask is not this session's: take the new one as it is. */
  readonly fresh: boolean;
}

export class CudaSegmenter {
  readonly model: GraphModel;
  readonly stats: NetworkStats;

  readonly #d: CudaDriver;
  readonly #context: CuContext;
  readonly #stream: CuStream;
  readonly #functions = new Map<SegmentKernelName, CuFunction>();
  readonly #module: CuModule;
  readonly #args: LaunchArgs;
  readonly #allocations: CuDevicePtr[] = [];
  readonly #network: DeviceNetwork;
  /** The session's person mask on the device, model resolution, one byte per pixel. */
  readonly #mask: CuDevicePtr = 0n;
  #maskPinned: { pointer: CuHostPointer; address: number; bytes: Uint8Array } | undefined;
  #rows: { pointer: CuDevicePtr; bytes: number } | undefined;
  /** The planes' edge bytes (segment.cu, the edge kernels): kept, grown to the largest plane seen. */
  #edge: { pointer: CuDevicePtr; bytes: number } | undefined;
  #staging: { pointer: CuHostPointer; address: number; bytes: number; view: ArrayBuffer } | undefined;
  #done: CuEvent | undefined;
  #timing: [CuEvent, CuEvent] | undefined;
  readonly #input: InputScaling;
  #closed = false;

  /**
   * The caller owns context and stream, and keeps them alive until close(). `input` maps a frame's
   * byte to the model's input value (value = byte * scale + offset; the selfie model: 1/255, 0).
   */
  constructor(driver: CudaDriver, context: CuContext, stream: CuStream, model: GraphModel, input: InputScaling = RGB_UNIT, ptx: string = readSegmentPtx()) {
    this.#d = driver;
    this.#input = input;
    this.#context = context;
    this.#stream = stream;
    this.model = model;
    driver.setCurrentContext(context);
    this.#module = driver.loadModule(ptx);
    try {
      for (const name of SEGMENT_KERNEL_NAMES) this.#functions.set(name, driver.getFunction(this.#module, name));
      this.#args = driver.createLaunchArgs(Math.max(SEG_ARGS_BYTES, SEG_FRAME_ARGS_BYTES));
      const args = this.#args;
      this.#network = new DeviceNetwork(model, {
        alloc: (bytes) => this.#alloc(bytes),
        upload: (device, bytes, fill) => {
          // Once, at construction: the staging block is reused by the helpers after.
          const host = this.#stagingBlock(bytes);
          fill(new Float32Array(host.view, 0, bytes / F32));
          driver.memcpyHtoDAsync(device, host.address, bytes, stream);
          this.#sync();
        },
        args: args.view,
        launch: (name, total) => this.#launch(name, total),
      });
      const out = model.tensors[model.output]!;
      this.#mask = this.#alloc(out.h * out.w);
      driver.memsetD8Async(this.#mask, 0, out.h * out.w, stream);
      this.stats = this.#network.stats;
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

  #launch(name: SegmentKernelName, total: number): void {
    const blocks = Math.max(1, Math.min(Math.ceil(total / THREADS), MAX_BLOCKS));
    const fn = this.#functions.get(name);
    if (!fn) throw new Error(`kernel ${name} is not loaded`);
    this.#d.launch(fn, [blocks, 1, 1], [THREADS, 1, 1], this.#stream, this.#args);
  }

  #frameArgs(f: FrameArgs): void {
    writeFrameArgs(this.#args.view, f, { prob: this.#network.output, mask: this.#mask, input: this.#input });
  }

  /** Queues frame -> model input -> network; the probability stays on the device. */
  #enqueueNetworkOnFrame(layout: FrameLayout, src: CuDevicePtr): void {
    const input = this.model.tensors[0]!;
    if (input.c !== 3) throw new RangeError(`the model takes ${input.c} channels, not RGB`);
    this.#frameArgs({ src, work: this.#network.input, width: layout.width, height: layout.height, grid: input });
    this.#launch(layout.format === 'rgba' ? 'rtc_seg_rgba_to_input' : 'rtc_seg_i420_to_input', input.h * input.w);
    this.#network.enqueue();
  }

  /**
   * Queues the network on a device frame and the update of the device's mask with its result
   * (a live session's mask job; enqueueBackground does it too unless the mask is reused).
   */
  enqueueMaskUpdate(layout: FrameLayout, src: CuDevicePtr, smoothing: number, fresh: boolean): void {
    this.#checkOpen();
    checkFrame(layout.width, layout.height);
    this.#d.setCurrentContext(this.#context);
    const maskShape = this.model.tensors[this.model.output]!;
    this.#enqueueNetworkOnFrame(layout, src);
    const newWeight = fresh ? 1 : 1 - Math.min(0.95, Math.max(0, smoothing));
    this.#frameArgs({ src, width: layout.width, height: layout.height, grid: maskShape, newWeight });
    this.#launch('rtc_seg_mask_update', maskShape.h * maskShape.w);
  }

  /**
   * Queues the whole background effect of one frame in device memory: unless the job reuses the
   * mask, the network and the mask update; then, plane by plane, the backdrop and the blend into
   * dst. src and dst hold frameBytes(layout) and must not overlap.
   */
  enqueueBackground(job: DeviceBackgroundJob): void {
    this.#checkOpen();
    const { layout } = job;
    checkFrame(layout.width, layout.height);
    this.#d.setCurrentContext(this.#context);
    const maskShape = this.model.tensors[this.model.output]!;
    if (job.infer) this.enqueueMaskUpdate(layout, job.src, job.smoothing, job.fresh);
    const planes = planesOf(layout);
    const first = planes[0]!;
    const backdrop = job.backdrop;
    const quarter = (n: number) => (n + 3) >> 2;
    if (backdrop.kind === 'blur') this.#rows = this.#grown(this.#rows, 3 * quarter(first.width) * quarter(first.height) * first.channels * F32);
    this.#edge = this.#grown(this.#edge, 22 * quarter(first.width) * quarter(first.height));
    const edge = this.#edge.pointer;
    planes.forEach((p, index) => {
      const c = p.channels === 4 ? 'c4' : 'c1';
      const src = job.src + BigInt(p.offset);
      const dst = job.dst + BigInt(p.offset);
      const common = { src, dst, width: p.width, height: p.height, grid: { h: maskShape.h, w: maskShape.w, c: 1 }, edge };
      // The edge on this plane's grid (src/segmentation/graph-frame.ts, edgeMask), as the CPU path's.
      this.#frameArgs(common);
      const cells = quarter(p.width) * quarter(p.height);
      this.#launch('rtc_seg_edge_quarter', cells);
      this.#launch('rtc_seg_edge_box', cells);
      this.#launch('rtc_seg_edge_half', 4 * cells);
      this.#launch('rtc_seg_edge_full', 16 * cells);
      switch (backdrop.kind) {
        case 'blur': {
          const sigma = quarterSigma(backdrop.strengthPx, layout.format === 'i420' && index > 0);
          const args = { ...common, work: this.#rows!.pointer, sigma, mode: BACKDROP_CODE.blur };
          this.#frameArgs(args);
          this.#launch(`rtc_seg_down4_${c}`, cells);
          this.#launch(`rtc_seg_blur_rows_${c}`, cells);
          this.#launch(`rtc_seg_blur_columns_${c}`, cells);
          break;
        }
        case 'image':
          this.#frameArgs({ ...common, bg: backdrop.frame + BigInt(p.offset), mode: BACKDROP_CODE.image });
          break;
        case 'colour':
          this.#frameArgs({ ...common, colour: planeColour(backdrop.rgb, layout, index), mode: BACKDROP_CODE.colour });
          break;
        default: {
          // A new kind of backdrop must say how it is composed: the compiler points here.
          const unknown: never = backdrop;
          throw new Error(`no device path for backdrop ${(unknown as { kind: string }).kind}`);
        }
      }
      this.#launch(`rtc_seg_blend_${c}`, p.width * p.height);
    });
  }

  /** A scratch buffer of at least `bytes` (the blur's float rows, the edge bytes): kept, grown to the largest plane seen. */
  #grown(buffer: { pointer: CuDevicePtr; bytes: number } | undefined, bytes: number): { pointer: CuDevicePtr; bytes: number } {
    if (buffer && buffer.bytes >= bytes) return buffer;
    if (buffer) {
      // Queued work may still read the old buffer: wait for it (once per new largest frame size).
      this.#sync();
      this.#freeOwned(buffer.pointer);
    }
    return { pointer: this.#alloc(bytes), bytes };
  }

  /** Queues the upload of a session's mask (model resolution, one byte per pixel) to the device. */
  enqueueMaskUpload(mask: Uint8Array): void {
    const host = this.#maskHost();
    if (mask.length !== host.bytes.length) throw new RangeError(`a mask of ${mask.length} bytes; the model's has ${host.bytes.length}`);
    host.bytes.set(mask);
    this.#d.memcpyHtoDAsync(this.#mask, host.address, mask.length, this.#stream);
  }

  /** Queues the download of the device's mask; read it with hostMask() after the stream is done. */
  enqueueMaskDownload(): void {
    const host = this.#maskHost();
    this.#d.memcpyDtoHAsync(host.address, this.#mask, host.bytes.length, this.#stream);
  }

  /** The pinned copy of the mask (valid after the stream has run a download). */
  hostMask(): Uint8Array {
    return this.#maskHost().bytes;
  }

  #maskHost(): { address: number; bytes: Uint8Array } {
    if (!this.#maskPinned) {
      const shape = this.model.tensors[this.model.output]!;
      const size = shape.h * shape.w;
      const { pointer, address } = this.#d.memHostAlloc(size);
      this.#maskPinned = { pointer, address, bytes: new Uint8Array(this.#d.hostView(pointer, size)) };
    }
    return this.#maskPinned;
  }

  /** Waits for everything queued on the stream. */
  sync(): void {
    this.#sync();
  }

  /** Benchmark helper: device milliseconds of the work `enqueue` queues (CUDA events around it). */
  measure(enqueue: () => void): number {
    this.#checkOpen();
    this.#d.setCurrentContext(this.#context);
    this.#timing ??= [this.#d.eventCreate(CU_EVENT_DEFAULT), this.#d.eventCreate(CU_EVENT_DEFAULT)];
    const [start, stop] = this.#timing;
    this.#d.eventRecord(start, this.#stream);
    enqueue();
    this.#d.eventRecord(stop, this.#stream);
    this.#sync();
    return this.#d.eventElapsedMs(start, stop);
  }

  /** Benchmark helper: a device copy of `bytes`, freed by close() or by the returned function. */
  deviceCopy(bytes: Uint8Array): { pointer: CuDevicePtr; free: () => void } {
    this.#checkOpen();
    this.#d.setCurrentContext(this.#context);
    const pointer = this.#alloc(bytes.length);
    const host = this.#stagingBlock(bytes.length);
    new Uint8Array(host.view, 0, bytes.length).set(bytes);
    this.#d.memcpyHtoDAsync(pointer, host.address, bytes.length, this.#stream);
    this.#sync();
    return { pointer, free: () => this.#freeOwned(pointer) };
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
    this.#d.memcpyHtoDAsync(this.#network.input, host.address, input.byteLength, this.#stream);
    this.#network.enqueue();
    const out = this.#network.output;
    this.#d.memcpyDtoHAsync(host.address, out, outCount * F32, this.#stream);
    this.#sync();
    return new Float32Array(host.view, 0, outCount).slice();
  }

  /** Test helper: the model's probability for a frame, through the device path from the frame. */
  probabilityOf(frame: Uint8Array, layout: FrameLayout): Float32Array {
    const outBytes = elements(this.model.tensors[this.model.output]!) * F32;
    return this.#withFrames(frame, layout, 0, (src, _dst, host) => {
      this.#enqueueNetworkOnFrame(layout, src);
      this.#d.memcpyDtoHAsync(host.address, this.#network.output, outBytes, this.#stream);
      this.#sync();
      return new Float32Array(host.view, 0, outBytes / F32).slice();
    });
  }

  /**
   * Test helper: the background effect of one frame through the device, with an optional mask
   * state before it; returns the output frame and the mask after it. An image backdrop is a frame
   * of the same layout.
   */
  compose(frame: Uint8Array, layout: FrameLayout, backdrop: { kind: 'blur'; strengthPx: number } | { kind: 'colour'; rgb: number } | { kind: 'image'; frame: Uint8Array }, state: { mask?: Uint8Array; infer?: boolean; smoothing?: number } = {}): { frame: Uint8Array; mask: Uint8Array } {
    const bytes = frame.length;
    return this.#withFrames(frame, layout, backdrop.kind === 'image' ? 2 : 1, (src, extra, host) => {
      const [dst, bg] = extra;
      if (backdrop.kind === 'image') {
        new Uint8Array(host.view, 0, bytes).set(backdrop.frame);
        this.#d.memcpyHtoDAsync(bg!, host.address, bytes, this.#stream);
      }
      if (state.mask) this.enqueueMaskUpload(state.mask);
      const device: DeviceBackdrop = backdrop.kind === 'image' ? { kind: 'image', frame: bg! } : backdrop;
      this.enqueueBackground({ layout, src, dst: dst!, backdrop: device, infer: state.infer ?? true, smoothing: state.smoothing ?? 0, fresh: state.mask === undefined });
      this.enqueueMaskDownload();
      this.#d.memcpyDtoHAsync(host.address, dst!, bytes, this.#stream);
      this.#sync();
      return { frame: new Uint8Array(host.view, 0, bytes).slice(), mask: this.hostMask().slice() };
    });
  }

  /** Uploads `frame` to a device buffer, allocates `extra` more of its size, runs `work`, frees them. */
  #withFrames<T>(frame: Uint8Array, layout: FrameLayout, extra: number, work: (src: CuDevicePtr, extra: CuDevicePtr[], host: { address: number; view: ArrayBuffer }) => T): T {
    this.#checkOpen();
    checkFrame(layout.width, layout.height);
    if (frame.length !== frameBytes(layout)) throw new RangeError(`a ${layout.format} frame of ${layout.width}x${layout.height} has ${frameBytes(layout)} bytes, got ${frame.length}`);
    this.#d.setCurrentContext(this.#context);
    const buffers: CuDevicePtr[] = [];
    try {
      for (let i = 0; i <= extra; i++) buffers.push(this.#alloc(frame.length));
      const host = this.#stagingBlock(Math.max(frame.length, elements(this.model.tensors[this.model.output]!) * F32));
      new Uint8Array(host.view, 0, frame.length).set(frame);
      this.#d.memcpyHtoDAsync(buffers[0]!, host.address, frame.length, this.#stream);
      return work(buffers[0]!, buffers.slice(1), host);
    } finally {
      this.#sync();
      for (const b of buffers) this.#freeOwned(b);
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
      () => this.#maskPinned && d.memFreeHost(this.#maskPinned.pointer),
      () => this.#done && d.eventDestroy(this.#done),
      ...(this.#timing ?? []).map((e) => () => d.eventDestroy(e)),
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
export function createCudaSegmenter(model: GraphModel, options: { libraryPath?: string; ordinal?: number; input?: InputScaling } = {}): CudaSegmenter & { dispose(): void } {
  const driver = loadCudaDriver(options.libraryPath ?? DEFAULT_CUDA_LIBRARY);
  driver.init();
  const device = driver.device(options.ordinal ?? 0);
  const context = driver.primaryContextRetain(device);
  driver.setCurrentContext(context);
  const stream = driver.streamCreate(CU_STREAM_NON_BLOCKING);
  const segmenter = new CudaSegmenter(driver, context, stream, model, options.input) as CudaSegmenter & { dispose(): void };
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
