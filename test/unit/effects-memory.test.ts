/** The WASM backend's frame memory: alignment, reuse, growth, scratch reuse and argument checks. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { frameBytes, type FrameLayout } from '../../src/frames/layout.ts';
import { createWasmKernels, referenceApply, type EffectJob, type EffectKernels } from '../../src/effects/index.ts';

function pattern(bytes: number, salt: number): Uint8Array {
  return Uint8Array.from({ length: bytes }, (_, i) => (i * 31 + salt * 7 + (i >> 8)) & 255);
}

function upload(k: EffectKernels, data: Uint8Array): number {
  const ptr = k.alloc(data.length);
  k.view(ptr, data.length).set(data);
  return ptr;
}

test('alloc returns 16-aligned, disjoint blocks and reuses a freed block of the same size', async () => {
  const k = await createWasmKernels();
  const a = k.alloc(100);
  const b = k.alloc(1);
  const c = k.alloc(100);
  for (const p of [a, b, c]) assert.equal(p % 16, 0);
  assert.ok(b >= a + 100 && c >= b + 1, 'blocks must not overlap');
  k.free(a, 100);
  assert.equal(k.alloc(100), a, 'same-size block reused first');
  const d = k.alloc(200);
  assert.ok(d !== a && d !== b && d !== c);
});

test('memory grows for large blocks; offsets stay valid and views re-taken after growth see the data', async () => {
  const k = await createWasmKernels();
  const small = pattern(4096, 1);
  const ptr = upload(k, small);
  const before = k.view(ptr, small.length);
  const big = k.alloc(64 << 20); // forces memory.grow
  k.view(big, 64 << 20).fill(9);
  assert.equal(before.byteLength, 0, 'a view taken before growth is detached');
  assert.deepEqual(k.view(ptr, small.length), small, 'data at an old offset survives growth');
  assert.equal(k.view(big + (64 << 20) - 1, 1)[0], 9);
  k.free(big, 64 << 20);
  k.free(ptr, small.length);
});

test('free rejects pointers it did not hand out', async () => {
  const k = await createWasmKernels();
  const p = k.alloc(64);
  assert.throws(() => k.free(p + 8, 64), RangeError);
  assert.throws(() => k.free(1 << 30, 64), RangeError);
});

test('run is correct across frame sizes, and a warm run allocates nothing (views stay attached)', async () => {
  const k = await createWasmKernels();
  const job: EffectJob = { effect: 'gaussian', params: { sigma: 3 }, iters: 3 };
  const layouts: FrameLayout[] = [
    { format: 'rgba', width: 40, height: 30 },
    { format: 'rgba', width: 300, height: 200 },
    { format: 'i420', width: 41, height: 29 },
  ];
  for (const layout of layouts) {
    const bytes = frameBytes(layout);
    const src = pattern(bytes, layout.width);
    const s = upload(k, src);
    const d = k.alloc(bytes);
    k.run(layout, job, s, d);
    const expected = referenceApply(layout, job, src);
    const out = k.view(d, bytes);
    for (let i = 0; i < bytes; i++) assert.ok(Math.abs((out[i] ?? 0) - (expected[i] ?? 0)) <= 1, `${layout.width}: byte ${i}`);

    // Warm: the same job again must not grow memory, so a view taken now stays attached.
    const view = k.view(d, bytes);
    k.run(layout, job, s, d);
    assert.equal(view.byteLength, bytes, 'warm run must not grow memory');
    assert.deepEqual(k.view(s, bytes), src, 'source untouched');
    k.free(d, bytes);
    k.free(s, bytes);
  }
});

test('iters 0 copies; many iterations ping-pong correctly', async () => {
  const k = await createWasmKernels();
  const layout: FrameLayout = { format: 'rgba', width: 23, height: 11 };
  const bytes = frameBytes(layout);
  const src = pattern(bytes, 3);
  const s = upload(k, src);
  const d = k.alloc(bytes);
  k.run(layout, { effect: 'sharpen', params: {}, iters: 0 }, s, d);
  assert.deepEqual(k.view(d, bytes), src);
  for (const iters of [2, 4, 5]) {
    const job: EffectJob = { effect: 'blur', params: {}, iters };
    k.run(layout, job, s, d);
    assert.deepEqual(k.view(d, bytes), referenceApply(layout, job, src), `iters ${iters}`);
  }
});

test('run rejects overlapping frames, frames outside memory and bad arguments', async () => {
  const k = await createWasmKernels();
  const layout: FrameLayout = { format: 'rgba', width: 8, height: 8 };
  const bytes = frameBytes(layout);
  const s = k.alloc(bytes);
  const d = k.alloc(bytes);
  const blur: EffectJob = { effect: 'blur', params: {}, iters: 1 };
  assert.throws(() => k.run(layout, blur, s, s), RangeError);
  assert.throws(() => k.run(layout, blur, s, s + 16), RangeError);
  assert.throws(() => k.run(layout, blur, s, 1 << 30), RangeError);
  assert.throws(() => k.run(layout, { ...blur, iters: -1 }, s, d), RangeError);
  assert.throws(() => k.run({ ...layout, width: 0 }, blur, s, d), RangeError);
  assert.throws(() => k.run(layout, { effect: 'pixelate', params: { block: 300 }, iters: 1 }, s, d), RangeError);
  assert.throws(() => k.run(layout, { effect: 'gaussian', params: { sigma: 0 }, iters: 1 }, s, d), RangeError);
});
