/**
 * The native CPU kernels (native/, built by scripts/build-native.mjs into build/kernels-native.so)
 * through koffi: the one file that calls them. Today they hold the gaussian, RGBA grayscale and
 * invert, in AVX-512 or AVX2, each bit-identical to its WASM kernel (test/unit/native-kernels.test.ts):
 * - the gaussian below sigma 5: the FIR, the same fixed-point arithmetic 32 or 64 bytes an
 *   instruction instead of 16; from 5 on the recursive filter, two or four RGBA lines (eight or
 *   sixteen one-channel lines) a vector instead of one, with the f32 arithmetic of the WASM build in
 *   use (fused multiply-adds or not);
 * - grayscale and invert: the same integer arithmetic, 32 or 64 bytes at a time (invert at the
 *   speed of memcpy).
 *
 * They run on frames inside the WASM kernels' linear memory: the library is given a view of that
 * memory, its length and offsets, and checks every plane against the length before it touches it.
 * A call the library does not serve (the FIR on a plane narrower than one vector, planes that
 * overlap, a plane scratch too small) returns false and the caller runs the WASM kernel.
 *
 * koffi is required lazily and the library is optional: a machine without a C++ compiler at build
 * time, or a CPU without AVX2 and FMA, runs the WASM kernels (`chooseNativeKernels` says why). */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { packagePath } from '../paths.ts';
import type { KernelBuild } from './kernel-types.ts';

type Koffi = typeof import('koffi');

/** The instruction sets the library is built for, fastest first. */
export type NativeIsa = 'avx512' | 'avx2';
const ISA_CODE: Record<NativeIsa, number> = { avx512: 512, avx2: 256 };

export const NATIVE_LIBRARY = 'build/kernels-native.so';

export interface NativeKernels {
  readonly isa: NativeIsa;
  /**
   * Gaussian of one w x h plane of c channels from mem[src..] to mem[dst..] (from sigma 5 on
   * through the plane scratch mem[plane .. plane + planeBytes)), as the WASM kernel's gaussian
   * export; false when not done (the caller runs the WASM kernel), and then nothing was written.
   */
  gaussian(mem: Uint8Array, src: number, dst: number, w: number, h: number, c: number, sigma: number, plane: number, planeBytes: number): boolean;
  /** RGBA -> gray of `pixels` pixels, as the grayscaleRgba export; false when not done. */
  grayscaleRgba(mem: Uint8Array, src: number, dst: number, pixels: number): boolean;
  /** 255 - v on `bytes` bytes (alpha kept where channels is 4), as the invert export; false when not done. */
  invert(mem: Uint8Array, src: number, dst: number, bytes: number, channels: number): boolean;
}

/** What NATIVE_KERNELS chose: an instruction set, or why the WASM kernels serve alone. */
export type NativeChoice = { readonly isa: NativeIsa } | { readonly isa: null; readonly reason: string };

interface NativeLibrary {
  readonly cpuIsa: number;
  readonly gaussian: (
    ...args: [isa: number, mem: Uint8Array, memBytes: number, src: number, dst: number, w: number, h: number, c: number, sigma: number, fused: number, plane: number, planeBytes: number]
  ) => number;
  readonly gray: (isa: number, mem: Uint8Array, memBytes: number, src: number, dst: number, pixels: number) => number;
  readonly invert: (isa: number, mem: Uint8Array, memBytes: number, src: number, dst: number, bytes: number, channels: number) => number;
}

let loaded: NativeLibrary | Error | undefined;

function load(path: string): NativeLibrary | Error {
  if (!existsSync(path)) return new Error(`${path} is not built (no C++ compiler at \`npm run build\`)`);
  try {
    const koffi = createRequire(import.meta.url)('koffi') as Koffi;
    const lib = koffi.load(path);
    const isa = lib.func('int rtc_native_isa(void)') as () => number;
    const gaussian = lib.func(
      'int rtc_gaussian(int isa, uint8_t *mem, double memBytes, double src, double dst, int w, int h, int c, double sigma, int fused, double plane, double planeBytes)',
    ) as NativeLibrary['gaussian'];
    const gray = lib.func('int rtc_grayscale_rgba(int isa, uint8_t *mem, double memBytes, double src, double dst, double pixels)') as NativeLibrary['gray'];
    const invert = lib.func('int rtc_invert(int isa, uint8_t *mem, double memBytes, double src, double dst, double bytes, int channels)') as NativeLibrary['invert'];
    return { cpuIsa: isa(), gaussian, gray, invert };
  } catch (err) {
    return err instanceof Error ? err : new Error(String(err));
  }
}

function library(path = packagePath(NATIVE_LIBRARY)): NativeLibrary | Error {
  loaded ??= load(path);
  return loaded;
}

/**
 * NATIVE_KERNELS: `auto` takes the best instruction set this CPU has, `avx2` at most AVX2, `off`
 * none. Loads the library once per thread.
 */
export function chooseNativeKernels(mode: 'auto' | 'avx2' | 'off'): NativeChoice {
  if (mode === 'off') return { isa: null, reason: 'NATIVE_KERNELS=off' };
  const lib = library();
  if (lib instanceof Error) return { isa: null, reason: lib.message };
  if (lib.cpuIsa >= 512 && mode === 'auto') return { isa: 'avx512' };
  if (lib.cpuIsa >= 256) return { isa: 'avx2' };
  return { isa: null, reason: 'this CPU has neither AVX-512 (F, BW, VL) nor AVX2 with FMA' };
}

/**
 * The kernels of `isa` (as chosen by chooseNativeKernels, in this or another thread), doing the
 * arithmetic of the WASM `build` they stand beside. The library is loaded on the first call, so a
 * worker that never runs these effects never loads koffi (about 18 ms a thread); should it not
 * load here after all (the file gone since the choice), every call declines and WASM serves.
 */
export function nativeKernels(isa: NativeIsa, build: KernelBuild): NativeKernels {
  const code = ISA_CODE[isa];
  const fused = build === 'relaxed-simd' ? 1 : 0;
  let lib: NativeLibrary | null | undefined;
  const ready = (): NativeLibrary | null => {
    if (lib === undefined) {
      const loadedHere = library();
      lib = loadedHere instanceof Error || loadedHere.cpuIsa < code ? null : loadedHere;
    }
    return lib;
  };
  return {
    isa,
    gaussian: (mem, src, dst, w, h, c, sigma, plane, planeBytes) =>
      ready()?.gaussian(code, mem, mem.byteLength, src, dst, w, h, c, sigma, fused, plane, planeBytes) === 1,
    grayscaleRgba: (mem, src, dst, pixels) => ready()?.gray(code, mem, mem.byteLength, src, dst, pixels) === 1,
    invert: (mem, src, dst, bytes, channels) => ready()?.invert(code, mem, mem.byteLength, src, dst, bytes, channels) === 1,
  };
}
