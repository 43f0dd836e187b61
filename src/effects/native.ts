/**
 * The native CPU kernels (native/, built by scripts/build-native.mjs into build/kernels-native.so)
 * through koffi: the one file that calls them. Today they hold one kernel, the gaussian FIR below
 * sigma 5, in AVX-512BW or AVX2: the same fixed-point arithmetic as the WASM kernel, 32 or 64 bytes
 * an instruction instead of 16, bit-identical output (test/unit/native-kernels.test.ts).
 *
 * They run on frames inside the WASM kernels' linear memory: the library is given a view of that
 * memory, its length and offsets, and checks every plane against the length before it touches it.
 * A call the library does not serve (a plane narrower than one vector, sigma from 5 on, a plane
 * that overlaps its output) returns false and the caller runs the WASM kernel.
 *
 * koffi is required lazily and the library is optional: a machine without a C++ compiler at build
 * time, or a CPU without AVX2, runs the WASM kernels (`chooseNativeKernels` says why).
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { packagePath } from '../paths.ts';

type Koffi = typeof import('koffi');

/** The instruction sets the library is built for, fastest first. */
export type NativeIsa = 'avx512' | 'avx2';
const ISA_CODE: Record<NativeIsa, number> = { avx512: 512, avx2: 256 };

export const NATIVE_LIBRARY = 'build/kernels-native.so';

export interface NativeKernels {
  readonly isa: NativeIsa;
  /**
   * Gaussian (sigma < 5) of one w x h plane of c channels from mem[src..] to mem[dst..]; false when
   * not done (the caller runs the WASM kernel), and then nothing was written.
   */
  gaussianFir(mem: Uint8Array, src: number, dst: number, w: number, h: number, c: number, sigma: number): boolean;
}

/** What NATIVE_KERNELS chose: an instruction set, or why the WASM kernels serve alone. */
export type NativeChoice = { readonly isa: NativeIsa } | { readonly isa: null; readonly reason: string };

interface NativeLibrary {
  readonly cpuIsa: number;
  readonly fir: (isa: number, mem: Uint8Array, memBytes: number, src: number, dst: number, w: number, h: number, c: number, sigma: number) => number;
}

let loaded: NativeLibrary | Error | undefined;

function load(path: string): NativeLibrary | Error {
  if (!existsSync(path)) return new Error(`${path} is not built (no C++ compiler at \`npm run build\`)`);
  try {
    const koffi = createRequire(import.meta.url)('koffi') as Koffi;
    const lib = koffi.load(path);
    const isa = lib.func('int rtc_native_isa(void)') as () => number;
    const fir = lib.func(
      'int rtc_gaussian_fir(int isa, uint8_t *mem, double memBytes, double src, double dst, int w, int h, int c, double sigma)',
    ) as NativeLibrary['fir'];
    return { cpuIsa: isa(), fir };
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
  return { isa: null, reason: 'this CPU has neither AVX-512BW nor AVX2' };
}

/** The kernels of `isa` (as chosen by chooseNativeKernels, in this or another thread). */
export function nativeKernels(isa: NativeIsa): NativeKernels {
  const lib = library();
  if (lib instanceof Error) throw lib;
  const code = ISA_CODE[isa];
  if (lib.cpuIsa < code) throw new Error(`native kernels: this CPU does not run ${isa}`);
  return {
    isa,
    gaussianFir: (mem, src, dst, w, h, c, sigma) => lib.fir(code, mem, mem.byteLength, src, dst, w, h, c, sigma) === 1,
  };
}
