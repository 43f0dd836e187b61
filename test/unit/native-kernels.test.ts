/**
 * The native kernels (build/kernels-native.so): the gaussian FIR in AVX-512BW and AVX2 gives the
 * WASM kernel's bytes exactly, declines what it does not serve (the WASM kernel then runs), and
 * never reads or writes outside the memory it is handed. Each instruction set this CPU runs is
 * held to the WASM kernels; one it lacks is said and left out.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { test } from 'node:test';
import { GAUSSIAN_RECURSIVE_MIN_SIGMA, resolveParams, type EffectJob } from '../../src/effects/catalog.ts';
import { chooseNativeKernels, NATIVE_LIBRARY, nativeKernels, type NativeIsa } from '../../src/effects/native.ts';
import { createWasmKernels } from '../../src/effects/wasm.ts';
import type { FrameLayout } from '../../src/frames/layout.ts';
import { packagePath, packageUrl } from '../../src/paths.ts';
import { randomFrame, runKernels } from '../kernels.ts';
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
  const expected = /\bavx512bw\b/.test(cpuFlags) && /\bavx512vl\b/.test(cpuFlags) ? 'avx512' : /\bavx2\b/.test(cpuFlags) ? 'avx2' : null;
  assert.equal(auto.isa, expected);
  assert.equal(chooseNativeKernels('avx2').isa, expected === null ? null : 'avx2');
});

test('the native FIR serves below the sigma where the recursive filter starts, as the WASM kernels do', { skip: built }, () => {
  const header = readFileSync(packageUrl('native/kernels.h'), 'utf8');
  assert.equal(Number(/#define kRtcFirMaxSigma ([\d.]+)/.exec(header)?.[1]), GAUSSIAN_RECURSIVE_MIN_SIGMA);
  assert.equal(Number(/#define kRtcFirMaxRadius (\d+)/.exec(header)?.[1]), Math.ceil(3 * GAUSSIAN_RECURSIVE_MIN_SIGMA));
});

// Sizes: vector multiples, odd widths and heights (the overlapping last chunk, the one-row sweep),
// one row, planes one vector wide, and narrower ones that the WASM kernel serves alone.
const LAYOUTS: FrameLayout[] = [
  { format: 'rgba', width: 1280, height: 720 },
  { format: 'rgba', width: 97, height: 61 },
  { format: 'rgba', width: 16, height: 5 },
  { format: 'rgba', width: 9, height: 3 },
  { format: 'rgba', width: 641, height: 1 },
  { format: 'i420', width: 642, height: 362 },
  { format: 'i420', width: 130, height: 33 },
];
const SIGMAS = [0.5, 1, 2, 3.3, 4.99, 5, 8];

for (const isa of ['avx512', 'avx2'] as const) {
  test(`${isa}: every gaussian byte as the WASM kernels give it, RGBA and I420, sigma 0.5 to 8`, { skip: built }, async (t) => {
    if (!isasHere().includes(isa)) {
      t.skip(`this CPU does not run ${isa}`);
      return;
    }
    const wasm = await createWasmKernels();
    const native = await createWasmKernels({ native: nativeKernels(isa) });
    let cases = 0;
    for (const layout of LAYOUTS) {
      const src = randomFrame(layout, layout.width * 31 + layout.height);
      for (const sigma of SIGMAS) {
        const job: EffectJob = { effect: 'gaussian', params: resolveParams('gaussian', { sigma }), iters: 2 };
        const a = runKernels(wasm, layout, job, src);
        const b = runKernels(native, layout, job, src);
        assert.ok(Buffer.from(a).equals(Buffer.from(b)), `${isa} ${layout.format} ${layout.width}x${layout.height} sigma ${sigma}: output differs`);
        cases++;
      }
    }
    assert.equal(cases, LAYOUTS.length * SIGMAS.length);
  });
}

test('the native FIR declines what it does not serve and stays inside the memory it is given', { skip: built }, (t) => {
  const isa = isasHere()[0];
  if (isa === undefined) {
    t.skip('this CPU runs neither AVX-512BW nor AVX2');
    return;
  }
  const fir = nativeKernels(isa);
  const w = 64;
  const h = 8;
  const bytes = w * h * 4;
  // Canaries around the planes: anything written outside [dst, dst + bytes) shows.
  const mem = new Uint8Array(4 * bytes).fill(0xa5);
  const src = bytes;
  const dst = 2 * bytes;
  mem.set(randomFrame({ format: 'rgba', width: w, height: h }, 5), src);
  const untouched = (): boolean => mem.subarray(0, src).every((v) => v === 0xa5) && mem.subarray(dst + bytes).every((v) => v === 0xa5);

  assert.equal(fir.gaussianFir(mem, src, dst, w, h, 4, 2), true, 'a plane it serves');
  assert.ok(untouched(), 'nothing written outside dst');
  assert.notDeepEqual(mem.subarray(dst, dst + bytes), new Uint8Array(bytes).fill(0xa5), 'dst written');

  const before = Buffer.from(mem);
  const declined: [string, number, number, number, number, number, number][] = [
    ['sigma from 5 on (the recursive filter)', src, dst, w, h, 4, 5],
    ['sigma 0', src, dst, w, h, 4, 0],
    ['sigma NaN', src, dst, w, h, 4, Number.NaN],
    ['a plane narrower than one vector', src, dst, 3, h, 4, 2],
    ['three channels', src, dst, w, h, 3, 2],
    ['src past the end', 3 * bytes + 16, dst, w, h, 4, 2],
    ['dst past the end', src, 3 * bytes + 1, w, h, 4, 2],
    ['a negative offset', -64, dst, w, h, 4, 2],
    ['in place', src, src, w, h, 4, 2],
    ['overlapping planes', src, src + 64, w, h, 4, 2],
    ['a huge height', src, dst, w, 1 << 30, 4, 2],
  ];
  for (const [what, s, d, width, height, c, sigma] of declined) {
    assert.equal(fir.gaussianFir(mem, s, d, width, height, c, sigma), false, what);
    assert.ok(Buffer.from(mem).equals(before), `${what}: memory unchanged`);
  }
});
