/**
 * The CUDA side of each filter effect, one entry per effect: the kernels of kernels.cu it launches
 * (each with its launch shape; every `.entry` of the PTX belongs to exactly one effect), the device
 * scratch of a pass, and how a pass queues them. A new effect adds its entry here (the compiler
 * asks for it); test/unit/cuda-ptx.test.ts then asks for its kernels in the PTX and the emulator.
 * An entry can launch only its own kernels: the compiler checks the names.
 */
import type { FilterEffectName, ParamsOf } from '../effects/catalog.ts';
import { GAUSSIAN_RECURSIVE_MIN_SIGMA, gaussianWeights } from '../effects/reference.ts';
import { frameBytes, type FrameLayout, type PlaneLayout } from '../frames/layout.ts';
import type { CuDevicePtr } from './driver.ts';
import { recursiveGaussianFloats } from './gaussian-coefficients.ts';

/** Mirrors of kernels.cu: argument layouts (little-endian, x86-64 / aarch64) and block shapes. */
export const GAUSS_ARGS_BYTES = 424;
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

type Dim3 = readonly [number, number, number];
/** The grid and block of a launch over a plane of `width` x `height` (`block`: pixelate's tile edge). */
export type LaunchShape = (width: number, height: number, block: number) => { readonly grid: Dim3; readonly threads: Dim3 };

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

/** PlaneArgs of kernels.cu. */
export function writePlaneArgs(v: DataView, src: CuDevicePtr, dst: CuDevicePtr, width: number, height: number, block: number): void {
  v.setBigUint64(0, src, true);
  v.setBigUint64(8, dst, true);
  v.setInt32(16, width, true);
  v.setInt32(20, height, true);
  v.setInt32(24, block, true);
  v.setInt32(28, 0, true);
}

/** GaussArgs of kernels.cu: the FIR's taps (radius = taps - 1), or with radius 0 the recursive filter's coefficients. */
export function writeGaussArgs(v: DataView, src: CuDevicePtr, dst: CuDevicePtr, width: number, height: number, radius: number, weights: ArrayLike<number>): void {
  writePlaneArgs(v, src, dst, width, height, radius);
  for (let i = 0; i < weights.length; i++) v.setFloat32(GAUSS_WEIGHTS_OFFSET + 4 * i, weights[i]!, true);
}

/** The device operations an effect's entry may queue, on the backend's stream; `K`: its kernels. */
export interface CudaOps<K extends string> {
  /** A kernel over PlaneArgs. */
  launch(name: K, src: CuDevicePtr, dst: CuDevicePtr, width: number, height: number, block: number): void;
  /** A kernel over GaussArgs. */
  launchGauss(name: K, src: CuDevicePtr, dst: CuDevicePtr, width: number, height: number, radius: number, weights: ArrayLike<number>): void;
  memset(dst: CuDevicePtr, value: number, bytes: number): void;
  copy(dst: CuDevicePtr, src: CuDevicePtr, bytes: number): void;
}

/** One plane of one pass, as an effect's CUDA entry sees it. */
export interface CudaPlane<K extends string> {
  readonly ops: CudaOps<K>;
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
export interface CudaFrame<K extends string> {
  readonly ops: CudaOps<K>;
  readonly layout: FrameLayout;
  readonly from: CuDevicePtr;
  readonly to: CuDevicePtr;
  readonly rgba: boolean;
}

export interface CudaEffect<P, K extends string = string> {
  /** The kernels this effect launches, each with its launch shape. */
  readonly kernels: { readonly [N in K]: LaunchShape };
  /** Device scratch for one pass, given the widest plane. */
  tmpBytes(widest: PlaneLayout, params: P): number;
  plane(p: CudaPlane<K>, params: P): void;
  /** When present, called once per pass instead of `plane`. */
  frame?(f: CudaFrame<K>, params: P): void;
}

/** An entry whose passes may launch only the kernels it lists (the names are checked by the compiler). */
function cudaEffect<const K extends string, P>(effect: CudaEffect<P, K>): CudaEffect<P, K> {
  return effect;
}

const noTmp = (): number => 0;
const samplesOf = (p: PlaneLayout): number => p.width * p.height * p.channels;

/** The CUDA kernels of each effect; a new effect adds its entry here (the compiler asks for it). */
export const PASSES = {
  blur: cudaEffect({
    kernels: { rtc_blur_c4: perPixel, rtc_blur_c1: perPixel },
    tmpBytes: noTmp,
    plane: ({ ops, src, dst, plane: p, c }) => ops.launch(`rtc_blur_${c}`, src, dst, p.width, p.height, 0),
  }),
  sharpen: cudaEffect({
    kernels: { rtc_sharpen_c4: perPixel, rtc_sharpen_c1: perPixel },
    tmpBytes: noTmp,
    plane: ({ ops, src, dst, plane: p, c }) => ops.launch(`rtc_sharpen_${c}`, src, dst, p.width, p.height, 0),
  }),
  edge: cudaEffect({
    kernels: { rtc_edge_c4: perPixel, rtc_edge_c1: perPixel },
    tmpBytes: noTmp,
    plane: ({ ops, src, dst, plane: p, c, chroma }) => (chroma ? ops.memset(dst, 128, samplesOf(p)) : ops.launch(`rtc_edge_${c}`, src, dst, p.width, p.height, 0)),
  }),
  gaussian: cudaEffect({
    kernels: {
      rtc_gaussian_rows_c4: gaussianRows,
      rtc_gaussian_rows_c1: gaussianRows,
      rtc_gaussian_columns_c4: gaussianColumns,
      rtc_gaussian_columns_c1: gaussianColumns,
      rtc_gaussian_recursive_rows_c4: perRow,
      rtc_gaussian_recursive_rows_c1: perRow,
      rtc_gaussian_recursive_columns_c4: perColumn,
      rtc_gaussian_recursive_columns_c1: perColumn,
    },
    // One float plane for the FIR, two for the recursive filter.
    tmpBytes: (p, { sigma }) => samplesOf(p) * 4 * (sigma >= GAUSSIAN_RECURSIVE_MIN_SIGMA ? 2 : 1),
    /**
     * Row pass into the float intermediate, then the column pass into dst: the FIR below
     * GAUSSIAN_RECURSIVE_MIN_SIGMA, the recursive kernels from it on (their column pass keeps its
     * causal sums in a second float plane of `tmp`).
     */
    plane: ({ ops, src, dst, tmp, plane: p, c }, { sigma }) => {
      const recursive = sigma >= GAUSSIAN_RECURSIVE_MIN_SIGMA;
      const weights = recursive ? recursiveGaussianFloats(sigma) : gaussianWeights(sigma);
      const radius = recursive ? 0 : weights.length - 1;
      if (radius > MAX_RADIUS) throw new RangeError(`gaussian: radius ${radius} exceeds the kernels' ${MAX_RADIUS}`);
      ops.launchGauss(recursive ? `rtc_gaussian_recursive_rows_${c}` : `rtc_gaussian_rows_${c}`, src, tmp, p.width, p.height, radius, weights);
      ops.launchGauss(recursive ? `rtc_gaussian_recursive_columns_${c}` : `rtc_gaussian_columns_${c}`, tmp, dst, p.width, p.height, radius, weights);
    },
  }),
  pixelate: cudaEffect({
    kernels: { rtc_pixelate_c4: perTile, rtc_pixelate_c1: perTile, rtc_pixelate_small_c4: perSmallTile, rtc_pixelate_small_c1: perSmallTile },
    tmpBytes: noTmp,
    plane: ({ ops, src, dst, plane: p, c, chroma }, { block }) => {
      const edge = chroma ? Math.max(1, block >> 1) : block;
      ops.launch(edge <= PIXELATE_SMALL_MAX ? `rtc_pixelate_small_${c}` : `rtc_pixelate_${c}`, src, dst, p.width, p.height, edge);
    },
  }),
  grayscale: cudaEffect({
    kernels: { rtc_grayscale_rgba: perPixel },
    tmpBytes: noTmp,
    plane: ({ ops, src, dst, plane: p, rgba, chroma }) => {
      if (chroma) return ops.memset(dst, 128, samplesOf(p));
      if (rgba) return ops.launch('rtc_grayscale_rgba', src, dst, p.width, p.height, 0);
      return ops.copy(dst, src, samplesOf(p));
    },
  }),
  invert: cudaEffect({
    kernels: { rtc_invert_rgba: perPixel, rtc_invert_bytes: perByte },
    tmpBytes: noTmp,
    plane: () => {},
    frame: ({ ops, layout, from, to, rgba }) => {
      if (rgba) return ops.launch('rtc_invert_rgba', from, to, layout.width, layout.height, 0);
      return ops.launch('rtc_invert_bytes', from, to, frameBytes(layout), 1, 0);
    },
  }),
} satisfies { readonly [E in FilterEffectName]: CudaEffect<ParamsOf<E>> };

/** Every `.entry` of kernels.cu: the kernels of all the effects. */
export type CudaKernelName = { [E in FilterEffectName]: keyof (typeof PASSES)[E]['kernels'] & string }[FilterEffectName];

/** Each kernel's launch shape, by name. */
export const LAUNCH_SHAPES: ReadonlyMap<string, LaunchShape> = new Map(Object.values(PASSES).flatMap((effect) => Object.entries(effect.kernels)));

/** The names the PTX must declare, exactly (test/unit/cuda-ptx.test.ts). */
export const CUDA_KERNEL_NAMES = [...LAUNCH_SHAPES.keys()] as readonly CudaKernelName[];
