/**
 * The CPU backend: the AssemblyScript SIMD kernels of build/effects.wasm (`npm run build:wasm`)
 * behind the `EffectKernels` interface.
 *
 * Memory: frames live in the module's own linear memory and are addressed by byte offsets, which
 * stay valid when the memory grows (only views are invalidated). The allocator is a bump pointer
 * over memory.grow with exact-size free lists (sizes rounded up to 16 bytes, blocks 16-aligned).
 *
 * run(): passes ping-pong between at most two scratch frames owned by the kernels; the first pass
 * reads `srcPtr` in place, the last writes `dstPtr`. Scratch (frames and per-row buffers) is kept
 * and only reallocated when a larger frame or radius arrives, so a warm run allocates nothing;
 * note that such a first run may grow the memory and so invalidate views taken before it.
 */
import { readFile } from 'node:fs/promises';
import { frameBytes, planesOf, type FrameLayout, type PlaneLayout } from '../frames/layout.ts';
import type { EffectKernels } from './backend.ts';
import { EFFECTS, isEffectName, isSegmentationEffect, type EffectJob } from './catalog.ts';

// The project compiles without lib "dom" and @types/node 20 has no WebAssembly namespace: declare
// the little of the global WebAssembly API used here.
interface WasmMemory {
  readonly buffer: ArrayBuffer;
  grow(pages: number): number;
}
interface WasmModule {
  readonly __wasmModule?: never;
}
declare const WebAssembly: {
  compile(bytes: Uint8Array): Promise<WasmModule>;
  instantiate(module: WasmModule, imports: Record<string, Record<string, unknown>>): Promise<{ exports: unknown }>;
};

/** The exports of assembly/index.ts. Pointers and sizes are byte offsets / counts. */
interface KernelExports {
  readonly memory: WasmMemory;
  heapBase(): number;
  blur(src: number, dst: number, width: number, height: number, channels: number, scratch: number): void;
  sharpen(src: number, dst: number, width: number, height: number, channels: number, scratch: number): void;
  edge(src: number, dst: number, width: number, height: number, channels: number, scratch: number): void;
  scratch3x3(width: number, channels: number): number;
  gaussian(src: number, dst: number, width: number, height: number, channels: number, sigma: number, scratch: number): void;
  gaussianScratch(width: number, channels: number, sigma: number): number;
  pixelate(src: number, dst: number, width: number, height: number, channels: number, block: number, scratch: number): void;
  pixelateScratch(width: number, channels: number): number;
  invert(src: number, dst: number, bytes: number, channels: number): void;
  grayscaleRgba(src: number, dst: number, pixels: number): void;
  copyBytes(src: number, dst: number, bytes: number): void;
  fillBytes(dst: number, value: number, bytes: number): void;
}

/**
 * build/effects.wasm as seen from src/effects/ (tsx) and from the compiled dist/src/effects/ (or
 * dist/effects/ with a build rooted at src/): the first that exists is used.
 */
const WASM_URLS = [new URL('../../build/effects.wasm', import.meta.url), new URL('../../../build/effects.wasm', import.meta.url)];
const PAGE = 65536;
const ALIGN = 16;
/** Grow by at least this many pages at a time so that a series of allocations grows rarely. */
const MIN_GROW_PAGES = 16;
/** Largest pixelate block the kernel's 16-bit column sums hold (257 * 255 < 65536). */
const MAX_BLOCK = 256;

let compiled: Promise<WasmModule> | undefined;

async function readWasm(): Promise<Uint8Array> {
  let firstError: unknown;
  for (const url of WASM_URLS) {
    try {
      return await readFile(url);
    } catch (err) {
      firstError ??= err;
    }
  }
  const tried = WASM_URLS.map((u) => u.pathname).join(' or ');
  throw new Error(`cannot read ${tried}: run \`npm run build:wasm\` first`, { cause: firstError });
}

function compileModule(): Promise<WasmModule> {
  compiled ??= readWasm()
    .then((bytes) => WebAssembly.compile(bytes))
    .catch((err: unknown) => {
      compiled = undefined;
      throw err;
    });
  return compiled;
}

/** A fresh instance (own memory) of the kernels module; the compiled module is shared. */
export async function createWasmKernels(): Promise<EffectKernels & { readonly exports: unknown }> {
  const module = await compileModule();
  const instance = await WebAssembly.instantiate(module, {
    env: {
      abort() {
        throw new Error('effects.wasm aborted');
      },
    },
  });
  return new WasmKernels(instance.exports as unknown as KernelExports);
}

const alignUp = (n: number) => Math.ceil(n / ALIGN) * ALIGN;

class WasmKernels implements EffectKernels {
  readonly #k: KernelExports;
  readonly #base: number;
  #top: number;
  readonly #free = new Map<number, number[]>();
  /** Ping-pong frames for intermediate passes, each #frameBytes long. */
  #frames: number[] = [];
  #frameBytes = 0;
  #row = 0;
  #rowBytes = 0;

  constructor(exports: KernelExports) {
    this.#k = exports;
    this.#base = alignUp(exports.heapBase());
    this.#top = this.#base;
  }

  alloc(bytes: number): number {
    if (!Number.isSafeInteger(bytes) || bytes < 0) throw new RangeError(`alloc: invalid size ${bytes}`);
    const size = alignUp(Math.max(bytes, 1));
    const reused = this.#free.get(size)?.pop();
    if (reused !== undefined) return reused;
    const ptr = this.#top;
    const end = ptr + size;
    const have = this.#k.memory.buffer.byteLength;
    if (end > have) this.#k.memory.grow(Math.max(MIN_GROW_PAGES, Math.ceil((end - have) / PAGE)));
    this.#top = end;
    return ptr;
  }

  free(ptr: number, bytes: number): void {
    const size = alignUp(Math.max(bytes, 1));
    if (!Number.isSafeInteger(ptr) || ptr % ALIGN !== 0 || ptr < this.#base || ptr + size > this.#top) {
      throw new RangeError(`free: ${ptr} (+${bytes}) was not allocated here`);
    }
    if (ptr + size === this.#top) {
      this.#top = ptr;
      return;
    }
    const list = this.#free.get(size);
    if (list) list.push(ptr);
    else this.#free.set(size, [ptr]);
  }

  view(ptr: number, bytes: number): Uint8Array {
    return new Uint8Array(this.#k.memory.buffer, ptr, bytes);
  }

  /** The module's exports, for kernels that work over the same memory (src/segmentation/). */
  get exports(): unknown {
    return this.#k;
  }

  run(layout: FrameLayout, job: EffectJob, srcPtr: number, dstPtr: number): void {
    const bytes = frameBytes(layout);
    this.#checkFrame(layout, bytes, srcPtr, dstPtr);
    if (!isEffectName(job.effect)) throw new RangeError(`unknown effect ${String(job.effect)}`);
    if (isSegmentationEffect(job.effect)) throw new RangeError(`${job.effect} runs in src/segmentation/, not as a filter`);
    if (!Number.isSafeInteger(job.iters) || job.iters < 0) throw new RangeError(`iters must be an integer >= 0, got ${job.iters}`);
    if (job.iters === 0) {
      this.#k.copyBytes(srcPtr, dstPtr, bytes);
      return;
    }
    const planes = planesOf(layout);
    const sigma = job.params.sigma ?? EFFECTS.gaussian.params.sigma.default;
    const block = job.params.block ?? EFFECTS.pixelate.params.block.default;
    if (job.effect === 'gaussian' && !(sigma > 0 && sigma <= EFFECTS.gaussian.params.sigma.max)) {
      throw new RangeError(`gaussian: sigma must be in (0, ${EFFECTS.gaussian.params.sigma.max}], got ${sigma}`);
    }
    if (job.effect === 'pixelate' && !(Number.isInteger(block) && block >= 1 && block <= MAX_BLOCK)) {
      throw new RangeError(`pixelate: block must be an integer in [1, ${MAX_BLOCK}], got ${block}`);
    }

    this.#ensureScratch(bytes, Math.min(job.iters - 1, 2), this.#rowScratchBytes(job, planes[0], sigma));
    let from = srcPtr;
    for (let pass = 1; pass <= job.iters; pass++) {
      const to = pass === job.iters ? dstPtr : this.#scratchFrame((pass - 1) & 1);
      this.#pass(layout, planes, job, from, to, sigma, block);
      from = to;
    }
  }

  #scratchFrame(index: number): number {
    const ptr = this.#frames[index];
    if (ptr === undefined) throw new Error(`scratch frame ${index} was not allocated`);
    return ptr;
  }

  #checkFrame(layout: FrameLayout, bytes: number, srcPtr: number, dstPtr: number): void {
    const { width, height, format } = layout;
    if (!Number.isSafeInteger(width) || !Number.isSafeInteger(height) || width < 1 || height < 1) {
      throw new RangeError(`invalid frame size ${width}x${height}`);
    }
    if (format !== 'rgba' && format !== 'i420') throw new RangeError(`unknown pixel format ${String(format)}`);
    const end = this.#k.memory.buffer.byteLength;
    for (const ptr of [srcPtr, dstPtr]) {
      if (!Number.isSafeInteger(ptr) || ptr < this.#base || ptr + bytes > end) {
        throw new RangeError(`frame at ${ptr} (+${bytes}) lies outside the kernels' memory`);
      }
    }
    if (srcPtr < dstPtr + bytes && dstPtr < srcPtr + bytes) throw new RangeError('srcPtr and dstPtr frames overlap');
  }

  /** Per-row scratch for the widest plane (plane 0: Y or RGBA). */
  #rowScratchBytes(job: EffectJob, plane: PlaneLayout | undefined, sigma: number): number {
    if (!plane) return 0;
    const { width, channels } = plane;
    switch (job.effect) {
      case 'blur':
      case 'sharpen':
      case 'edge':
        return this.#k.scratch3x3(width, channels);
      case 'gaussian':
        return this.#k.gaussianScratch(width, channels, sigma);
      case 'pixelate':
        return this.#k.pixelateScratch(width, channels);
      case 'grayscale':
      case 'invert':
      case 'background-blur':
      case 'background-replace':
        return 0;
    }
  }

  #ensureScratch(frameBytesNeeded: number, frameCount: number, rowBytes: number): void {
    if (frameCount > 0 && (this.#frames.length < frameCount || this.#frameBytes < frameBytesNeeded)) {
      const size = Math.max(frameBytesNeeded, this.#frameBytes);
      const count = Math.max(frameCount, this.#frames.length);
      for (const ptr of this.#frames) this.free(ptr, this.#frameBytes);
      this.#frames = [];
      this.#frameBytes = size;
      for (let i = 0; i < count; i++) this.#frames.push(this.alloc(size));
    }
    if (rowBytes > this.#rowBytes) {
      if (this.#rowBytes > 0) this.free(this.#row, this.#rowBytes);
      this.#row = this.alloc(rowBytes);
      this.#rowBytes = rowBytes;
    }
  }

  #pass(layout: FrameLayout, planes: PlaneLayout[], job: EffectJob, from: number, to: number, sigma: number, block: number): void {
    const k = this.#k;
    const row = this.#row;
    const rgba = layout.format === 'rgba';
    planes.forEach((p, index) => {
      const src = from + p.offset;
      const dst = to + p.offset;
      const chroma = !rgba && index > 0;
      switch (job.effect) {
        case 'blur':
          return k.blur(src, dst, p.width, p.height, p.channels, row);
        case 'sharpen':
          return k.sharpen(src, dst, p.width, p.height, p.channels, row);
        case 'gaussian':
          return k.gaussian(src, dst, p.width, p.height, p.channels, sigma, row);
        case 'pixelate':
          return k.pixelate(src, dst, p.width, p.height, p.channels, chroma ? Math.max(1, block >> 1) : block, row);
        case 'invert':
          return k.invert(src, dst, p.width * p.height * p.channels, p.channels);
        case 'edge':
          if (chroma) return k.fillBytes(dst, 128, p.width * p.height);
          return k.edge(src, dst, p.width, p.height, p.channels, row);
        case 'grayscale':
          if (chroma) return k.fillBytes(dst, 128, p.width * p.height);
          if (rgba) return k.grayscaleRgba(src, dst, p.width * p.height);
          return k.copyBytes(src, dst, p.width * p.height);
      }
    });
  }
}
