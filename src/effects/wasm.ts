/**
 * The CPU backend: the AssemblyScript SIMD kernels of build/effects.wasm (`npm run build:wasm`)
 * behind the `EffectKernels` interface.
 *
 * Memory: frames live in the module's own linear memory and are addressed by byte offsets, which
 * stay valid when the memory grows (only views are invalidated). Linear memory never shrinks, so
 * it has a budget (`maxMemoryBytes`) it cannot outgrow: an allocation past it throws
 * WasmMemoryExhaustedError instead of growing. Freed blocks coalesce with their free neighbours and
 * are reused best-fit for any smaller size, and a free block at the top lowers the bump pointer, so
 * a series of distinct sizes reuses the same bytes instead of growing the memory each time
 * (sizes rounded up to 16 bytes, blocks 16-aligned).
 *
 * run(): passes ping-pong between at most two scratch frames owned by the kernels; the first pass
 * reads `srcPtr` in place, the last writes `dstPtr`. An effect that needs plane-sized scratch (the
 * recursive gaussian) reads all of its source before it writes, so its passes run in place in
 * `dstPtr` instead, and the same scratch block holds its plane scratch rather than frames (about
 * two frames' worth either way). Scratch (that block and per-row buffers) is kept and
 * only reallocated when a larger frame or radius arrives, so a warm run allocates nothing; note
 * that such a first run may grow the memory and so invalidate views taken before it.
 */
import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { planesOf, type FrameLayout, type PlaneLayout } from '../frames/layout.ts';
import type { EffectKernels, KernelBuild } from './kernel-types.ts';
import type { EffectJob, EffectParams, FilterEffectName, ParamsOf } from './catalog.ts';
import { checkFilterJob, checkLayout } from './job-check.ts';
import { packageUrl } from '../paths.ts';
import type { KernelExports } from './wasm-exports.ts';
import type { NativeKernels } from './native.ts';

// The project compiles without lib "dom" and @types/node 20 has no WebAssembly namespace: declare
// the little of the global WebAssembly API used here.
interface WasmModule {
  readonly __wasmModule?: never;
}
declare const WebAssembly: {
  validate(bytes: Uint8Array): boolean;
  compile(bytes: Uint8Array): Promise<WasmModule>;
  instantiate(module: WasmModule, imports: Record<string, Record<string, unknown>>): Promise<{ exports: unknown }>;
};

/** Each build's module file (scripts/build-wasm.mjs writes both). */
const WASM_URLS: Record<KernelBuild, URL> = {
  simd: packageUrl('build/effects.wasm'),
  'relaxed-simd': packageUrl('build/effects-relaxed.wasm'),
};
const PAGE = 65536;
const ALIGN = 16;
/** Grow by at least this many pages at a time so that a series of allocations grows rarely. */
const MIN_GROW_PAGES = 16;

const compiled = new Map<KernelBuild, Promise<WasmModule>>();

async function readWasm(build: KernelBuild): Promise<Uint8Array> {
  try {
    return await readFile(WASM_URLS[build]);
  } catch (err) {
    throw new Error(`cannot read ${WASM_URLS[build].pathname}: run \`npm run build:wasm\` first`, { cause: err });
  }
}

function compileModule(build: KernelBuild): Promise<WasmModule> {
  let module = compiled.get(build);
  if (module === undefined) {
    module = readWasm(build)
      .then((bytes) => WebAssembly.compile(bytes))
      .catch((err: unknown) => {
        compiled.delete(build);
        throw err;
      });
    compiled.set(build, module);
  }
  return module;
}

/**
 * The build WASM_RELAXED_SIMD asks for that this runtime runs: `relaxed-simd` where it validates
 * build/effects-relaxed.wasm (Node 22 does; Node 20 only with --experimental-wasm-relaxed-simd),
 * else `simd`. Reads the file once, synchronously (start-up).
 */
export function chooseKernelBuild(relaxedSimd: 'auto' | 'off'): KernelBuild {
  if (relaxedSimd === 'off') return 'simd';
  let bytes: Uint8Array;
  try {
    bytes = readFileSync(WASM_URLS['relaxed-simd']);
  } catch {
    return 'simd';
  }
  return WebAssembly.validate(bytes) ? 'relaxed-simd' : 'simd';
}

/** An allocation would take the kernels' linear memory past its budget. */
export class WasmMemoryExhaustedError extends RangeError {
  readonly code = 'wasm_memory_exhausted';
  constructor(bytes: number, inUseBytes: number, maxMemoryBytes: number) {
    super(`alloc: ${bytes} bytes do not fit: ${inUseBytes} in use of a ${maxMemoryBytes}-byte budget`);
    this.name = 'WasmMemoryExhaustedError';
  }
}

/** `run` stopped between passes because its caller no longer wants the result. */
export class JobCancelledError extends Error {
  readonly code = 'job_cancelled';
  constructor(passesDone: number) {
    super(`cancelled after ${passesDone} passes`);
    this.name = 'JobCancelledError';
  }
}

export interface WasmKernelOptions {
  /** Linear memory the instance may grow to (default: 4 GiB, the wasm32 limit). */
  readonly maxMemoryBytes?: number;
  /** Which build (default simd; chooseKernelBuild says which one the runtime runs). */
  readonly build?: KernelBuild;
  /** Native kernels that serve what they can (src/effects/native.ts); the WASM ones the rest. */
  readonly native?: NativeKernels;
}

/** A fresh instance (own memory) of the kernels module; the compiled module is shared. */
export async function createWasmKernels(options: WasmKernelOptions = {}): Promise<WasmKernels> {
  const module = await compileModule(options.build ?? 'simd');
  const instance = await WebAssembly.instantiate(module, {
    env: {
      abort() {
        throw new Error('effects.wasm aborted');
      },
    },
  });
  const exports = instance.exports as unknown as KernelExports;
  return new WasmKernels(options.native ? withNative(exports, options.native) : exports, options.maxMemoryBytes ?? WASM32_MAX_BYTES);
}

/**
 * The exports with `gaussian`, `grayscaleRgba` and `invert` trying the native kernels first (the
 * same bytes; they decline what they do not serve), so that every caller of the exports, the
 * effects' passes and background-blur's backdrop alike, gets them. The gaussian's plane scratch is
 * what the WASM kernel would need for this plane (its callers size it so).
 */
function withNative(k: KernelExports, native: NativeKernels): KernelExports {
  let view = new Uint8Array(k.memory.buffer);
  const memory = (): Uint8Array => {
    if (view.buffer !== k.memory.buffer) view = new Uint8Array(k.memory.buffer);
    return view;
  };
  return {
    ...k,
    gaussian(src, dst, width, height, channels, sigma, scratch, plane) {
      const planeBytes = k.gaussianPlaneScratch(width, height, channels, sigma);
      if (native.gaussian(memory(), src, dst, width, height, channels, sigma, plane, planeBytes)) return;
      k.gaussian(src, dst, width, height, channels, sigma, scratch, plane);
    },
    grayscaleRgba(src, dst, pixels) {
      if (!native.grayscaleRgba(memory(), src, dst, pixels)) k.grayscaleRgba(src, dst, pixels);
    },
    invert(src, dst, bytes, channels) {
      if (!native.invert(memory(), src, dst, bytes, channels)) k.invert(src, dst, bytes, channels);
    },
  };
}

const WASM32_MAX_BYTES = 65536 * PAGE;

const alignUp = (n: number) => Math.ceil(n / ALIGN) * ALIGN;

/** A free block of the allocator: [ptr, ptr + size). */
interface FreeBlock {
  ptr: number;
  size: number;
}

export class WasmKernels implements EffectKernels {
  readonly #k: KernelExports;
  readonly #base: number;
  readonly #maxMemoryBytes: number;
  #top: number;
  /** Free blocks below #top, sorted by address, never adjacent (they merge), none ending at #top. */
  #free: FreeBlock[] = [];
  #inUseBytes = 0;
  /** Ping-pong frames for intermediate passes, or an effect's plane scratch: one block. */
  #block = 0;
  #blockBytes = 0;
  #row = 0;
  #rowBytes = 0;

  constructor(exports: KernelExports, maxMemoryBytes: number) {
    this.#k = exports;
    this.#base = alignUp(exports.heapBase());
    this.#top = this.#base;
    this.#maxMemoryBytes = Math.max(maxMemoryBytes, exports.memory.buffer.byteLength);
  }

  /** Bytes of linear memory (it never shrinks; at most the budget). */
  get memoryBytes(): number {
    return this.#k.memory.buffer.byteLength;
  }

  /** Bytes handed out by alloc and not freed yet (kernel scratch included). */
  get inUseBytes(): number {
    return this.#inUseBytes;
  }

  alloc(bytes: number): number {
    if (!Number.isSafeInteger(bytes) || bytes < 0) throw new RangeError(`alloc: invalid size ${bytes}`);
    const size = alignUp(Math.max(bytes, 1));
    // Best fit among the free blocks: the smallest that holds `size`, split if larger.
    let best = -1;
    for (let i = 0; i < this.#free.length; i++) {
      const block = this.#free[i]!;
      if (block.size >= size && (best < 0 || block.size < this.#free[best]!.size)) best = i;
    }
    if (best >= 0) {
      const block = this.#free[best]!;
      const ptr = block.ptr;
      if (block.size === size) this.#free.splice(best, 1);
      else {
        block.ptr += size;
        block.size -= size;
      }
      this.#inUseBytes += size;
      return ptr;
    }
    const ptr = this.#top;
    const end = ptr + size;
    const have = this.#k.memory.buffer.byteLength;
    if (end > have) {
      if (end > this.#maxMemoryBytes) throw new WasmMemoryExhaustedError(bytes, this.#inUseBytes, this.#maxMemoryBytes);
      const need = Math.ceil((end - have) / PAGE);
      const room = Math.floor((this.#maxMemoryBytes - have) / PAGE);
      this.#k.memory.grow(Math.min(room, Math.max(MIN_GROW_PAGES, need)));
    }
    this.#top = end;
    this.#inUseBytes += size;
    return ptr;
  }

  free(ptr: number, bytes: number): void {
    const size = alignUp(Math.max(bytes, 1));
    if (!Number.isSafeInteger(ptr) || ptr % ALIGN !== 0 || ptr < this.#base || ptr + size > this.#top) {
      throw new RangeError(`free: ${ptr} (+${bytes}) was not allocated here`);
    }
    // Insert in address order, refusing a block that overlaps a free one (a double free).
    let i = 0;
    while (i < this.#free.length && this.#free[i]!.ptr < ptr) i++;
    const prev = this.#free[i - 1];
    const next = this.#free[i];
    if ((prev && prev.ptr + prev.size > ptr) || (next && ptr + size > next.ptr)) {
      throw new RangeError(`free: ${ptr} (+${bytes}) is already free`);
    }
    this.#inUseBytes -= size;
    let block: FreeBlock;
    if (prev && prev.ptr + prev.size === ptr) {
      prev.size += size;
      block = prev;
      i--;
    } else {
      block = { ptr, size };
      this.#free.splice(i, 0, block);
    }
    const after = this.#free[i + 1];
    if (after && block.ptr + block.size === after.ptr) {
      block.size += after.size;
      this.#free.splice(i + 1, 1);
    }
    // A free block at the top goes back to the bump pointer: the next allocation of any size starts there.
    if (block.ptr + block.size === this.#top) {
      this.#top = block.ptr;
      this.#free.splice(i, 1);
    }
  }

  /** Frees the kernels' own scratch (it is taken again by the next run): used when memory is short. */
  releaseScratch(): void {
    if (this.#blockBytes > 0) this.free(this.#block, this.#blockBytes);
    this.#block = 0;
    this.#blockBytes = 0;
    if (this.#rowBytes > 0) this.free(this.#row, this.#rowBytes);
    this.#row = 0;
    this.#rowBytes = 0;
  }

  view(ptr: number, bytes: number): Uint8Array {
    return new Uint8Array(this.#k.memory.buffer, ptr, bytes);
  }

  /** The module's exports, for kernels that work over the same memory (src/segmentation/). */
  get exports(): KernelExports {
    return this.#k;
  }

  run(layout: FrameLayout, job: EffectJob, srcPtr: number, dstPtr: number, shouldStop?: () => boolean): void {
    const bytes = checkLayout(layout);
    this.#checkPointers(bytes, srcPtr, dstPtr);
    const { effect: name, params } = checkFilterJob(job);
    if (job.iters === 0) {
      this.#k.copyBytes(srcPtr, dstPtr, bytes);
      return;
    }
    const planes = planesOf(layout);
    const effect = PASSES[name] as WasmEffect<EffectParams>;
    const widest = planes[0];
    const rowBytes = widest ? effect.rowScratchBytes(this.#k, widest, params) : 0;
    const planeBytes = widest ? (effect.planeScratchBytes?.(this.#k, widest, params) ?? 0) : 0;
    const inPlace = planeBytes > 0;
    this.#ensureScratch(inPlace ? planeBytes : bytes * Math.min(job.iters - 1, 2), rowBytes);
    let from = srcPtr;
    for (let pass = 1; pass <= job.iters; pass++) {
      if (pass > 1 && shouldStop?.()) throw new JobCancelledError(pass - 1);
      const to = pass === job.iters || inPlace ? dstPtr : this.#block + ((pass - 1) & 1) * bytes;
      this.#pass(layout, planes, effect, params, from, to);
      from = to;
    }
  }

  #checkPointers(bytes: number, srcPtr: number, dstPtr: number): void {
    const end = this.#k.memory.buffer.byteLength;
    for (const ptr of [srcPtr, dstPtr]) {
      if (!Number.isSafeInteger(ptr) || ptr < this.#base || ptr + bytes > end) {
        throw new RangeError(`frame at ${ptr} (+${bytes}) lies outside the kernels' memory`);
      }
    }
    if (srcPtr < dstPtr + bytes && dstPtr < srcPtr + bytes) throw new RangeError('srcPtr and dstPtr frames overlap');
  }

  #ensureScratch(blockBytes: number, rowBytes: number): void {
    if (blockBytes > this.#blockBytes) {
      if (this.#blockBytes > 0) this.free(this.#block, this.#blockBytes);
      // Cleared first so that a refused allocation leaves nothing to free twice.
      this.#blockBytes = 0;
      this.#block = this.alloc(blockBytes);
      this.#blockBytes = blockBytes;
    }
    if (rowBytes > this.#rowBytes) {
      if (this.#rowBytes > 0) this.free(this.#row, this.#rowBytes);
      // Cleared first so that a refused allocation leaves nothing to free twice.
      this.#rowBytes = 0;
      this.#row = this.alloc(rowBytes);
      this.#rowBytes = rowBytes;
    }
  }

  #pass(layout: FrameLayout, planes: PlaneLayout[], effect: WasmEffect<EffectParams>, params: EffectParams, from: number, to: number): void {
    const rgba = layout.format === 'rgba';
    for (let index = 0; index < planes.length; index++) {
      const p = planes[index]!;
      effect.plane(
        {
          k: this.#k,
          src: from + p.offset,
          dst: to + p.offset,
          width: p.width,
          height: p.height,
          channels: p.channels,
          rgba,
          chroma: !rgba && index > 0,
          row: this.#row,
          block: this.#block,
        },
        params,
      );
    }
  }
}

/** One plane of one pass, as an effect's WASM entry sees it. */
interface WasmPlane {
  readonly k: KernelExports;
  readonly src: number;
  readonly dst: number;
  readonly width: number;
  readonly height: number;
  readonly channels: number;
  readonly rgba: boolean;
  /** U or V of an I420 frame. */
  readonly chroma: boolean;
  /** Per-row scratch of `rowScratchBytes` bytes. */
  readonly row: number;
  /** Plane scratch of `planeScratchBytes` bytes, for an effect that asks for it. */
  readonly block: number;
}

interface WasmEffect<P> {
  /** Per-row scratch for the widest plane (plane 0: Y or RGBA). */
  rowScratchBytes(k: KernelExports, plane: PlaneLayout, params: P): number;
  /**
   * Plane-sized scratch for the widest plane; absent or 0: none. An effect that asks for it must
   * read all of a plane before it writes any of it: its passes then run in place in dst.
   */
  planeScratchBytes?(k: KernelExports, plane: PlaneLayout, params: P): number;
  plane(p: WasmPlane, params: P): void;
}

const noRowScratch = (): number => 0;
const scratch3x3 = (k: KernelExports, p: PlaneLayout): number => k.scratch3x3(p.width, p.channels);

/** The WASM kernels of each effect; a new effect adds its entry here (the compiler asks for it). */
const PASSES = {
  blur: { rowScratchBytes: scratch3x3, plane: (p) => p.k.blur(p.src, p.dst, p.width, p.height, p.channels, p.row) },
  sharpen: { rowScratchBytes: scratch3x3, plane: (p) => p.k.sharpen(p.src, p.dst, p.width, p.height, p.channels, p.row) },
  edge: {
    rowScratchBytes: scratch3x3,
    plane: (p) => (p.chroma ? p.k.fillBytes(p.dst, 128, p.width * p.height) : p.k.edge(p.src, p.dst, p.width, p.height, p.channels, p.row)),
  },
  gaussian: {
    rowScratchBytes: (k, p, { sigma }) => k.gaussianScratch(p.width, p.height, p.channels, sigma),
    planeScratchBytes: (k, p, { sigma }) => k.gaussianPlaneScratch(p.width, p.height, p.channels, sigma),
    plane: (p, { sigma }) => p.k.gaussian(p.src, p.dst, p.width, p.height, p.channels, sigma, p.row, p.block),
  },
  pixelate: {
    rowScratchBytes: (k, p) => k.pixelateScratch(p.width, p.channels),
    plane: (p, { block }) => p.k.pixelate(p.src, p.dst, p.width, p.height, p.channels, p.chroma ? Math.max(1, block >> 1) : block, p.row),
  },
  invert: { rowScratchBytes: noRowScratch, plane: (p) => p.k.invert(p.src, p.dst, p.width * p.height * p.channels, p.channels) },
  grayscale: {
    rowScratchBytes: noRowScratch,
    plane: (p) => {
      if (p.chroma) return p.k.fillBytes(p.dst, 128, p.width * p.height);
      if (p.rgba) return p.k.grayscaleRgba(p.src, p.dst, p.width * p.height);
      return p.k.copyBytes(p.src, p.dst, p.width * p.height);
    },
  },
} satisfies { readonly [E in FilterEffectName]: WasmEffect<ParamsOf<E>> };
