/** Byte bounds: the WASM allocator's budget and reuse, the in-flight byte budget, cost admission, derived defaults. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { cgroupMemoryLimitBytes, configWith, memoryBudgetBytes, workerMemoryBytes } from '../../src/config.ts';
import { GAUSSIAN_RECURSIVE_MIN_SIGMA, type CpuKernels, type EffectName } from '../../src/effects/catalog.ts';
import { createWasmKernels, WasmMemoryExhaustedError } from '../../src/effects/wasm.ts';
import { Admission, costUnits } from '../../src/engine/admission.ts';
import { MemoryBudget } from '../../src/engine/memory-budget.ts';
import { TooCostlyError } from '../../src/errors.ts';

const MiB = 1024 * 1024;

test('a series of distinct sizes reuses the same bytes: memory does not grow per size', async () => {
  const k = await createWasmKernels({ maxMemoryBytes: 80 * MiB });
  const card = 3840 * 2160 * 4;
  // The worker's pattern: a card that stays, a result freed after each job, one new size each time.
  for (let i = 0; i < 120; i++) {
    const bytes = card - i * 3840 * 4;
    const src = k.alloc(bytes);
    const dst = k.alloc(bytes);
    k.free(dst, bytes);
    k.free(src, bytes);
  }
  assert.ok(k.memoryBytes <= 2 * card + 2 * MiB, `memory ${k.memoryBytes} for two 4K frames`);
  assert.equal(k.inUseBytes, 0);
});

test('freed neighbours coalesce and serve a larger block; a smaller one is split from a free block', async () => {
  const k = await createWasmKernels();
  const a = k.alloc(1000);
  const b = k.alloc(1000);
  const keep = k.alloc(16);
  k.free(a, 1000);
  k.free(b, 1000);
  assert.equal(k.alloc(2000), a, 'the two freed blocks merged');
  const c = k.alloc(100);
  assert.ok(c > keep, 'fresh space above');
  k.free(c, 100);
  k.free(a, 2000);
  assert.equal(k.alloc(48), a, 'best fit inside the freed block');
  assert.throws(() => k.free(a + 64, 16), RangeError, 'freeing inside a free block is a double free');
});

test('the budget is a hard bound: past it alloc throws and memory stays put; freeing makes room again', async () => {
  const k = await createWasmKernels({ maxMemoryBytes: 8 * MiB });
  const a = k.alloc(5 * MiB);
  assert.throws(() => k.alloc(5 * MiB), WasmMemoryExhaustedError);
  assert.ok(k.memoryBytes <= 8 * MiB, `memory ${k.memoryBytes}`);
  k.free(a, 5 * MiB);
  const b = k.alloc(7 * MiB);
  assert.equal(b, a);
  assert.ok(k.memoryBytes <= 8 * MiB);
});

test('MemoryBudget: reservations fit or are refused whole, grow, shrink and release once', () => {
  const budget = new MemoryBudget(100);
  const r = budget.tryReserve(60)!;
  assert.ok(r);
  assert.equal(budget.tryReserve(50), undefined);
  assert.equal(r.grow(50), false);
  assert.equal(budget.inUseBytes, 60);
  assert.ok(r.grow(40));
  r.shrinkTo(10);
  assert.equal(budget.inUseBytes, 10);
  r.release();
  r.release();
  assert.equal(budget.inUseBytes, 0);
});

test('cost: pixels x passes x weight; gaussian weight grows with sigma up to the recursive filter, then stays; I420 costs less than RGBA', () => {
  const hd = { format: 'rgba', width: 1920, height: 1080 } as const;
  const blur = costUnits(hd, { effect: 'blur', params: {}, iters: 10 });
  assert.equal(blur, 1920 * 1080 * 10);
  const gaussian = (sigma: number) => costUnits(hd, { effect: 'gaussian', params: { sigma }, iters: 1 });
  assert.ok(gaussian(2) < gaussian(4) && gaussian(4) > 10 * costUnits(hd, { effect: 'blur', params: {}, iters: 1 }));
  assert.equal(gaussian(GAUSSIAN_RECURSIVE_MIN_SIGMA), gaussian(32), 'the recursive filter costs the same whatever sigma');
  assert.ok(costUnits({ ...hd, format: 'i420' }, { effect: 'blur', params: {}, iters: 1 }) < costUnits(hd, { effect: 'blur', params: {}, iters: 1 }));
});

test('cost follows the CPU kernels: the native gaussian and grayscale weigh less, more so with AVX-512; the rest as on WASM', () => {
  const hd = { format: 'rgba', width: 1920, height: 1080 } as const;
  const i420 = { ...hd, format: 'i420' } as const;
  const units = (layout: typeof hd | typeof i420, effect: EffectName, params: Record<string, number>, cpu: CpuKernels) =>
    costUnits(layout, { effect, params, iters: 1 }, undefined, cpu);
  for (const params of [{ sigma: 2 }, { sigma: 4.9 }, { sigma: 8 }]) {
    const [wasm, avx2, avx512] = (['wasm', 'avx2', 'avx512'] as const).map((cpu) => units(hd, 'gaussian', params, cpu));
    assert.ok(avx512! < avx2! && avx2! < wasm!, `sigma ${params.sigma}: ${avx512} < ${avx2} < ${wasm}`);
  }
  assert.equal(units(hd, 'gaussian', { sigma: 8 }, 'avx512'), units(hd, 'gaussian', { sigma: 32 }, 'avx512'), 'the recursive filter: the same whatever sigma');
  // The native recursive filter gathers I420's one-channel planes first: relatively dearer than its bytes say.
  assert.ok(units(i420, 'gaussian', { sigma: 8 }, 'avx512') > 0.4 * units(hd, 'gaussian', { sigma: 8 }, 'avx512'));
  assert.equal(units(i420, 'gaussian', { sigma: 8 }, 'wasm'), 0.4 * units(hd, 'gaussian', { sigma: 8 }, 'wasm'));
  assert.ok(units(hd, 'grayscale', {}, 'avx512') < units(hd, 'grayscale', {}, 'wasm'));
  for (const effect of ['blur', 'sharpen', 'edge', 'pixelate'] as const) {
    assert.equal(units(hd, effect, {}, 'avx512'), units(hd, effect, {}, 'wasm'), `${effect}: WASM either way`);
  }
  assert.equal(costUnits(hd, { effect: 'gaussian', params: { sigma: 2 }, iters: 1 }), units(hd, 'gaussian', { sigma: 2 }, 'wasm'), 'default: the WASM kernels');
});

test('admission refuses a job over MAX_JOB_SECONDS, keeps the backlog of what it admitted, then admits again', () => {
  const adm = new Admission({ maxJobSeconds: 2 });
  const perSecond = 1 / adm.secondsPerUnit;
  assert.throws(() => adm.admit(3 * perSecond), TooCostlyError);
  const first = adm.admit(0.4 * perSecond);
  const second = adm.admit(0.4 * perSecond);
  assert.ok(Math.abs(adm.backlogSeconds - 0.8) < 0.01, `backlog ${adm.backlogSeconds}`);
  first.done();
  second.done();
  second.done();
  assert.equal(adm.backlogSeconds, 0);
  adm.admit(0.1 * perSecond).done();
});

test('admission learns the seconds per unit from finished jobs', () => {
  const adm = new Admission({ maxJobSeconds: 10 });
  for (let i = 0; i < 30; i++) adm.admit(1e6).done({ units: 1e6, computeSeconds: 0.01 });
  assert.ok(Math.abs(adm.secondsPerUnit - 1e-8) / 1e-8 < 0.1, `learnt ${adm.secondsPerUnit}`);
});

test('derived memory settings: from the cgroup limit with headroom, else 512 MiB; explicit values win', () => {
  const config = configWith({ workers: 2, mediaWorkers: 1, maxPixels: 1920 * 1080, testCardCacheBytes: 16 * MiB });
  const worker = workerMemoryBytes(config);
  assert.equal(worker, 4 * 1920 * 1080 * 4 + 16 * MiB + 16 * MiB);
  assert.equal(memoryBudgetBytes(config, undefined), 512 * MiB);
  assert.equal(memoryBudgetBytes(config, 2048 * MiB), 1536 * MiB - 256 * MiB - 3 * worker, 'the media worker counts too');
  assert.equal(memoryBudgetBytes(config, 256 * MiB), 64 * MiB, 'never below 64 MiB');
  assert.equal(memoryBudgetBytes({ ...config, memoryBudgetBytes: 100 * MiB }, 2048 * MiB), 100 * MiB);
  assert.equal(cgroupMemoryLimitBytes(() => 'max\n'), undefined);
  assert.equal(cgroupMemoryLimitBytes(() => '2147483648\n'), 2 * 1024 * MiB);
  assert.equal(cgroupMemoryLimitBytes(() => '9223372036854771712'), undefined, 'cgroup v1 unlimited');
  assert.equal(cgroupMemoryLimitBytes(() => {
    throw new Error('ENOENT');
  }), undefined);
});

test('MemoryBudget: one client holds at most its share; others still fit', () => {
  const budget = new MemoryBudget(100, 0.5);
  const a = budget.tryReserve(40, 'a')!;
  assert.equal(budget.tryReserve(20, 'a'), undefined, 'over the client share');
  assert.equal(a.grow(20), false);
  const b = budget.tryReserve(50, 'b');
  assert.ok(b);
  a.release();
  assert.ok(budget.tryReserve(50, 'a'));
});
