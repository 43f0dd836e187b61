/**
 * The two builds of the WASM kernels: build/effects.wasm (SIMD) and build/effects-relaxed.wasm
 * (relaxed SIMD: fused multiply-adds in the recursive gaussian). WASM_RELAXED_SIMD=auto picks the
 * relaxed one where the runtime validates it: Node 22 does, Node 20 only with
 * --experimental-wasm-relaxed-simd, so a child (with that flag on Node 20) runs both builds on the same frames.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { chooseKernelBuild } from '../../src/effects/wasm.ts';
import { RELAXED_SIMD_FLAG, relaxedSimdHere, runWithRelaxedSimd } from '../kernels.ts';

test('WASM_RELAXED_SIMD: off is the SIMD build; auto is the relaxed build exactly where the runtime validates it', () => {
  assert.equal(chooseKernelBuild('off'), 'simd');
  assert.equal(chooseKernelBuild('auto'), relaxedSimdHere() ? 'relaxed-simd' : 'simd');
  if (Number(process.versions.node.split('.')[0]) === 20 && !process.execArgv.includes(RELAXED_SIMD_FLAG)) {
    assert.equal(relaxedSimdHere(), false, 'Node 20 runs relaxed SIMD only with the flag');
  }
});

/** What the child prints: per case, the largest difference between the builds and from the reference. */
interface Case {
  what: string;
  buildsDiffer: number;
  relaxedFromReference: number;
}

// Runs in the child: every filter effect at its defaults and the gaussian on both sides of the
// recursive threshold, RGBA and I420, an odd size (kernel tails), both builds and the reference.
const CHILD = `
import { createWasmKernels, referenceApply, resolveParams, FILTER_EFFECT_NAMES } from ${JSON.stringify(new URL('../../src/effects/index.ts', import.meta.url).href)};
import { chooseKernelBuild } from ${JSON.stringify(new URL('../../src/effects/wasm.ts', import.meta.url).href)};
import { randomFrame, runKernels } from ${JSON.stringify(new URL('../kernels.ts', import.meta.url).href)};
const build = chooseKernelBuild('auto');
const simd = await createWasmKernels({ build: 'simd' });
const relaxed = await createWasmKernels({ build: 'relaxed-simd' });
const jobs = [
  ...FILTER_EFFECT_NAMES.filter((e) => e !== 'gaussian').map((effect) => ({ effect, params: resolveParams(effect, {}), iters: 1 })),
  ...[2, 4.9, 5, 8, 24].map((sigma) => ({ effect: 'gaussian', params: resolveParams('gaussian', { sigma }), iters: 1 })),
];
const maxDiff = (a, b) => a.reduce((m, v, i) => Math.max(m, Math.abs(v - b[i])), 0);
const cases = [];
for (const format of ['rgba', 'i420']) {
  const layout = { format, width: 97, height: 61 };
  const src = randomFrame(layout, 23);
  for (const job of jobs) {
    const a = runKernels(simd, layout, job, src);
    const b = runKernels(relaxed, layout, job, src);
    const what = format + ' ' + job.effect + ' ' + JSON.stringify(job.params);
    cases.push({ what, buildsDiffer: maxDiff(a, b), relaxedFromReference: maxDiff(b, referenceApply(layout, job, src)) });
  }
}
console.log(JSON.stringify({ build, cases }));
`;

test('the relaxed build, run where it validates: the same output as the SIMD build but for the recursive gaussian, within 1 level of the definition there', async () => {
  const stdout = await runWithRelaxedSimd(CHILD);
  const { build, cases } = JSON.parse(stdout) as { build: string; cases: Case[] };
  assert.equal(build, 'relaxed-simd', 'the child runs the relaxed build');
  assert.ok(cases.length >= 20, `${cases.length} cases`);
  for (const c of cases) {
    const recursive = /gaussian \{"sigma":(\d+)/.exec(c.what);
    if (recursive && Number(recursive[1]) >= 5) {
      assert.ok(c.buildsDiffer <= 1, `${c.what}: the builds ${c.buildsDiffer} apart`);
      assert.ok(c.relaxedFromReference <= 1, `${c.what}: the relaxed build ${c.relaxedFromReference} from the definition`);
    } else {
      assert.equal(c.buildsDiffer, 0, `${c.what}: the builds differ by ${c.buildsDiffer}`);
    }
  }
});
