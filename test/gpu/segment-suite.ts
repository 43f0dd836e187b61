/**
 * The segmentation kernels of src/cuda/segment.cu against the plain TypeScript reference, on
 * whatever libcuda `options()` names: the emulated driver (test/unit/cuda-segment.test.ts) or a
 * real GPU (test/gpu/segment.test.ts). Each layer kind on small odd shapes with seeded random
 * weights; every frame step (RGBA and I420, each backdrop, mask reuse and smoothing) with a
 * one-layer model; then the real model once at its input size on a photograph (mask IoU >= 0.98
 * against the reference and against the CPU path's TF.js mask), the background blur of that photo
 * level for level, and the CUDA backend's entry points (runBackground, updateMask).
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { createCudaKernels } from '../../src/cuda/cuda-kernels.ts';
import { createCudaSegmenter, type CudaSegmenter } from '../../src/cuda/segment.ts';
import { readSegmentPtx, SEGMENT_KERNEL_NAMES } from '../../src/cuda/segment-args.ts';
import { packagePath } from '../../src/paths.ts';
import { createCpuSegmenter } from '../../src/segmentation/cpu-mask.ts';
import { elements, type Activation, type GraphModel, type GraphOp, type Shape } from '../../src/segmentation/graph.ts';
import { composeReference, edgeMask, frameToModelInput, maskIoU, updateMask, type ReferenceBackdrop } from '../../src/segmentation/graph-frame.ts';
import { planeColour } from '../../src/segmentation/background.ts';
import { frameBytes, type FrameLayout } from '../../src/frames/layout.ts';
import { loadGraphModelFile } from '../../src/segmentation/graph-load.ts';
import { runReferenceGraph } from '../../src/segmentation/graph-reference.ts';
import { loadPhoto, photosAvailable, SKIMAGE_DATA } from '../segmentation/photos.ts';
import { createWasmKernels } from '../../src/effects/wasm.ts';
import { BackgroundEffects, type SegmentKernelExports } from '../../src/segmentation/background.ts';
import { createMaskState, viewMaskState } from '../../src/segmentation/mask-state.ts';
import { SELFIE_MODEL } from '../../src/segmentation/model.ts';
import { rgbaToI420 } from '../../src/segmentation/worker-effects.ts';
import { requireOrSkip } from '../tools.ts';

const photosMissing = requireOrSkip(photosAvailable(), `scikit-image's photos (${SKIMAGE_DATA})`, 'apt-get install python3-skimage');

function maxAbs(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assert.equal(a.length, b.length);
  let worst = 0;
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i]! - b[i]!));
  return worst;
}

/** Deterministic values in [-scale, scale). */
function seeded(seed: number): (n: number, scale?: number) => Float32Array {
  let s = seed >>> 0;
  return (n, scale = 1) => {
    const out = new Float32Array(n);
    for (let i = 0; i < n; i++) {
      s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
      out[i] = ((s / 2 ** 32) * 2 - 1) * scale;
    }
    return out;
  };
}

type LayerSpec =
  | { kind: 'conv2d' | 'depthwise' | 'deconv'; k: number; stride: number; pad: number; outC?: number; act: Activation; out: Shape }
  | { kind: 'avgPool'; k: number; stride: number; out: Shape }
  | { kind: 'resize'; out: Shape; halfPixel: boolean; alignCorners: boolean }
  | { kind: 'activation'; act: Activation }
  | { kind: 'add'; act: Activation }
  | { kind: 'mul'; broadcast: boolean };

/**
 * A model of the layer under test on input `s`. Binary layers take their second operand from a
 * 1x1 convolution of the input (or its global pool, for the broadcast multiply).
 */
function oneLayer(s: Shape, spec: LayerSpec, seed: number): GraphModel {
  const rand = seeded(seed);
  const tensors: Shape[] = [s];
  const ops: GraphOp[] = [];
  const win = (k: number, stride: number, pad: number) => ({ kh: k, kw: k, strideH: stride, strideW: stride, padTop: pad, padLeft: pad });
  switch (spec.kind) {
    case 'conv2d':
    case 'deconv': {
      const outC = spec.outC ?? 5;
      tensors.push(spec.out);
      const filter = rand(spec.k * spec.k * s.c * outC, 0.5);
      ops.push({ kind: spec.kind, input: 0, output: 1, filter, bias: rand(outC, 0.3), act: spec.act, ...win(spec.k, spec.stride, spec.pad) });
      break;
    }
    case 'depthwise':
      tensors.push(spec.out);
      ops.push({ kind: 'depthwise', input: 0, output: 1, filter: rand(spec.k * spec.k * s.c, 0.5), bias: rand(s.c, 0.3), act: spec.act, ...win(spec.k, spec.stride, spec.pad) });
      break;
    case 'avgPool':
      tensors.push(spec.out);
      ops.push({ kind: 'avgPool', input: 0, output: 1, ...win(spec.k, spec.stride, 0) });
      break;
    case 'resize':
      tensors.push(spec.out);
      ops.push({ kind: 'resize', input: 0, output: 1, halfPixel: spec.halfPixel, alignCorners: spec.alignCorners });
      break;
    case 'activation':
      tensors.push(s);
      ops.push({ kind: 'activation', input: 0, output: 1, act: spec.act });
      break;
    case 'add':
    case 'mul': {
      tensors.push(s);
      ops.push({ kind: 'conv2d', input: 0, output: 1, filter: rand(s.c * s.c, 0.5), bias: rand(s.c, 0.3), act: 'none', ...win(1, 1, 0) });
      let b = 1;
      if (spec.kind === 'mul' && spec.broadcast) {
        tensors.push({ h: 1, w: 1, c: s.c });
        ops.push({ kind: 'avgPool', input: 1, output: 2, ...win(s.h, 1, 0), kw: s.w });
        b = 2;
      }
      tensors.push(s);
      const output = tensors.length - 1;
      ops.push(spec.kind === 'add' ? { kind: 'add', a: 0, b, output, act: spec.act } : { kind: 'mul', a: 0, b, output });
      break;
    }
  }
  return { tensors, ops, output: tensors.length - 1, weightBytes: 0 };
}

const S: Shape = { h: 7, w: 9, c: 6 };
const CASES: Array<[string, Shape, LayerSpec]> = [
  ['conv2d 3x3 stride 2 SAME, hswish', S, { kind: 'conv2d', k: 3, stride: 2, pad: 0, act: 'hswish', out: { h: 4, w: 5, c: 5 } }],
  ['conv2d 3x3 stride 1 padded, relu6', S, { kind: 'conv2d', k: 3, stride: 1, pad: 1, act: 'relu6', out: { h: 7, w: 9, c: 5 } }],
  ['conv2d 1x1, sigmoid, 16 out channels', S, { kind: 'conv2d', k: 1, stride: 1, pad: 0, outC: 16, act: 'sigmoid', out: { h: 7, w: 9, c: 16 } }],
  ['conv2d 2x2 VALID, relu', S, { kind: 'conv2d', k: 2, stride: 1, pad: 0, act: 'relu', out: { h: 6, w: 8, c: 5 } }],
  ['depthwise 3x3 stride 2, relu', S, { kind: 'depthwise', k: 3, stride: 2, pad: 0, act: 'relu', out: { h: 4, w: 5, c: 6 } }],
  ['depthwise 5x5 stride 1 padded, hswish', S, { kind: 'depthwise', k: 5, stride: 1, pad: 2, act: 'hswish', out: { h: 7, w: 9, c: 6 } }],
  ['deconv 2x2 stride 2, sigmoid', S, { kind: 'deconv', k: 2, stride: 2, pad: 0, outC: 1, act: 'sigmoid', out: { h: 14, w: 18, c: 1 } }],
  ['deconv 3x3 stride 2 padded, none', S, { kind: 'deconv', k: 3, stride: 2, pad: 1, outC: 3, act: 'none', out: { h: 13, w: 17, c: 3 } }],
  ['global average pool', S, { kind: 'avgPool', k: 7, stride: 1, out: { h: 1, w: 1, c: 6 } }],
  ['average pool 2x2 stride 2', { h: 8, w: 6, c: 3 }, { kind: 'avgPool', k: 2, stride: 2, out: { h: 4, w: 3, c: 3 } }],
  ['bilinear resize x2, half-pixel centres', S, { kind: 'resize', out: { h: 14, w: 18, c: 6 }, halfPixel: true, alignCorners: false }],
  ['bilinear resize to an odd size, align corners', S, { kind: 'resize', out: { h: 11, w: 5, c: 6 }, halfPixel: false, alignCorners: true }],
  ['activation hswish', S, { kind: 'activation', act: 'hswish' }],
  ['activation sigmoid', S, { kind: 'activation', act: 'sigmoid' }],
  ['add, relu', S, { kind: 'add', act: 'relu' }],
  ['multiply, same shape', S, { kind: 'mul', broadcast: false }],
  ['multiply by a per-channel scale (squeeze-excite)', S, { kind: 'mul', broadcast: true }],
];


export function segmentationSuite(options: () => { libraryPath?: string }): void {

  test('the PTX declares exactly the kernels the segmenter loads, each taking one struct', () => {
    const text = readSegmentPtx();
    const params = [...text.matchAll(/^\.visible \.entry (\w+)\(\s*\.param \.align 8 \.b8 \w+\[(\d+)\]\s*\)/gm)].map((m) => [m[1]!, Number(m[2])] as const);
    assert.deepEqual(params.map(([n]) => n).sort(), [...SEGMENT_KERNEL_NAMES].sort());
    for (const [name, bytes] of params) assert.equal(bytes, /to_input|mask_update|down4|blur_|edge_|blend/.test(name) ? 496 : 112, name);
    assert.match(text, /^\.version 8\.0$/m);
    assert.match(text, /^\.target sm_75$/m);
  });

  CASES.forEach(([name, shape, spec], i) => {
    test(`layer: ${name}`, () => {
      const model = oneLayer(shape, spec, 1000 + i);
      const input = seeded(i)(elements(shape), 2);
      const want = runReferenceGraph(model, input);
      const seg = createCudaSegmenter(model, options());
      try {
        const got = seg.runNetwork(input);
        assert.equal(got.length, want.length);
        let worst = 0;
        for (let j = 0; j < want.length; j++) worst = Math.max(worst, Math.abs(got[j]! - want[j]!) / Math.max(1, Math.abs(want[j]!)));
        assert.ok(worst < 1e-5, `relative difference ${worst}`);
        // Not a constant output that would agree by accident.
        assert.ok(new Set(want).size > Math.min(want.length, 4) / 2, 'the reference output varies');
      } finally {
        seg.dispose();
      }
    });
  });

  describe('frame steps on small frames (a one-layer model)', () => {
    // Input 12x10 RGB -> 1x1 convolution to one channel, sigmoid: a small stand-in for the network.
    const tiny = (): GraphModel => {
      const rand = seeded(77);
      return {
        tensors: [{ h: 12, w: 10, c: 3 }, { h: 12, w: 10, c: 1 }],
        ops: [{ kind: 'conv2d', input: 0, output: 1, filter: rand(3, 4), bias: new Float32Array([-0.5]), act: 'sigmoid', kh: 1, kw: 1, strideH: 1, strideW: 1, padTop: 0, padLeft: 0 }],
        output: 1,
        weightBytes: 16,
      };
    };
    const identity: GraphModel = { tensors: [{ h: 12, w: 10, c: 3 }, { h: 12, w: 10, c: 3 }], ops: [{ kind: 'activation', input: 0, output: 1, act: 'none' }], output: 1, weightBytes: 0 };
    const layouts: FrameLayout[] = [
      { format: 'rgba', width: 37, height: 23 },
      { format: 'i420', width: 37, height: 23 },
    ];
    const randomFrame = (layout: FrameLayout, seed: number) => Uint8Array.from(seeded(seed)(frameBytes(layout), 1), (v) => Math.floor((v + 1) * 127.99));

    for (const layout of layouts) {
      test(`${layout.format} frame -> model input`, () => {
        const seg = createCudaSegmenter(identity, options());
        try {
          const frame = randomFrame(layout, 5);
          const got = seg.probabilityOf(frame, layout);
          const want = frameToModelInput(frame, layout, identity.tensors[0]!);
          assert.ok(maxAbs(got, want) < 1e-5, `max difference ${maxAbs(got, want)}`);
        } finally {
          seg.dispose();
        }
        // A model that takes [-1, 1]: value = byte / 127.5 - 1.
        const signed = createCudaSegmenter(identity, { ...options(), input: { scale: 1 / 127.5, offset: -1 } });
        try {
          const frame = randomFrame(layout, 5);
          const got = signed.probabilityOf(frame, layout);
          const want = frameToModelInput(frame, layout, identity.tensors[0]!).map((v) => v * 2 - 1);
          assert.ok(maxAbs(got, want) < 1e-5, `max difference ${maxAbs(got, want)}`);
        } finally {
          signed.dispose();
        }
      });

      const backdrops = [
        ['blur', { kind: 'blur', strengthPx: 3 }],
        // A quarter-grid sigma of 8: the recursive filter (the gaussian's from sigma 5 on).
        ['strong blur', { kind: 'blur', strengthPx: 32 }],
        ['colour', { kind: 'colour', rgb: 0x2080c0 }],
        ['image', { kind: 'image', frame: randomFrame(layout, 9) }],
      ] as const;
      for (const [name, backdrop] of backdrops) {
        test(`${layout.format} person over a ${name} backdrop, then the mask reused and smoothed`, () => {
          const model = tiny();
          const seg = createCudaSegmenter(model, options());
          try {
            const frame = randomFrame(layout, 6);
            const maskShape = model.tensors[1]!;
            const probability = runReferenceGraph(model, frameToModelInput(frame, layout, model.tensors[0]!));
            const mask = new Uint8Array(maskShape.h * maskShape.w);
            updateMask(mask, probability, 1, 1);
            const refBackdrop: ReferenceBackdrop =
              backdrop.kind === 'colour' ? { kind: 'colour', planeValues: [0, 1, 2].map((i) => planeColour(backdrop.rgb, layout, i)) } : backdrop;
            const first = seg.compose(frame, layout, backdrop);
            assert.ok(maxAbs(first.mask, mask) <= 1, 'the fresh mask');
            assert.ok(maxAbs(first.frame, composeReference(frame, layout, first.mask, maskShape, refBackdrop)) <= 1, 'the composed frame');
            assert.ok(new Set(first.mask).size > 4, 'a mask with some variety');

            // A later frame of a session: its mask blends with the previous one (smoothing 0.5).
            const next = randomFrame(layout, 8);
            const previous = first.mask.map((v) => 255 - v);
            const smoothed = seg.compose(next, layout, backdrop, { mask: previous, smoothing: 0.5 });
            const wantMask = previous.slice();
            updateMask(wantMask, runReferenceGraph(model, frameToModelInput(next, layout, model.tensors[0]!)), 1, 0.5);
            assert.ok(maxAbs(smoothed.mask, wantMask) <= 1, 'the smoothed mask');
            // No inference: the frame is composed over the state's mask as it is.
            const reused = seg.compose(next, layout, backdrop, { mask: previous, infer: false });
            assert.deepEqual(reused.mask, previous);
            assert.ok(maxAbs(reused.frame, composeReference(next, layout, previous, maskShape, refBackdrop)) <= 1, 'composed over the reused mask');
          } finally {
            seg.dispose();
          }
        });
      }
    }
  });

  describe('the selfie model at its input size', { skip: photosMissing }, () => {
    let model: GraphModel;
    let seg: CudaSegmenter & { dispose(): void };
    let rgba: Uint8Array;
    let layout: FrameLayout;
    let reference: Float32Array;
    let device: Float32Array;
    before(async () => {
      model = loadGraphModelFile(packagePath('models/selfie/model.json'));
      seg = createCudaSegmenter(model, options());
      const photo = await loadPhoto('astronaut.png');
      rgba = photo.rgba;
      layout = { format: 'rgba', width: photo.width, height: photo.height };
      reference = runReferenceGraph(model, frameToModelInput(rgba, layout, model.tensors[0]!));
      device = seg.probabilityOf(rgba, layout);
    });
    after(() => seg?.dispose());

    test('weights go up once into one buffer; the tensors share a few buffers by liveness', () => {
      assert.ok(seg.stats.weightBytes >= model.weightBytes && seg.stats.weightBytes < model.weightBytes + 256 * 2 * model.ops.length);
      assert.ok(seg.stats.tensorBuffers < 16, `${seg.stats.tensorBuffers} tensor buffers for ${model.tensors.length} tensors`);
      const all = model.tensors.reduce((n, s) => n + elements(s) * 4, 0);
      assert.ok(seg.stats.tensorBytes < all / 2, `${seg.stats.tensorBytes} of ${all} bytes`);
    });

    test('frame -> probability on the device matches the reference (IoU >= 0.98, within 1e-3)', () => {
      assert.ok(maskIoU(device, reference) >= 0.98, `IoU ${maskIoU(device, reference)}`);
      assert.ok(maxAbs(device, reference) < 1e-3, `max difference ${maxAbs(device, reference)}`);
    });

    test('the CPU path (TF.js WASM) and the CUDA path find the same person (IoU >= 0.98)', async () => {
      const cpu = (await createCpuSegmenter()).maskRgba(rgba, layout.width, layout.height).probability;
      const iou = maskIoU(device, cpu);
      assert.ok(iou >= 0.98, `IoU ${iou}`);
    });

    test('through the CUDA backend (pinned frames, a session mask): the same frame as the segmenter, the mask kept and reused; mask jobs', async () => {
      const kernels = await createCudaKernels(options());
      try {
        const bytes = rgba.length;
        const src = kernels.alloc(bytes);
        const dst = kernels.alloc(bytes);
        kernels.view(src, bytes).set(rgba);
        let valid = false;
        const session = { get valid() { return valid; }, mask: new Uint8Array(256 * 256), markValid: () => { valid = true; }, infer: true, smoothing: 0.5 };
        kernels.runBackground(layout, src, dst, { kind: 'blur', strengthPx: 16 }, session);
        const want = seg.compose(rgba, layout, { kind: 'blur', strengthPx: 16 });
        assert.ok(valid, 'the session mask is marked valid');
        assert.deepEqual(session.mask, want.mask);
        assert.deepEqual(kernels.view(dst, bytes), want.frame);
        assert.ok(kernels.lastKernelSeconds > 0);
        // The next frame reuses the mask without inference: same frame, same output.
        kernels.view(dst, bytes).fill(0);
        kernels.runBackground(layout, src, dst, { kind: 'blur', strengthPx: 16 }, { ...session, valid: true, infer: false, markValid: () => assert.fail('no new mask') });
        assert.deepEqual(kernels.view(dst, bytes), want.frame);
        // A live session's mask job: the network and the mask update only, the mask written back.
        let jobValid = false;
        const job = { get valid() { return jobValid; }, mask: new Uint8Array(256 * 256), markValid: () => { jobValid = true; }, smoothing: 0.5 };
        kernels.updateMask(layout, src, job);
        assert.ok(jobValid);
        assert.deepEqual(job.mask, want.mask);
        // Again with the state valid: the same frame blends into the same mask, which stays put.
        kernels.updateMask(layout, src, job);
        assert.ok(maxAbs(job.mask, want.mask) <= 1);
        kernels.free(dst, bytes);
        kernels.free(src, bytes);
      } finally {
        kernels.close();
      }
    });

    test('the CPU path (WASM kernels) and the CUDA path compose the same frame from the same mask: one edge, within 2 levels', async (t) => {
      // The session's mask from the device; the CPU composes over it without the model.
      const mask = seg.compose(rgba, layout, { kind: 'colour', rgb: 0 }).mask;
      const kernels = await createWasmKernels();
      const noModel = { spec: SELFIE_MODEL, infer: () => assert.fail('the mask is reused: no model run') };
      const cpu = new BackgroundEffects(kernels.exports as SegmentKernelExports, kernels, noModel);
      const state = viewMaskState(createMaskState(mask.length), mask.length);
      state.mask.set(mask);
      state.markValid();
      const i420 = new Uint8Array(frameBytes({ format: 'i420', width: layout.width, height: layout.height }));
      rgbaToI420(rgba, layout.width, layout.height, i420);
      for (const [frameLayout, frame] of [[layout, rgba], [{ ...layout, format: 'i420' as const }, i420]] as const) {
        const bytes = frame.length;
        const image = frame.map((v, i) => frame[bytes - 1 - i]! ^ (v & 0x0f));
        const [src, dst, bg] = [kernels.alloc(bytes), kernels.alloc(bytes), kernels.alloc(bytes)];
        kernels.view(src, bytes).set(frame);
        kernels.view(bg, bytes).set(image);
        const cases = [
          { name: 'colour', cpu: { kind: 'colour', rgb: 0x00b140 }, gpu: { kind: 'colour', rgb: 0x00b140 }, levels: 1 },
          { name: 'image', cpu: { kind: 'image', ptr: bg }, gpu: { kind: 'image', frame: image }, levels: 1 },
          { name: 'blur 16', cpu: { kind: 'blur', strengthPx: 16 }, gpu: { kind: 'blur', strengthPx: 16 }, levels: 2 },
        ] as const;
        for (const c of cases) {
          cpu.run({ layout: frameLayout, srcPtr: src, dstPtr: dst, backdrop: c.cpu, state, infer: false, smoothing: 0 });
          const onCpu = kernels.view(dst, bytes).slice();
          const onGpu = seg.compose(frame, frameLayout, c.gpu, { mask, infer: false }).frame;
          const worst = maxAbs(onCpu, onGpu);
          t.diagnostic(`${frameLayout.format} ${c.name}: CPU and GPU at most ${worst} levels apart`);
          assert.ok(worst <= c.levels, `${frameLayout.format} ${c.name}: CPU and GPU ${worst} levels apart (want <= ${c.levels})`);
        }
        for (const p of [src, dst, bg]) kernels.free(p, bytes);
      }
    });

    test('background blur: the reference chain within 1 level, the person sharp and the background blurred', () => {
      const { width, height } = layout;
      const out = seg.compose(rgba, layout, { kind: 'blur', strengthPx: 6 });
      const mask = new Uint8Array(out.mask.length);
      updateMask(mask, reference, 1, 1);
      assert.ok(maxAbs(out.mask, mask) <= 1, 'the mask');
      const want = composeReference(rgba, layout, out.mask, model.tensors[model.output]!, { kind: 'blur', strengthPx: 6 });
      assert.ok(maxAbs(out.frame, want) <= 1, `max difference ${maxAbs(out.frame, want)}`);
      // Per-region sharpness: mean absolute horizontal luma gradient where the mask is sure.
      const shape = model.tensors[model.output]!;
      const edge = edgeMask(out.mask, shape.w, shape.h, width, height);
      const edgeStride = ((width + 3) >> 2) * 4;
      const sharpness = (img: Uint8Array, person: boolean) => {
        let sum = 0;
        let n = 0;
        for (let y = 0; y < height; y++)
          for (let x = 0; x + 1 < width; x++) {
            const m = edge[y * edgeStride + x]!;
            if (person ? m < 255 : m > 0) continue;
            const luma = (i: number) => 0.299 * img[i]! + 0.587 * img[i + 1]! + 0.114 * img[i + 2]!;
            sum += Math.abs(luma((y * width + x + 1) * 4) - luma((y * width + x) * 4));
            n++;
          }
        return sum / n;
      };
      assert.ok(sharpness(out.frame, true) > 0.97 * sharpness(rgba, true), 'the person keeps its detail');
      assert.ok(sharpness(out.frame, false) < 0.5 * sharpness(rgba, false), 'the background loses at least half of its detail');
    });
  });
}
