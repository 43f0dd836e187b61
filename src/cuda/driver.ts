/**
 * The CUDA driver API (libcuda.so.1) through koffi. This is the one file that touches the FFI:
 * everything else sees typed methods that throw `CudaError` with the driver's error name.
 *
 * The signatures are those of CUDA 13's cuda.h, bound by their exported names: the `_v2` symbols
 * that cuda.h #defines the plain names to (cuMemAlloc_v2, cuMemcpyHtoDAsync_v2, ...), all exported
 * by every driver since CUDA 11, except cuEventElapsedTime_v2 (CUDA 12.8), which falls back to
 * cuEventElapsedTime of the same signature on older drivers.
 *
 * Host addresses that the driver reads or writes after the call returns (async copies) are passed
 * as plain 64-bit integers, the same registers as a `void *` in the C ABI: koffi then has nothing
 * to marshal and no temporary copy can stand in for the caller's pinned memory.
 *
 * koffi is required lazily, so a process that never asks for CUDA never loads it, and a missing
 * package or library is a `CudaUnavailableError` rather than a crash at import time.
 */
import { createRequire } from 'node:module';

type Koffi = typeof import('koffi');
type KoffiLib = ReturnType<Koffi['load']>;
type KoffiFn = ReturnType<KoffiLib['func']>;
type KoffiType = ReturnType<Koffi['pointer']>;

export const DEFAULT_CUDA_LIBRARY = 'libcuda.so.1';

declare const handleBrand: unique symbol;
/** An opaque driver handle (CUcontext, CUmodule, ...), only ever passed back to the driver. */
export type CudaHandle<K extends string> = { readonly [handleBrand]: K };
export type CuContext = CudaHandle<'CUcontext'>;
export type CuModule = CudaHandle<'CUmodule'>;
export type CuFunction = CudaHandle<'CUfunction'>;
export type CuStream = CudaHandle<'CUstream'>;
export type CuEvent = CudaHandle<'CUevent'>;
/** Page-locked host memory from cuMemHostAlloc. */
export type CuHostPointer = CudaHandle<'pinned'>;
/** A device address (CUdeviceptr). */
export type CuDevicePtr = bigint;

/** Errors after which the context is unusable (cuda.h: "the process must be terminated and relaunched"). */
const STICKY_ERRORS = new Set([214, 226, 700, 702, 714, 715, 716, 717, 718, 719, 721, 810, 911]);

export const CU_STREAM_NON_BLOCKING = 0x1;
export const CU_EVENT_DEFAULT = 0x0;
export const CU_EVENT_BLOCKING_SYNC = 0x1;
export const CU_EVENT_DISABLE_TIMING = 0x2;
export const CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR = 75;
export const CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR = 76;

/** A driver call returned an error. */
export class CudaError extends Error {
  /** The driver function, e.g. `cuLaunchKernel`. */
  readonly call: string;
  /** The CUresult. */
  readonly code: number;
  /** e.g. `CUDA_ERROR_ILLEGAL_ADDRESS`. */
  readonly errorName: string;
  /** The context is corrupted: every later call in this process fails the same way. */
  readonly sticky: boolean;

  constructor(call: string, code: number, errorName: string, description: string) {
    super(`${call}: ${errorName} (${code}): ${description}`);
    this.name = 'CudaError';
    this.call = call;
    this.code = code;
    this.errorName = errorName;
    this.sticky = STICKY_ERRORS.has(code);
  }
}

/** There is no CUDA here: koffi or the driver library is missing, or lacks a function we need. */
export class CudaUnavailableError extends Error {
  readonly missing: 'koffi' | 'library' | 'symbol';

  constructor(missing: 'koffi' | 'library' | 'symbol', message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'CudaUnavailableError';
    this.missing = missing;
  }
}

/** A native buffer for one launch's argument struct, and the `void *[1]` that points at it. */
export interface LaunchArgs {
  /** Little-endian view of the argument struct (see kernels.cu for the layouts). */
  readonly view: DataView;
  readonly bytes: number;
}

interface NativeLaunchArgs extends LaunchArgs {
  readonly struct: unknown;
  readonly params: unknown;
}

interface Types {
  readonly handle: KoffiType;
  readonly outHandle: KoffiType;
  readonly outInt: KoffiType;
  readonly outSize: KoffiType;
  readonly outU64: KoffiType;
  readonly outFloat: KoffiType;
  readonly outString: KoffiType;
  readonly outPointer: KoffiType;
}

let koffiModule: Koffi | undefined;
let types: Types | undefined;

function requireKoffi(): Koffi {
  if (!koffiModule) {
    try {
      koffiModule = createRequire(import.meta.url)('koffi') as Koffi;
    } catch (err) {
      throw new CudaUnavailableError('koffi', 'the koffi package is not installed (npm ci installs it)', { cause: err });
    }
  }
  return koffiModule;
}

/** koffi types are defined once per thread: anonymous, so no name can clash. */
function koffiTypes(koffi: Koffi): Types {
  if (!types) {
    const handle = koffi.pointer(koffi.opaque());
    types = {
      handle,
      outHandle: koffi.out(koffi.pointer(handle)),
      outInt: koffi.out(koffi.pointer('int')),
      outSize: koffi.out(koffi.pointer('size_t')),
      outU64: koffi.out(koffi.pointer('uint64_t')),
      outFloat: koffi.out(koffi.pointer('float')),
      outString: koffi.out(koffi.pointer('const char *')),
      outPointer: koffi.out(koffi.pointer('void *')),
    };
  }
  return types;
}

/** The driver functions, by exported symbol; `alternatives` are tried in order. */
function bind(koffi: Koffi, lib: KoffiLib, libraryPath: string) {
  const t = koffiTypes(koffi);
  const fn = (alternatives: readonly string[], args: ReadonlyArray<string | KoffiType>): KoffiFn => {
    for (const name of alternatives) {
      try {
        return lib.func(name, 'int', [...args]);
      } catch {
        // not exported by this driver: try the next name
      }
    }
    throw new CudaUnavailableError('symbol', `${libraryPath} does not export ${alternatives.join(' or ')}: the NVIDIA driver is too old`);
  };
  return {
    cuGetErrorName: fn(['cuGetErrorName'], ['int', t.outString]),
    cuGetErrorString: fn(['cuGetErrorString'], ['int', t.outString]),
    cuInit: fn(['cuInit'], ['unsigned int']),
    cuDriverGetVersion: fn(['cuDriverGetVersion'], [t.outInt]),
    cuDeviceGetCount: fn(['cuDeviceGetCount'], [t.outInt]),
    cuDeviceGet: fn(['cuDeviceGet'], [t.outInt, 'int']),
    cuDeviceGetName: fn(['cuDeviceGetName'], ['void *', 'int', 'int']),
    cuDeviceTotalMem: fn(['cuDeviceTotalMem_v2'], [t.outSize, 'int']),
    cuDeviceGetAttribute: fn(['cuDeviceGetAttribute'], [t.outInt, 'int', 'int']),
    cuDevicePrimaryCtxRetain: fn(['cuDevicePrimaryCtxRetain'], [t.outHandle, 'int']),
    cuDevicePrimaryCtxRelease: fn(['cuDevicePrimaryCtxRelease_v2'], ['int']),
    cuCtxSetCurrent: fn(['cuCtxSetCurrent'], [t.handle]),
    cuModuleLoadData: fn(['cuModuleLoadData'], [t.outHandle, 'void *']),
    cuModuleUnload: fn(['cuModuleUnload'], [t.handle]),
    cuModuleGetFunction: fn(['cuModuleGetFunction'], [t.outHandle, t.handle, 'const char *']),
    cuMemAlloc: fn(['cuMemAlloc_v2'], [t.outU64, 'size_t']),
    cuMemFree: fn(['cuMemFree_v2'], ['uint64_t']),
    cuMemHostAlloc: fn(['cuMemHostAlloc'], [t.outPointer, 'size_t', 'unsigned int']),
    cuMemFreeHost: fn(['cuMemFreeHost'], ['void *']),
    cuMemcpyHtoDAsync: fn(['cuMemcpyHtoDAsync_v2'], ['uint64_t', 'uint64_t', 'size_t', t.handle]),
    cuMemcpyDtoHAsync: fn(['cuMemcpyDtoHAsync_v2'], ['uint64_t', 'uint64_t', 'size_t', t.handle]),
    cuMemcpyDtoDAsync: fn(['cuMemcpyDtoDAsync_v2'], ['uint64_t', 'uint64_t', 'size_t', t.handle]),
    cuMemsetD8Async: fn(['cuMemsetD8Async'], ['uint64_t', 'unsigned char', 'size_t', t.handle]),
    cuLaunchKernel: fn(['cuLaunchKernel'], [
      t.handle,
      'unsigned int', 'unsigned int', 'unsigned int',
      'unsigned int', 'unsigned int', 'unsigned int',
      'unsigned int', t.handle, 'void *', 'void *',
    ]),
    cuStreamCreate: fn(['cuStreamCreate'], [t.outHandle, 'unsigned int']),
    cuStreamDestroy: fn(['cuStreamDestroy_v2'], [t.handle]),
    cuStreamSynchronize: fn(['cuStreamSynchronize'], [t.handle]),
    cuEventCreate: fn(['cuEventCreate'], [t.outHandle, 'unsigned int']),
    cuEventRecord: fn(['cuEventRecord'], [t.handle, t.handle]),
    cuEventSynchronize: fn(['cuEventSynchronize'], [t.handle]),
    cuEventElapsedTime: fn(['cuEventElapsedTime_v2', 'cuEventElapsedTime'], [t.outFloat, t.handle, t.handle]),
    cuEventDestroy: fn(['cuEventDestroy_v2'], [t.handle]),
  };
}

type Bindings = ReturnType<typeof bind>;

/** Loads the driver library; throws `CudaUnavailableError` when there is none. */
export function loadCudaDriver(libraryPath: string = DEFAULT_CUDA_LIBRARY): CudaDriver {
  const koffi = requireKoffi();
  let lib: KoffiLib;
  try {
    lib = koffi.load(libraryPath);
  } catch (err) {
    const detail = err instanceof Error ? err.message : String(err);
    throw new CudaUnavailableError('library', `${libraryPath} could not be loaded (${detail})`, { cause: err });
  }
  return new CudaDriver(koffi, libraryPath, bind(koffi, lib, libraryPath));
}

/** Typed, checked calls into one loaded driver library. Not thread-safe: one per thread. */
export class CudaDriver {
  readonly libraryPath: string;
  readonly #koffi: Koffi;
  readonly #fn: Bindings;

  constructor(koffi: Koffi, libraryPath: string, bindings: Bindings) {
    this.#koffi = koffi;
    this.libraryPath = libraryPath;
    this.#fn = bindings;
  }

  #check(call: string, code: number): void {
    if (code === 0) return;
    const name = [null as string | null];
    const text = [null as string | null];
    const known = this.#fn.cuGetErrorName(code, name) === 0;
    this.#fn.cuGetErrorString(code, text);
    throw new CudaError(call, code, known && name[0] ? name[0] : `CUresult ${code}`, text[0] ?? 'unknown error');
  }

  init(): void {
    this.#check('cuInit', this.#fn.cuInit(0));
  }

  /** e.g. 13000 for CUDA 13.0. */
  driverVersion(): number {
    const out = [0];
    this.#check('cuDriverGetVersion', this.#fn.cuDriverGetVersion(out));
    return out[0] ?? 0;
  }

  deviceCount(): number {
    const out = [0];
    this.#check('cuDeviceGetCount', this.#fn.cuDeviceGetCount(out));
    return out[0] ?? 0;
  }

  device(ordinal: number): number {
    const out = [0];
    this.#check('cuDeviceGet', this.#fn.cuDeviceGet(out, ordinal));
    return out[0] ?? 0;
  }

  deviceName(device: number): string {
    const buffer = Buffer.alloc(256);
    this.#check('cuDeviceGetName', this.#fn.cuDeviceGetName(buffer, buffer.length, device));
    const end = buffer.indexOf(0);
    return buffer.toString('utf8', 0, end < 0 ? buffer.length : end).trim();
  }

  deviceTotalMemoryBytes(device: number): number {
    const out = [0];
    this.#check('cuDeviceTotalMem_v2', this.#fn.cuDeviceTotalMem(out, device));
    return Number(out[0] ?? 0);
  }

  deviceAttribute(attribute: number, device: number): number {
    const out = [0];
    this.#check('cuDeviceGetAttribute', this.#fn.cuDeviceGetAttribute(out, attribute, device));
    return out[0] ?? 0;
  }

  primaryContextRetain(device: number): CuContext {
    const out = [null as unknown];
    this.#check('cuDevicePrimaryCtxRetain', this.#fn.cuDevicePrimaryCtxRetain(out, device));
    return out[0] as CuContext;
  }

  primaryContextRelease(device: number): void {
    this.#check('cuDevicePrimaryCtxRelease_v2', this.#fn.cuDevicePrimaryCtxRelease(device));
  }

  /** Binds the context to the calling OS thread (each worker thread binds its own). */
  setCurrentContext(context: CuContext | null): void {
    this.#check('cuCtxSetCurrent', this.#fn.cuCtxSetCurrent(context));
  }

  /** JIT-compiles PTX text for the current context's device. */
  loadModule(ptx: string): CuModule {
    const out = [null as unknown];
    this.#check('cuModuleLoadData', this.#fn.cuModuleLoadData(out, Buffer.from(`${ptx}\0`, 'utf8')));
    return out[0] as CuModule;
  }

  unloadModule(module: CuModule): void {
    this.#check('cuModuleUnload', this.#fn.cuModuleUnload(module));
  }

  getFunction(module: CuModule, name: string): CuFunction {
    const out = [null as unknown];
    this.#check('cuModuleGetFunction', this.#fn.cuModuleGetFunction(out, module, name));
    return out[0] as CuFunction;
  }

  memAlloc(bytes: number): CuDevicePtr {
    const out = [0 as number | bigint];
    this.#check('cuMemAlloc_v2', this.#fn.cuMemAlloc(out, bytes));
    return BigInt(out[0] ?? 0);
  }

  memFree(pointer: CuDevicePtr): void {
    this.#check('cuMemFree_v2', this.#fn.cuMemFree(pointer));
  }

  /** Page-locked host memory (flags 0), and its address for async copies. */
  memHostAlloc(bytes: number): { pointer: CuHostPointer; address: number } {
    const out = [null as unknown];
    this.#check('cuMemHostAlloc', this.#fn.cuMemHostAlloc(out, bytes, 0));
    return { pointer: out[0] as CuHostPointer, address: Number(this.#koffi.address(out[0])) };
  }

  memFreeHost(pointer: CuHostPointer): void {
    this.#check('cuMemFreeHost', this.#fn.cuMemFreeHost(pointer));
  }

  /** An ArrayBuffer over pinned memory, without a copy. Valid until memFreeHost. */
  hostView(pointer: CuHostPointer, bytes: number): ArrayBuffer {
    return this.#koffi.view(pointer, bytes);
  }

  memcpyHtoDAsync(dst: CuDevicePtr, srcAddress: number, bytes: number, stream: CuStream): void {
    this.#check('cuMemcpyHtoDAsync_v2', this.#fn.cuMemcpyHtoDAsync(dst, BigInt(srcAddress), bytes, stream));
  }

  memcpyDtoHAsync(dstAddress: number, src: CuDevicePtr, bytes: number, stream: CuStream): void {
    this.#check('cuMemcpyDtoHAsync_v2', this.#fn.cuMemcpyDtoHAsync(BigInt(dstAddress), src, bytes, stream));
  }

  memcpyDtoDAsync(dst: CuDevicePtr, src: CuDevicePtr, bytes: number, stream: CuStream): void {
    this.#check('cuMemcpyDtoDAsync_v2', this.#fn.cuMemcpyDtoDAsync(dst, src, bytes, stream));
  }

  memsetD8Async(dst: CuDevicePtr, value: number, count: number, stream: CuStream): void {
    this.#check('cuMemsetD8Async', this.#fn.cuMemsetD8Async(dst, value, count, stream));
  }

  /** A reusable native argument buffer: the driver copies the arguments at launch. */
  createLaunchArgs(bytes: number): LaunchArgs {
    const struct = this.#koffi.alloc('uint8_t', bytes);
    const params = this.#koffi.alloc('uint8_t', 8);
    new BigUint64Array(this.#koffi.view(params, 8))[0] = this.#koffi.address(struct);
    const view = new DataView(this.#koffi.view(struct, bytes));
    const args: NativeLaunchArgs = { view, bytes, struct, params };
    return args;
  }

  freeLaunchArgs(args: LaunchArgs): void {
    const native = args as NativeLaunchArgs;
    this.#koffi.free(native.struct);
    this.#koffi.free(native.params);
  }

  /** Launches `fn` with the one struct argument held in `args` (kernelParams = { &struct }). */
  launch(
    fn: CuFunction,
    grid: readonly [number, number, number],
    block: readonly [number, number, number],
    stream: CuStream,
    args: LaunchArgs,
  ): void {
    const native = args as NativeLaunchArgs;
    this.#check(
      'cuLaunchKernel',
      this.#fn.cuLaunchKernel(fn, grid[0], grid[1], grid[2], block[0], block[1], block[2], 0, stream, native.params, null),
    );
  }

  streamCreate(flags: number): CuStream {
    const out = [null as unknown];
    this.#check('cuStreamCreate', this.#fn.cuStreamCreate(out, flags));
    return out[0] as CuStream;
  }

  streamDestroy(stream: CuStream): void {
    this.#check('cuStreamDestroy_v2', this.#fn.cuStreamDestroy(stream));
  }

  streamSynchronize(stream: CuStream): void {
    this.#check('cuStreamSynchronize', this.#fn.cuStreamSynchronize(stream));
  }

  eventCreate(flags: number): CuEvent {
    const out = [null as unknown];
    this.#check('cuEventCreate', this.#fn.cuEventCreate(out, flags));
    return out[0] as CuEvent;
  }

  eventRecord(event: CuEvent, stream: CuStream): void {
    this.#check('cuEventRecord', this.#fn.cuEventRecord(event, stream));
  }

  eventSynchronize(event: CuEvent): void {
    this.#check('cuEventSynchronize', this.#fn.cuEventSynchronize(event));
  }

  eventElapsedMs(start: CuEvent, end: CuEvent): number {
    const out = [0];
    this.#check('cuEventElapsedTime', this.#fn.cuEventElapsedTime(out, start, end));
    return out[0] ?? 0;
  }

  eventDestroy(event: CuEvent): void {
    this.#check('cuEventDestroy_v2', this.#fn.cuEventDestroy(event));
  }
}

/**
 * The test hooks of the emulated driver (src/cuda/emulator): `command` as documented there.
 * Real drivers have no such function.
 */
export function emulatorControl(libraryPath: string): (command: string) => number {
  const koffi = requireKoffi();
  const control = koffi.load(libraryPath).func('cuEmuControl', 'int64_t', ['const char *']);
  return (command: string) => Number(control(command));
}
