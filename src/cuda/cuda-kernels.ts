/**
 * The CUDA backend behind the `EffectKernels` interface, one instance per worker thread.
 *
 * Memory: the frames the caller fills and reads are page-locked host blocks (cuMemHostAlloc),
 * addressed by their host address and viewed without a copy; freed blocks are kept per size for
 * reuse. Device buffers are pooled per size as well. Each pool keeps a bounded number of idle
 * bytes and gives back the least recently used beyond that: page-locked memory is RAM the kernel
 * cannot page out, so its budget is small; device memory is plentiful, and cuMemFree waits for the
 * whole device, so its budget is larger.
 *
 * run(): one upload, every iteration on the device (two device frames ping-pong; the gaussian
 * adds one float intermediate), one download, all queued on this instance's own stream, then one
 * blocking wait on an event (the worker thread sleeps rather than spins). Two timing events
 * around the kernels give `lastKernelSeconds`.
 *
 * The kernels and their argument layouts are in kernels.cu; the PTX that the driver JIT-compiles
 * is committed in ptx/kernels.ptx (scripts/build-ptx.mjs).
 */
import { readFileSync } from 'node:fs';
import type { EffectKernels } from '../effects/kernel-types.ts';
import type { CudaDeviceInfo, CudaProbe } from '../protocol/cuda-types.ts';
import type { EffectJob, EffectParams, FilterEffectName, ParamsOf } from '../effects/catalog.ts';
import { checkFilterJob, checkLayout } from '../effects/job-check.ts';
import { GAUSSIAN_RECURSIVE_MIN_SIGMA, gaussianWeights } from '../effects/reference.ts';
import { recursiveGaussianFloats } from './gaussian-coefficients.ts';
import { frameBytes, planesOf, type FrameLayout, type PlaneLayout } from '../frames/layout.ts';
import { packagePath, packageUrl } from '../paths.ts';
import { SELFIE_MODEL } from '../segmentation/model.ts';
import { loadGraphModelFile } from '../segmentation/graph-load.ts';
import { CudaSegmenter, readSegmentPtx, SEGMENT_KERNEL_NAMES, type DeviceBackdrop } from './segment.ts';
import {
  CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR,
  CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR,
  CU_EVENT_BLOCKING_SYNC,
  CU_EVENT_DEFAULT,
  CU_EVENT_DISABLE_TIMING,
  CU_STREAM_NON_BLOCKING,
  CudaError,
  CudaUnavailableError,
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

type Dim3 = readonly [number, number, number];
/** The grid and block of a launch over a plane of `width` x `height` (`block`: pixelate's tile edge). */
type LaunchShape = (width: number, height: number, block: number) => { readonly grid: Dim3; readonly threads: Dim3 };

/** One thread per pixel in 32x8 blocks. */
const perPixel: LaunchShape = (width, height) => ({
  grid: [Math.ceil(width / PIXEL_BLOCK[0]), Math.min(Math.ceil(height / PIXEL_BLOCK[1]), MAX_GRID_Y), 1],
  threads: PIXEL_BLOCK,
});
/** One block of PIXELATE_THREADS per tile. */
const perTile: LaunchShape = (width, height, block) => ({
  grid: [Math.min(Math.ceil(width / block), MAX_GRID_X), Math.min(Math.ceil(height / block), MAX_GRID_Y), 1],
  threads: [PIXELATE_THREADS, 1, 1],
});
/** One thread per small tile. */
const perSmallTile: LaunchShape = (width, height, block) => ({
  grid: [Math.ceil(Math.ceil(width / block) / PIXEL_BLOCK[0]), Math.min(Math.ceil(Math.ceil(height / block) / PIXEL_BLOCK[1]), MAX_GRID_Y), 1],
  threads: PIXEL_BLOCK,
});
/** One thread per byte (`width` is the byte count). */
const perByte: LaunchShape = (width) => ({ grid: [Math.ceil(width / 256), 1, 1], threads: [256, 1, 1] });
/** A tile of GAUSS_TILE_W x GAUSS_ROWS per block. */
const gaussianRows: LaunchShape = (width, height) => ({
  grid: [Math.ceil(width / GAUSS_TILE_W), Math.min(Math.ceil(height / GAUSS_ROWS), MAX_GRID_Y), 1],
  threads: [GAUSS_TILE_W, GAUSS_ROWS, 1],
});
/** One thread per row (`height` lines), 128 to a block. */
const perRow: LaunchShape = (_width, height) => ({ grid: [Math.min(Math.ceil(height / 128), MAX_GRID_X), 1, 1], threads: [128, 1, 1] });
/** One thread per column (`width` lines), 128 to a block. */
const perColumn: LaunchShape = (width) => ({ grid: [Math.min(Math.ceil(width / 128), MAX_GRID_X), 1, 1], threads: [128, 1, 1] });
/** 32 columns x (8 * GAUSS_COLUMN_OUTPUTS) rows per block. */
const gaussianColumns: LaunchShape = (width, height) => ({
  grid: [Math.ceil(width / PIXEL_BLOCK[0]), Math.min(Math.ceil(height / (PIXEL_BLOCK[1] * GAUSS_COLUMN_OUTPUTS)), MAX_GRID_Y), 1],
  threads: PIXEL_BLOCK,
});

/** Every `.entry` of kernels.cu and how it is launched; the PTX must declare exactly these. */
const KERNELS = {
  rtc_blur_c4: perPixel,
  rtc_blur_c1: perPixel,
  rtc_sharpen_c4: perPixel,
  rtc_sharpen_c1: perPixel,
  rtc_edge_c4: perPixel,
  rtc_edge_c1: perPixel,
  rtc_gaussian_rows_c4: gaussianRows,
  rtc_gaussian_rows_c1: gaussianRows,
  rtc_gaussian_columns_c4: gaussianColumns,
  rtc_gaussian_columns_c1: gaussianColumns,
  rtc_gaussian_recursive_rows_c4: perRow,
  rtc_gaussian_recursive_rows_c1: perRow,
  rtc_gaussian_recursive_columns_c4: perColumn,
  rtc_gaussian_recursive_columns_c1: perColumn,
  rtc_pixelate_c4: perTile,
  rtc_pixelate_c1: perTile,
  rtc_pixelate_small_c4: perSmallTile,
  rtc_pixelate_small_c1: perSmallTile,
  rtc_grayscale_rgba: perPixel,
  rtc_invert_rgba: perPixel,
  rtc_invert_bytes: perByte,
} satisfies Record<string, LaunchShape>;
export type CudaKernelName = keyof typeof KERNELS;
export const CUDA_KERNEL_NAMES = Object.keys(KERNELS) as readonly CudaKernelName[];

// The PTX stays in src/ for the build too.
export const PTX_URL = packageUrl('src/cuda/ptx/kernels.ptx');

/** Mirrors of kernels.cu: argument layouts (little-endian, x86-64 / aarch64) and block shapes. */
const PLANE_ARGS_BYTES = 32;
const GAUSS_ARGS_BYTES = 424;
const GAUSS_WEIGHTS_OFFSET = 32;
const MAX_RADIUS = 96;
const GAUSS_TILE_W = 128;
const GAUSS_ROWS = 2;
const GAUSS_COLUMN_OUTPUTS = 4;
const PIXELATE_THREADS = 256;
const PIXELATE_SMALL_MAX = 8;
const PIXEL_BLOCK = [32, 8, 1] as const;
const MAX_GRID_Y = 65535;
const MAX_GRID_X = 0x7fffffff;

const DEFAULT_MAX_IDLE_HOST_BYTES = 64 * 1024 * 1024;
const DEFAULT_MAX_IDLE_DEVICE_BYTES = 512 * 1024 * 1024;
const PAGE_BYTES = 4096;

export interface CudaOptions {
  /** The driver library (default libcuda.so.1; tests pass the emulator). */
  readonly libraryPath?: string;
  /** The device ordinal (default 0). */
  readonly ordinal?: number;
}

export interface CudaKernelsOptions extends CudaOptions {
  /** Idle pinned host bytes kept for reuse, per instance (default 64 MiB). */
  readonly maxIdleHostBytes?: number;
  /** Idle device bytes kept for reuse, per instance (default 512 MiB). */
  readonly maxIdleDeviceBytes?: number;
}

/** What goes behind the person in runBackground(); an image is a pinned frame of the job's layout. */
export type HostBackdrop =
  | { readonly kind: 'blur'; readonly strengthPx: number }
  | { readonly kind: 'colour'; readonly rgb: number }
  | { readonly kind: 'image'; readonly ptr: number };

/** A session's mask for runBackground() (the CPU path's MaskStateView, with this frame's schedule). */
export interface DeviceMaskSession {
  readonly valid: boolean;
  /** Model resolution, one byte per pixel: read when valid, written after an inference. */
  readonly mask: Uint8Array;
  markValid(): void;
  /** Run the model on this frame (false: reuse the mask, when valid). */
  readonly infer: boolean;
  /** Weight of the previous mask, 0 .. 0.95. */
  readonly smoothing: number;
}

export type { CudaDeviceInfo, CudaProbe };

/** The PTX text, and what a driver needs to load it (from its `.version` line). */
export function readPtx(): { text: string; isa: string } {
  const text = readFileSync(PTX_URL, 'utf8');
  const isa = /^\.version\s+(\d+\.\d+)\s*$/m.exec(text)?.[1] ?? 'unknown';
  return { text, isa };
}

/** CUDA releases by PTX ISA version: a driver JIT-compiles the ISA of its CUDA version and older. */
const ISA_TO_CUDA: Readonly<Record<string, string>> = {
  '7.8': '11.8',
  '8.0': '12.0',
  '8.1': '12.1',
  '8.2': '12.2',
  '8.3': '12.3',
  '8.4': '12.4',
  '8.5': '12.5',
  '8.7': '12.8',
  '8.8': '12.9',
  '9.0': '13.0',
};

export function ptxRequirement(isa: string): string {
  const cuda = ISA_TO_CUDA[isa];
  return cuda ? `the kernels are PTX ISA ${isa}: they need a driver for CUDA ${cuda} or newer` : `the kernels are PTX ISA ${isa}`;
}

function describe(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

function deviceInfo(driver: CudaDriver, device: number): CudaDeviceInfo {
  const version = driver.driverVersion();
  return {
    name: driver.deviceName(device).slice(0, 80),
    totalMemoryBytes: driver.deviceTotalMemoryBytes(device),
    computeCapability: `${driver.deviceAttribute(CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR, device)}.${driver.deviceAttribute(CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR, device)}`,
    driverCudaVersion: `${Math.floor(version / 1000)}.${Math.floor((version % 1000) / 10)}`,
  };
}

/**
 * Is there a CUDA device this build can use? Loads the driver, counts devices, and has the driver
 * JIT-compile the kernels once, so that an old driver is found at start-up rather than on the
 * first request. Never throws; the primary context it creates is released again.
 */
export function probeCuda(options: CudaOptions = {}): CudaProbe {
  const libraryPath = options.libraryPath ?? DEFAULT_CUDA_LIBRARY;
  const ordinal = options.ordinal ?? 0;
  let driver: CudaDriver;
  try {
    driver = loadCudaDriver(libraryPath);
  } catch (err) {
    const hint =
      err instanceof CudaUnavailableError && err.missing === 'library' && libraryPath === DEFAULT_CUDA_LIBRARY
        ? ' (no NVIDIA driver mounted: not a GPU node, or no nvidia.com/gpu requested)'
        : '';
    return { ok: false, reason: `${describe(err)}${hint}` };
  }
  try {
    driver.init();
    const count = driver.deviceCount();
    if (count <= ordinal) return { ok: false, reason: `no CUDA device ${ordinal} (${count} found)` };
    const device = driver.device(ordinal);
    const info = deviceInfo(driver, device);
    const ptx = readPtx();
    const context = driver.primaryContextRetain(device);
    try {
      driver.setCurrentContext(context);
      let module: CuModule;
      try {
        module = driver.loadModule(ptx.text);
      } catch (err) {
        return { ok: false, reason: `the driver cannot load the kernels (${describe(err)}); ${ptxRequirement(ptx.isa)}, this one supports CUDA ${info.driverCudaVersion}` };
      }
      try {
        for (const name of CUDA_KERNEL_NAMES) driver.getFunction(module, name);
      } finally {
        driver.unloadModule(module);
      }
      // The segmentation module (background effects) too, so that a driver that cannot load it is found now.
      const segment = driver.loadModule(readSegmentPtx());
      try {
        for (const name of SEGMENT_KERNEL_NAMES) driver.getFunction(segment, name);
      } finally {
        driver.unloadModule(segment);
      }
    } finally {
      driver.setCurrentContext(null);
      driver.primaryContextRelease(device);
    }
    return { ok: true, info };
  } catch (err) {
    if (err instanceof CudaError && err.errorName === 'CUDA_ERROR_NO_DEVICE') return { ok: false, reason: `no CUDA device (${err.message})` };
    return { ok: false, reason: describe(err) };
  }
}

interface HostBlock {
  readonly pointer: CuHostPointer;
  readonly address: number;
  readonly capacity: number;
  readonly buffer: ArrayBuffer;
}

/**
 * Idle buffers by exact size, least recently released first out when over budget. `dispose`
 * gives a buffer back to the driver.
 */
class IdlePool<T> {
  readonly #bySize = new Map<number, T[]>();
  /** Release order, for eviction. */
  #order: Array<{ size: number; item: T }> = [];
  #idleBytes = 0;

  readonly #maxIdleBytes: number;
  readonly #dispose: (item: T, size: number) => void;

  constructor(maxIdleBytes: number, dispose: (item: T, size: number) => void) {
    this.#maxIdleBytes = maxIdleBytes;
    this.#dispose = dispose;
  }

  take(size: number): T | undefined {
    const list = this.#bySize.get(size);
    const item = list?.pop();
    if (item === undefined) return undefined;
    this.#idleBytes -= size;
    const at = this.#order.findIndex((e) => e.item === item);
    if (at >= 0) this.#order.splice(at, 1);
    return item;
  }

  put(size: number, item: T): void {
    const list = this.#bySize.get(size);
    if (list) list.push(item);
    else this.#bySize.set(size, [item]);
    this.#order.push({ size, item });
    this.#idleBytes += size;
    while (this.#idleBytes > this.#maxIdleBytes && this.#order.length > 0) {
      const oldest = this.#order.shift()!;
      const same = this.#bySize.get(oldest.size)!;
      same.splice(same.indexOf(oldest.item), 1);
      this.#idleBytes -= oldest.size;
      this.#dispose(oldest.item, oldest.size);
    }
  }

  drain(): void {
    for (const { size, item } of this.#order) this.#dispose(item, size);
    this.#order = [];
    this.#bySize.clear();
    this.#idleBytes = 0;
  }
}

const roundToPage = (bytes: number) => Math.ceil(Math.max(bytes, 1) / PAGE_BYTES) * PAGE_BYTES;

/** Creates the kernels on device `ordinal`: its primary context, the module, a stream and events. */
export async function createCudaKernels(options: CudaKernelsOptions = {}): Promise<CudaKernels> {
  const driver = loadCudaDriver(options.libraryPath ?? DEFAULT_CUDA_LIBRARY);
  driver.init();
  const device = driver.device(options.ordinal ?? 0);
  return new CudaKernels(driver, device, readPtx().text, {
    host: options.maxIdleHostBytes ?? DEFAULT_MAX_IDLE_HOST_BYTES,
    device: options.maxIdleDeviceBytes ?? DEFAULT_MAX_IDLE_DEVICE_BYTES,
  });
}

export class CudaKernels implements EffectKernels {
  readonly info: CudaDeviceInfo;
  /** GPU time of the last run's kernels (all iterations), from CUDA events; 0 for iters=0. */
  lastKernelSeconds = 0;

  readonly #driver: CudaDriver;
  readonly #device: number;
  readonly #context: CuContext;
  readonly #resources: Array<() => void> = [];
  readonly #functions = new Map<CudaKernelName, CuFunction>();
  #stream!: CuStream;
  #start!: CuEvent;
  #stop!: CuEvent;
  #done!: CuEvent;
  #args!: LaunchArgs;
  readonly #live = new Map<number, HostBlock>();
  readonly #idleHost: IdlePool<HostBlock>;
  readonly #idleDevice: IdlePool<CuDevicePtr>;
  #closed = false;
  /** The segmentation network on this context and stream, made on the first background effect. */
  #segmenter: CudaSegmenter | undefined;
  /** What the effect table may do on this instance's stream. */
  readonly #ops: CudaOps = {
    launch: (name, src, dst, width, height, block) => this.#launchPlane(name, src, dst, width, height, block),
    memset: (dst, value, bytes) => this.#driver.memsetD8Async(dst, value, bytes, this.#stream),
    copy: (dst, src, bytes) => this.#driver.memcpyDtoDAsync(dst, src, bytes, this.#stream),
    gaussian: (c, src, dst, tmp, plane, sigma) => this.#gaussian(c, src, dst, tmp, plane, sigma),
  };

  constructor(driver: CudaDriver, device: number, ptx: string, maxIdleBytes: { readonly host: number; readonly device: number }) {
    this.#driver = driver;
    this.#device = device;
    this.info = deviceInfo(driver, device);
    this.#context = driver.primaryContextRetain(device);
    this.#resources.push(() => driver.primaryContextRelease(device));
    this.#idleHost = new IdlePool<HostBlock>(maxIdleBytes.host, (block) => driver.memFreeHost(block.pointer));
    this.#idleDevice = new IdlePool<CuDevicePtr>(maxIdleBytes.device, (pointer) => driver.memFree(pointer));
    try {
      driver.setCurrentContext(this.#context);
      const module = driver.loadModule(ptx);
      this.#resources.push(() => driver.unloadModule(module));
      for (const name of CUDA_KERNEL_NAMES) this.#functions.set(name, driver.getFunction(module, name));
      const stream = driver.streamCreate(CU_STREAM_NON_BLOCKING);
      this.#stream = stream;
      this.#resources.push(() => driver.streamDestroy(stream));
      const events = [CU_EVENT_DEFAULT, CU_EVENT_DEFAULT, CU_EVENT_BLOCKING_SYNC | CU_EVENT_DISABLE_TIMING].map((flags) => {
        const event = driver.eventCreate(flags);
        this.#resources.push(() => driver.eventDestroy(event));
        return event;
      });
      [this.#start, this.#stop, this.#done] = events as [CuEvent, CuEvent, CuEvent];
      const args = driver.createLaunchArgs(GAUSS_ARGS_BYTES);
      this.#args = args;
      this.#resources.push(() => driver.freeLaunchArgs(args));
    } catch (err) {
      this.close();
      throw err;
    }
  }

  alloc(bytes: number): number {
    if (!Number.isSafeInteger(bytes) || bytes < 0) throw new RangeError(`alloc: invalid size ${bytes}`);
    const capacity = roundToPage(bytes);
    let block = this.#idleHost.take(capacity);
    if (!block) {
      this.#driver.setCurrentContext(this.#context);
      const { pointer, address } = this.#driver.memHostAlloc(capacity);
      block = { pointer, address, capacity, buffer: this.#driver.hostView(pointer, capacity) };
    }
    this.#live.set(block.address, block);
    return block.address;
  }

  free(ptr: number, bytes: number): void {
    const block = this.#live.get(ptr);
    if (!block || roundToPage(bytes) !== block.capacity) throw new RangeError(`free: ${ptr} (+${bytes}) was not allocated here`);
    this.#live.delete(ptr);
    this.#idleHost.put(block.capacity, block);
  }

  view(ptr: number, bytes: number): Uint8Array {
    const block = this.#blockOf(ptr, bytes);
    return new Uint8Array(block.buffer, ptr - block.address, bytes);
  }

  #blockOf(ptr: number, bytes: number): HostBlock {
    const exact = this.#live.get(ptr);
    if (exact && bytes <= exact.capacity) return exact;
    for (const block of this.#live.values()) {
      if (ptr >= block.address && ptr + bytes <= block.address + block.capacity) return block;
    }
    throw new RangeError(`frame at ${ptr} (+${bytes}) lies outside the kernels' memory`);
  }

  run(layout: FrameLayout, job: EffectJob, srcPtr: number, dstPtr: number): void {
    if (this.#closed) throw new Error('the CUDA kernels are closed');
    const bytes = checkLayout(layout);
    const { effect: name, params } = checkFilterJob(job);
    this.#blockOf(srcPtr, bytes);
    this.#blockOf(dstPtr, bytes);
    if (srcPtr < dstPtr + bytes && dstPtr < srcPtr + bytes) throw new RangeError('srcPtr and dstPtr frames overlap');
    this.lastKernelSeconds = 0;
    if (job.iters === 0) {
      this.view(dstPtr, bytes).set(this.view(srcPtr, bytes));
      return;
    }

    const d = this.#driver;
    const stream = this.#stream;
    const planes = planesOf(layout);
    const effect = PASSES[name] as CudaEffect<EffectParams>;
    const tmpBytes = effect.tmpBytes(planes[0]!, params);
    const held: Array<[CuDevicePtr, number]> = [];
    const acquire = (size: number): CuDevicePtr => {
      const pointer = this.#idleDevice.take(size) ?? d.memAlloc(size);
      held.push([pointer, size]);
      return pointer;
    };
    let ok = false;
    try {
      d.setCurrentContext(this.#context);
      let from = acquire(bytes);
      let to = acquire(bytes);
      const tmp = tmpBytes > 0 ? acquire(tmpBytes) : 0n;
      d.memcpyHtoDAsync(from, srcPtr, bytes, stream);
      d.eventRecord(this.#start, stream);
      for (let pass = 0; pass < job.iters; pass++) {
        this.#pass(layout, planes, effect, params, from, to, tmp);
        [from, to] = [to, from];
      }
      d.eventRecord(this.#stop, stream);
      d.memcpyDtoHAsync(dstPtr, from, bytes, stream);
      d.eventRecord(this.#done, stream);
      d.eventSynchronize(this.#done);
      this.lastKernelSeconds = d.eventElapsedMs(this.#start, this.#stop) / 1000;
      ok = true;
    } finally {
      this.#settle(ok, held);
    }
  }

  /**
   * After a run: on failure, work may still be queued on these buffers; a later run reuses them
   * only after it, as the stream orders it, but the caller may now read or reuse the host frames at
   * once, so wait for the stream. Then the device buffers go back to the pool.
   */
  #settle(ok: boolean, held: ReadonlyArray<readonly [CuDevicePtr, number]>): void {
    if (!ok) {
      try {
        this.#driver.streamSynchronize(this.#stream);
      } catch {
        // the error that brought us here is the one to report
      }
    }
    for (const [pointer, size] of held) this.#idleDevice.put(size, pointer);
  }

  #pass(layout: FrameLayout, planes: PlaneLayout[], effect: CudaEffect<EffectParams>, params: EffectParams, from: CuDevicePtr, to: CuDevicePtr, tmp: CuDevicePtr): void {
    const rgba = layout.format === 'rgba';
    const ops = this.#ops;
    if (effect.frame) return effect.frame({ ops, rgba, layout, from, to }, params);
    for (let index = 0; index < planes.length; index++) {
      const p = planes[index]!;
      effect.plane(
        { ops, src: from + BigInt(p.offset), dst: to + BigInt(p.offset), tmp, plane: p, rgba, chroma: !rgba && index > 0, c: rgba ? 'c4' : 'c1' },
        params,
      );
    }
  }

  #launchPlane(name: CudaKernelName, src: CuDevicePtr, dst: CuDevicePtr, width: number, height: number, block: number): void {
    const v = this.#args.view;
    v.setBigUint64(0, src, true);
    v.setBigUint64(8, dst, true);
    v.setInt32(16, width, true);
    v.setInt32(20, height, true);
    v.setInt32(24, block, true);
    v.setInt32(28, 0, true);
    const { grid, threads } = KERNELS[name](width, height, block);
    this.#driver.launch(this.#fn(name), grid, threads, this.#stream, this.#args);
  }

  /**
   * Row pass into the float intermediate, then the column pass into dst: the FIR below
   * GAUSSIAN_RECURSIVE_MIN_SIGMA, the recursive kernels from it on (their column pass keeps its
   * causal sums in a second float plane of `tmp`).
   */
  #gaussian(c: 'c4' | 'c1', src: CuDevicePtr, dst: CuDevicePtr, tmp: CuDevicePtr, p: PlaneLayout, sigma: number): void {
    const recursive = sigma >= GAUSSIAN_RECURSIVE_MIN_SIGMA;
    const weights = recursive ? recursiveGaussianFloats(sigma) : gaussianWeights(sigma);
    const radius = recursive ? 0 : weights.length - 1;
    if (radius > MAX_RADIUS) throw new RangeError(`gaussian: radius ${radius} exceeds the kernels' ${MAX_RADIUS}`);
    const v = this.#args.view;
    v.setInt32(16, p.width, true);
    v.setInt32(20, p.height, true);
    v.setInt32(24, radius, true);
    v.setInt32(28, 0, true);
    weights.forEach((w, i) => v.setFloat32(GAUSS_WEIGHTS_OFFSET + 4 * i, w, true));
    const rowsKernel = recursive ? (`rtc_gaussian_recursive_rows_${c}` as const) : (`rtc_gaussian_rows_${c}` as const);
    const columnsKernel = recursive ? (`rtc_gaussian_recursive_columns_${c}` as const) : (`rtc_gaussian_columns_${c}` as const);

    v.setBigUint64(0, src, true);
    v.setBigUint64(8, tmp, true);
    const rows = KERNELS[rowsKernel](p.width, p.height, 0);
    this.#driver.launch(this.#fn(rowsKernel), rows.grid, rows.threads, this.#stream, this.#args);

    v.setBigUint64(0, tmp, true);
    v.setBigUint64(8, dst, true);
    const columns = KERNELS[columnsKernel](p.width, p.height, 0);
    this.#driver.launch(this.#fn(columnsKernel), columns.grid, columns.threads, this.#stream, this.#args);
  }

  #fn(name: CudaKernelName): CuFunction {
    const fn = this.#functions.get(name);
    if (!fn) throw new Error(`kernel ${name} is not loaded`);
    return fn;
  }

  /** Gives every buffer, the stream, events, module and context back to the driver. */
  /**
   * A background effect (person segmentation, src/cuda/segment.ts) of one frame: the frames are
   * this instance's pinned host blocks, as for run(); an image backdrop is one too, in the frame's
   * layout. The whole chain runs on the device between one upload and one download. With
   * `session`, its mask is uploaded first (when valid), updated with the new inference (unless
   * `infer` is false), and written back after; without it the mask is fresh and not smoothed.
   */
  runBackground(layout: FrameLayout, srcPtr: number, dstPtr: number, backdrop: HostBackdrop, session?: DeviceMaskSession): void {
    if (this.#closed) throw new Error('the CUDA kernels are closed');
    const bytes = checkLayout(layout);
    this.#blockOf(srcPtr, bytes);
    this.#blockOf(dstPtr, bytes);
    if (backdrop.kind === 'image') this.#blockOf(backdrop.ptr, bytes);
    if (srcPtr < dstPtr + bytes && dstPtr < srcPtr + bytes) throw new RangeError('srcPtr and dstPtr frames overlap');
    const d = this.#driver;
    const stream = this.#stream;
    d.setCurrentContext(this.#context);
    const seg = this.#segmenterOnce();
    const held: Array<[CuDevicePtr, number]> = [];
    const acquire = (size: number): CuDevicePtr => {
      const pointer = this.#idleDevice.take(size) ?? d.memAlloc(size);
      held.push([pointer, size]);
      return pointer;
    };
    let ok = false;
    try {
      const src = acquire(bytes);
      const dst = acquire(bytes);
      d.memcpyHtoDAsync(src, srcPtr, bytes, stream);
      let device: DeviceBackdrop;
      if (backdrop.kind === 'image') {
        const bg = acquire(bytes);
        d.memcpyHtoDAsync(bg, backdrop.ptr, bytes, stream);
        device = { kind: 'image', frame: bg };
      } else {
        device = backdrop;
      }
      const valid = session?.valid === true;
      const infer = !valid || session.infer;
      if (valid) seg.enqueueMaskUpload(session.mask);
      d.eventRecord(this.#start, stream);
      seg.enqueueBackground({ layout, src, dst, backdrop: device, infer, smoothing: session?.smoothing ?? 0, fresh: !valid });
      d.eventRecord(this.#stop, stream);
      if (session && infer) seg.enqueueMaskDownload();
      d.memcpyDtoHAsync(dstPtr, dst, bytes, stream);
      d.eventRecord(this.#done, stream);
      d.eventSynchronize(this.#done);
      this.lastKernelSeconds = d.eventElapsedMs(this.#start, this.#stop) / 1000;
      if (session && infer) {
        session.mask.set(seg.hostMask());
        session.markValid();
      }
      ok = true;
    } finally {
      this.#settle(ok, held);
    }
  }

  /**
   * A live session's mask job: the network on one pinned frame, the session's mask updated on the
   * device and written back; no output frame.
   */
  updateMask(layout: FrameLayout, srcPtr: number, session: Omit<DeviceMaskSession, 'infer'>): void {
    if (this.#closed) throw new Error('the CUDA kernels are closed');
    const bytes = checkLayout(layout);
    this.#blockOf(srcPtr, bytes);
    const d = this.#driver;
    const stream = this.#stream;
    d.setCurrentContext(this.#context);
    const seg = this.#segmenterOnce();
    const src = this.#idleDevice.take(bytes) ?? d.memAlloc(bytes);
    let ok = false;
    try {
      d.memcpyHtoDAsync(src, srcPtr, bytes, stream);
      const valid = session.valid;
      if (valid) seg.enqueueMaskUpload(session.mask);
      d.eventRecord(this.#start, stream);
      seg.enqueueMaskUpdate(layout, src, session.smoothing, !valid);
      d.eventRecord(this.#stop, stream);
      seg.enqueueMaskDownload();
      d.eventRecord(this.#done, stream);
      d.eventSynchronize(this.#done);
      this.lastKernelSeconds = d.eventElapsedMs(this.#start, this.#stop) / 1000;
      session.mask.set(seg.hostMask());
      session.markValid();
      ok = true;
    } finally {
      this.#settle(ok, [[src, bytes]]);
    }
  }

  #segmenterOnce(): CudaSegmenter {
    const spec = SELFIE_MODEL;
    this.#segmenter ??= new CudaSegmenter(this.#driver, this.#context, this.#stream, loadGraphModelFile(packagePath(spec.graphPath)), {
      scale: spec.inputScale,
      offset: spec.inputOffset,
    });
    return this.#segmenter;
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    const d = this.#driver;
    const steps: Array<() => void> = [
      () => d.setCurrentContext(this.#context),
      () => this.#segmenter?.close(),
      () => this.#idleDevice.drain(),
      () => this.#idleHost.drain(),
      () => {
        for (const block of this.#live.values()) d.memFreeHost(block.pointer);
        this.#live.clear();
      },
      ...this.#resources.reverse(),
    ];
    // Best effort: after a sticky error every call fails, and the rest should still be tried.
    for (const step of steps) {
      try {
        step();
      } catch {
        // nothing more to do for this resource
      }
    }
  }

  get device(): number {
    return this.#device;
  }
}

/** The device operations an effect's entry may queue. */
interface CudaOps {
  launch(name: CudaKernelName, src: CuDevicePtr, dst: CuDevicePtr, width: number, height: number, block: number): void;
  memset(dst: CuDevicePtr, value: number, bytes: number): void;
  copy(dst: CuDevicePtr, src: CuDevicePtr, bytes: number): void;
  /** Separable Gaussian through the float intermediate `tmp` (PASSES.gaussian.tmpBytes). */
  gaussian(c: 'c4' | 'c1', src: CuDevicePtr, dst: CuDevicePtr, tmp: CuDevicePtr, plane: PlaneLayout, sigma: number): void;
}

/** One plane of one pass, as an effect's CUDA entry sees it. */
interface CudaPlane {
  readonly ops: CudaOps;
  readonly src: CuDevicePtr;
  readonly dst: CuDevicePtr;
  /** `tmpBytes` of device scratch (0n when none was asked for). */
  readonly tmp: CuDevicePtr;
  readonly plane: PlaneLayout;
  readonly rgba: boolean;
  /** U or V of an I420 frame. */
  readonly chroma: boolean;
  /** The kernel variant: 4 interleaved channels (RGBA) or 1 (an I420 plane). */
  readonly c: 'c4' | 'c1';
}

/** A whole frame of one pass, for effects that do not work plane by plane. */
interface CudaFrame {
  readonly ops: CudaOps;
  readonly layout: FrameLayout;
  readonly from: CuDevicePtr;
  readonly to: CuDevicePtr;
  readonly rgba: boolean;
}

interface CudaEffect<P> {
  /** Device scratch for one pass, given the widest plane. */
  tmpBytes(widest: PlaneLayout, params: P): number;
  plane(p: CudaPlane, params: P): void;
  /** When present, called once per pass instead of `plane`. */
  frame?(f: CudaFrame, params: P): void;
}

const noTmp = (): number => 0;
const samplesOf = (p: PlaneLayout): number => p.width * p.height * p.channels;

/** The CUDA kernels of each effect; a new effect adds its entry here (the compiler asks for it). */
const PASSES = {
  blur: { tmpBytes: noTmp, plane: ({ ops, src, dst, plane: p, c }) => ops.launch(`rtc_blur_${c}`, src, dst, p.width, p.height, 0) },
  sharpen: { tmpBytes: noTmp, plane: ({ ops, src, dst, plane: p, c }) => ops.launch(`rtc_sharpen_${c}`, src, dst, p.width, p.height, 0) },
  edge: {
    tmpBytes: noTmp,
    plane: ({ ops, src, dst, plane: p, c, chroma }) => (chroma ? ops.memset(dst, 128, samplesOf(p)) : ops.launch(`rtc_edge_${c}`, src, dst, p.width, p.height, 0)),
  },
  pixelate: {
    tmpBytes: noTmp,
    plane: ({ ops, src, dst, plane: p, c, chroma }, { block }) => {
      const edge = chroma ? Math.max(1, block >> 1) : block;
      ops.launch(edge <= PIXELATE_SMALL_MAX ? `rtc_pixelate_small_${c}` : `rtc_pixelate_${c}`, src, dst, p.width, p.height, edge);
    },
  },
  grayscale: {
    tmpBytes: noTmp,
    plane: ({ ops, src, dst, plane: p, rgba, chroma }) => {
      if (chroma) return ops.memset(dst, 128, samplesOf(p));
      if (rgba) return ops.launch('rtc_grayscale_rgba', src, dst, p.width, p.height, 0);
      return ops.copy(dst, src, samplesOf(p));
    },
  },
  gaussian: {
    // One float plane for the FIR, two for the recursive filter.
    tmpBytes: (p, { sigma }) => samplesOf(p) * 4 * (sigma >= GAUSSIAN_RECURSIVE_MIN_SIGMA ? 2 : 1),
    plane: ({ ops, src, dst, tmp, plane, c }, { sigma }) => ops.gaussian(c, src, dst, tmp, plane, sigma),
  },
  invert: {
    tmpBytes: noTmp,
    plane: () => {},
    frame: ({ ops, layout, from, to, rgba }) => {
      if (rgba) return ops.launch('rtc_invert_rgba', from, to, layout.width, layout.height, 0);
      return ops.launch('rtc_invert_bytes', from, to, frameBytes(layout), 1, 0);
    },
  },
} satisfies { readonly [E in FilterEffectName]: CudaEffect<ParamsOf<E>> };
