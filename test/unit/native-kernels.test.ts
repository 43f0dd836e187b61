/**
 * The native kernels (build/kernels-native.so): the gaussian FIR in AVX-512BW and AVX2 gives the
 * WASM kernel's bytes exactly, declines what it does not serve (the WASM kernel then runs), and
 * never reads or writes outside the memory it is handed. Each instruction set this CPU runs is
 * held to the WASM kernels; one it lacks is said and left out.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { test } from 'node:test';
import { GAUSSIAN_RECURSIVE_MIN_SIGMA } from '../../src/effects/catalog.ts';
import type { KernelBuild } from '../../src/effects/kernel-types.ts';
import { chooseNativeKernels, NATIVE_LIBRARY, nativeKernels, type NativeIsa } from '../../src/effects/native.ts';
import { packagePath, packageUrl } from '../../src/paths.ts';
import { randomFrame, relaxedSimdHere, runWithRelaxedSimd } from '../kernels.ts';
import { nativeParity, PARITY_JOBS_PER_LAYOUT, PARITY_LAYOUTS } from '../native-parity.ts';
import { requireOrSkip } from '../tools.ts';


const built = requireOrSkip(existsSync(packagePath(NATIVE_LIBRARY)), NATIVE_LIBRARY, 'apt-get install g++ && npm run build:native');

/** The instruction sets of the library this CPU runs, best first. */
function isasHere(): NativeIsa[] {
  const best = chooseNativeKernels('auto').isa;
  if (best === null) return [];
  return best === 'avx512' ? ['avx512', 'avx2'] : ['avx2'];
}

test('NATIVE_KERNELS: off is none; auto the best this CPU runs; avx2 at most AVX2', { skip: built }, () => {
  assert.deepEqual(chooseNativeKernels('off'), { isa: null, reason: 'NATIVE_KERNELS=off' });
  const auto = chooseNativeKernels('auto');
  const cpuFlags = readFileSync('/proc/cpuinfo', 'utf8');
  const has = (...flags: string[]) => flags.every((f) => new RegExp(`\\b${f}\\b`).test(cpuFlags));
  const expected = has('avx512f', 'avx512bw', 'avx512vl') ? 'avx512' : has('avx2', 'fma') ? 'avx2' : null;
  assert.equal(auto.isa, expected);
  assert.equal(chooseNativeKernels('avx2').isa, expected === null ? null : 'avx2');
});

test('the native FIR serves below the sigma where the recursive filter starts, as the WASM kernels do', { skip: built }, () => {
  const header = readFileSync(packageUrl('native/kernels.h'), 'utf8');
  assert.equal(Number(/#define kRtcFirMaxSigma ([\d.]+)/.exec(header)?.[1]), GAUSSIAN_RECURSIVE_MIN_SIGMA);
  assert.equal(Number(/#define kRtcFirMaxRadius (\d+)/.exec(header)?.[1]), Math.ceil(3 * GAUSSIAN_RECURSIVE_MIN_SIGMA));
});

type Parity = { cases: number; differ: string[] };

/** nativeParity of each isa in one child with the flag Node 20 needs for the relaxed-SIMD build (Node 22 refuses it). */
async function parityInChild(build: KernelBuild, isas: NativeIsa[]): Promise<Parity[]> {
  const child = `import { nativeParity } from ${JSON.stringify(new URL('../native-parity.ts', import.meta.url).href)};
const out = [];
for (const isa of ${JSON.stringify(isas)}) out.push(await nativeParity(${JSON.stringify(build)}, isa));
console.log(JSON.stringify(out));`;
  return JSON.parse(await runWithRelaxedSimd(child)) as Parity[];
}

for (const build of ['simd', 'relaxed-simd'] as const) {
  test(`beside the ${build} build: every gaussian (sigma 0.5 to 24), grayscale and invert byte as the WASM kernels give it, RGBA and I420, AVX-512 and AVX2`, { skip: built }, async (t) => {
    const isas = isasHere();
    if (isas.length < 2) t.diagnostic(`this CPU runs ${isas.join(', ') || 'neither AVX-512 nor AVX2'}: the others are not checked here`);
    const results = build === 'relaxed-simd' && !relaxedSimdHere() ? await parityInChild(build, isas) : await Promise.all(isas.map((isa) => nativeParity(build, isa)));
    assert.equal(results.length, isas.length);
    for (const [i, { cases, differ }] of results.entries()) {
      assert.equal(cases, PARITY_LAYOUTS.length * PARITY_JOBS_PER_LAYOUT, isas[i]);
      assert.deepEqual(differ, [], isas[i]);
    }
  });
}

test('the native gaussian declines what it does not serve and stays inside the memory it is given', { skip: built }, (t) => {
  const isa = isasHere()[0];
  if (isa === undefined) {
    t.skip('this CPU runs neither AVX-512 nor AVX2');
    return;
  }
  const k = nativeKernels(isa, 'simd');
  const w = 64;
  const h = 8;
  const bytes = w * h * 4;
  // Canaries around the planes: anything written outside dst (and the plane scratch) shows.
  const mem = new Uint8Array(6 * bytes).fill(0xa5);
  const src = bytes;
  const dst = 2 * bytes;
  const plane = 3 * bytes;
  const planeBytes = 2 * bytes;
  const input = Buffer.from(randomFrame({ format: 'rgba', width: w, height: h }, 5));
  mem.set(input, src);
  const canaries = (): boolean => mem.subarray(0, src).every((v) => v === 0xa5) && mem.subarray(plane + planeBytes).every((v) => v === 0xa5);

  for (const sigma of [2, 8]) {
    mem.fill(0xa5, dst, dst + bytes);
    assert.equal(k.gaussian(mem, src, dst, w, h, 4, sigma, plane, planeBytes), true, `sigma ${sigma}: a plane it serves`);
    assert.ok(canaries(), `sigma ${sigma}: nothing written outside dst and the plane scratch`);
    assert.ok(mem.subarray(dst, dst + bytes).some((v) => v !== 0xa5), `sigma ${sigma}: dst written`);
    assert.ok(Buffer.from(mem.subarray(src, src + bytes)).equals(input), `sigma ${sigma}: src untouched`);
  }

  const before = Buffer.from(mem);
  const declined: [string, number, number, number, number, number, number, number, number][] = [
    ['sigma 0', src, dst, w, h, 4, 0, plane, planeBytes],
    ['sigma NaN', src, dst, w, h, 4, Number.NaN, plane, planeBytes],
    ['the FIR on a plane narrower than one vector', src, dst, 3, h, 4, 2, plane, planeBytes],
    ['three channels', src, dst, w, h, 3, 2, plane, planeBytes],
    ['the recursive filter on three channels', src, dst, w, h, 3, 8, plane, planeBytes],
    ['one channel, plane scratch short of its 16-row padding', src, dst, w, 40, 1, 8, plane, w * 40 * 2 - 16],
    ['src past the end', 5 * bytes + 16, dst, w, h, 4, 2, plane, planeBytes],
    ['dst past the end', src, 5 * bytes + 1, w, h, 4, 8, plane, planeBytes],
    ['a negative offset', -64, dst, w, h, 4, 2, plane, planeBytes],
    ['the FIR in place', src, src, w, h, 4, 2, plane, planeBytes],
    ['overlapping planes', src, src + 64, w, h, 4, 8, plane, planeBytes],
    ['a huge height', src, dst, w, 1 << 30, 4, 2, plane, planeBytes],
    ['plane scratch too small', src, dst, w, h, 4, 8, plane, w * h * 8 - 16],
    ['plane scratch past the end', src, dst, w, h, 4, 8, 5 * bytes + 64, planeBytes],
    ['plane scratch over dst', src, dst, w, h, 4, 8, dst + 16, planeBytes],
    ['plane scratch over src', src, dst, w, h, 4, 8, src - 16, planeBytes],
    ['plane scratch at an odd offset', src, dst, w, h, 4, 8, plane + 1, planeBytes],
  ];
  for (const [what, s, d, width, height, c, sigma, p, pb] of declined) {
    assert.equal(k.gaussian(mem, s, d, width, height, c, sigma, p, pb), false, what);
    assert.ok(Buffer.from(mem).equals(before), `${what}: memory unchanged`);
  }
  const grayDeclined: [string, number, number, number][] = [
    ['grayscale past the end', src, 5 * bytes + 4, w * h],
    ['grayscale over its source', src, src + 4, w * h],
    ['grayscale of a negative count', src, dst, -1],
    ['grayscale of NaN pixels', src, dst, Number.NaN],
  ];
  for (const [what, s, d, pixels] of grayDeclined) {
    assert.equal(k.grayscaleRgba(mem, s, d, pixels), false, what);
    assert.ok(Buffer.from(mem).equals(before), `${what}: memory unchanged`);
  }
  const invertDeclined: [string, number, number, number, number][] = [
    ['invert past the end', src, 5 * bytes + 4, bytes, 4],
    ['invert over its source', src, src + 1, bytes, 1],
    ['invert of five channels', src, dst, bytes, 5],
    ['invert of a negative count', src, dst, -4, 4],
  ];
  for (const [what, s, d, n, c] of invertDeclined) {
    assert.equal(k.invert(mem, s, d, n, c), false, what);
    assert.ok(Buffer.from(mem).equals(before), `${what}: memory unchanged`);
  }
  assert.equal(k.grayscaleRgba(mem, src, dst, w * h - 3), true, 'grayscale of a count that is no vector multiple');
  assert.ok(mem.subarray(dst + bytes - 12, dst + bytes).every((v, i) => v === before[dst + bytes - 12 + i]), 'grayscale: nothing past its pixels');
  // A side past 65536 pixels is declined even where the memory holds it (the per-thread scratch grows with the side).
  const long = new Uint8Array(2 * 70_000 + 70_000 * 32 + 64);
  assert.equal(k.gaussian(long, 0, 70_000, 70_000, 1, 1, 8, 140_032, 70_000 * 32), false, 'a row of 70000 pixels');
  assert.equal(k.gaussian(long, 0, 70_000, 60_000, 1, 1, 8, 140_032, 60_000 * 32), true, 'a row of 60000 pixels');
  // The recursive filter reads all of src before it writes: in place is the same as apart.
  assert.equal(k.gaussian(mem, src, dst, w, h, 4, 8, plane, planeBytes), true);
  const apart = Buffer.from(mem.subarray(dst, dst + bytes));
  mem.copyWithin(dst, src, src + bytes);
  assert.equal(k.gaussian(mem, dst, dst, w, h, 4, 8, plane, planeBytes), true, 'the recursive filter in place');
  assert.ok(Buffer.from(mem.subarray(dst, dst + bytes)).equals(apart), 'in place: the same bytes');
});
