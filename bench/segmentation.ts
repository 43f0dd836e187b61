/**
 * The background effects per 720p frame on one thread (TF.js WASM is single-threaded here, as in
 * the workers): the model alone (TF.js WASM backend, XNNPACK, SIMD), the pre-processing kernel,
 * the post-processing (mask, blurred background, blend: the whole effect with the mask reused),
 * the whole effect, and for comparison the same pre/post done with TF.js ops around the model.
 * Every measurement is interleaved round-robin in one run, so that a busy machine slows them alike;
 * medians after warm-up. The frame is scikit-image's astronaut photo scaled to 1280x720. With the
 * person detector: one detector pass, a still's first mask (a look, then the model on the person's
 * region), a frame with nobody (three looks), and the whole effect on a live frame whose person is
 * tracked (the model on the tracked region, no detector), the case the 1.2x budget is about.
 *
 * Then the quality table (test/segmentation/composites.ts): per composite, the share of the person
 * kept and of the background replaced, before (the model on the whole frame stretched to its
 * input, no detector) and after (the detector and the people's regions), in the same run.
 *
 *   node --import tsx bench/segmentation.ts [--quick] [--json]
 */
import os from 'node:os';
import { existsSync } from 'node:fs';
import sharp from 'sharp';
import * as tf from '@tensorflow/tfjs-core';
import { createWasmKernels } from '../src/effects/wasm.ts';
import { frameBytes, type FrameLayout, type PixelFormat } from '../src/frames/layout.ts';
import { BackgroundEffects, type Backdrop, type SegmentKernelExports } from '../src/segmentation/background.ts';
import { createMaskState, viewMaskState } from '../src/segmentation/mask-state.ts';
import { loadPersonDetector, loadSegmentationModel, tfjsGraphOf } from '../src/segmentation/runtime.ts';
import { createCpuSegmenter } from '../src/segmentation/cpu-mask.ts';
import { rgbaToI420 } from '../src/segmentation/worker-effects.ts';
import { buildComposite, CASES, cutout, FRAME_HEIGHT, FRAME_WIDTH, keptAndReplaced } from '../test/segmentation/composites.ts';
import { loadPhoto } from '../test/segmentation/photos.ts';

const args = new Set(process.argv.slice(2));
const quick = args.has('--quick');
const json = args.has('--json');
const RUNS = quick ? 9 : 31;
const WARMUP = quick ? 2 : 5;
const WIDTH = 1280;
const HEIGHT = 720;
const PHOTO = '/usr/lib/python3/dist-packages/skimage/data/astronaut.png';

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? (s[mid] ?? 0) : ((s[mid - 1] ?? 0) + (s[mid] ?? 0)) / 2;
}

async function frameRgba(): Promise<Uint8Array> {
  if (existsSync(PHOTO)) {
    const { data } = await sharp(PHOTO).resize(WIDTH, HEIGHT, { fit: 'cover' }).ensureAlpha().raw().toBuffer({ resolveWithObject: true });
    return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  }
  console.error(`bench: ${PHOTO} is absent (python3-skimage); using noise, whose mask is not a person's`);
  return Uint8Array.from({ length: WIDTH * HEIGHT * 4 }, (_, i) => (i * 2654435761) >>> 24);
}

const kernels = await createWasmKernels();
const model = await loadSegmentationModel();
const detector = await loadPersonDetector();
const effects = new BackgroundEffects(kernels.exports as SegmentKernelExports, kernels, model);
const withPeople = new BackgroundEffects(kernels.exports as SegmentKernelExports, kernels, model, detector);
const exportsK = kernels.exports as SegmentKernelExports;
const rgba = await frameRgba();
const i420 = new Uint8Array(frameBytes({ format: 'i420', width: WIDTH, height: HEIGHT }));
rgbaToI420(rgba, WIDTH, HEIGHT, i420);

const spec = model.spec;
const modelPixels = spec.inputWidth * spec.inputHeight;
const input = new Float32Array(modelPixels * 3);
const prob = new Float32Array(modelPixels);
const inputPtr = kernels.alloc(modelPixels * 12);

interface Case {
  readonly name: string;
  readonly run: () => void;
  readonly samples: number[];
}

function frameCases(format: PixelFormat, frame: Uint8Array): Case[] {
  const layout: FrameLayout = { format, width: WIDTH, height: HEIGHT };
  const bytes = frame.length;
  const src = kernels.alloc(bytes);
  const dst = kernels.alloc(bytes);
  kernels.view(src, bytes).set(frame);
  const state = viewMaskState(createMaskState(modelPixels), modelPixels);
  const blur: Backdrop = { kind: 'blur', strengthPx: 16 };
  const colour: Backdrop = { kind: 'colour', rgb: 0x00b140 };
  const base = { layout, srcPtr: src, dstPtr: dst, state, smoothing: 0.5 };
  const pre =
    format === 'rgba'
      ? () => exportsK.resizeRgbaToInput(src, WIDTH, HEIGHT, inputPtr, spec.inputWidth, spec.inputHeight, spec.inputScale, spec.inputOffset)
      : () => {
          const u = src + WIDTH * HEIGHT;
          const v = u + (WIDTH / 2) * (HEIGHT / 2);
          exportsK.resizeI420ToInput(src, u, v, WIDTH, HEIGHT, inputPtr, spec.inputWidth, spec.inputHeight, spec.inputScale, spec.inputOffset);
        };
  return [
    { name: `${format} pre-processing (frame -> model input)`, run: pre, samples: [] },
    { name: `${format} background-blur, mask reused (post-processing)`, run: () => effects.run({ ...base, backdrop: blur, infer: false }), samples: [] },
    { name: `${format} background-replace colour, mask reused`, run: () => effects.run({ ...base, backdrop: colour, infer: false }), samples: [] },
    { name: `${format} background-blur, whole effect (whole frame, no detector)`, run: () => effects.run({ ...base, backdrop: blur, infer: true }), samples: [] },
    ...peopleCases(format, base, blur),
  ];
}

/** The detector's cases on one format: a still (look + region), a live frame with its person tracked. */
function peopleCases(format: PixelFormat, base: { layout: FrameLayout; srcPtr: number; dstPtr: number; smoothing: number }, blur: Backdrop): Case[] {
  const tracked = viewMaskState(createMaskState(modelPixels), modelPixels);
  withPeople.updateMask({ ...base, state: tracked, detect: true });
  if (tracked.rois().length !== 1) console.error(`bench: ${format}: the detector found ${tracked.rois().length} people in the frame, not 1`);
  return [
    { name: `${format} background-blur, still (detector look + the person's region)`, run: () => withPeople.run({ ...base, backdrop: blur, infer: true, detect: true }), samples: [] },
    { name: `${format} background-blur, whole effect, person tracked (live)`, run: () => withPeople.run({ ...base, state: tracked, backdrop: blur, infer: true, detect: false }), samples: [] },
  ];
}

// The TF.js way for comparison: the same resize, the model, the mask back to frame size, all as
// TF.js ops on its WASM backend (no blur: TF.js has no cheap large-radius blur op).
const graph = tfjsGraphOf(model);
const tfjsPrePost = (): void => {
  const mask = tf.tidy(() => {
    const frame = tf.cast(tf.slice(tf.tensor3d(rgba, [HEIGHT, WIDTH, 4], 'int32'), [0, 0, 0], [HEIGHT, WIDTH, 3]), 'float32');
    const small = tf.expandDims(tf.div(tf.image.resizeBilinear(frame as tf.Tensor3D, [spec.inputHeight, spec.inputWidth], false, true), 255), 0);
    const y = graph.execute(small) as tf.Tensor4D;
    return tf.image.resizeBilinear(y, [HEIGHT, WIDTH], false, true);
  });
  mask.dataSync();
  mask.dispose();
};

// A detector pass alone, on the letterboxed frame's input; and a frame with nobody (three looks: the
// whole frame, then its two end squares).
const detectorInput = new Float32Array(detector.spec.inputWidth * detector.spec.inputHeight * 3).map((_, i) => (i * 37) % 256);
const nobody = await nobodyFrame();
const nobodySrc = kernels.alloc(nobody.length);
kernels.view(nobodySrc, nobody.length).set(nobody);
const nobodyLayout: FrameLayout = { format: 'rgba', width: WIDTH, height: HEIGHT };

async function nobodyFrame(): Promise<Uint8Array> {
  const coffee = '/usr/lib/python3/dist-packages/skimage/data/coffee.png';
  if (!existsSync(coffee)) return new Uint8Array(WIDTH * HEIGHT * 4);
  const { data } = await sharp(coffee).resize(WIDTH, HEIGHT, { fit: 'cover' }).ensureAlpha().raw().toBuffer({ resolveWithObject: true });
  return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
}

const cases: Case[] = [
  { name: 'inference alone (TF.js WASM, 1 thread, SIMD)', run: () => model.infer(input, prob), samples: [] },
  { name: 'person detector pass alone (MoveNet MultiPose, 256x256)', run: () => detector.detect(detectorInput), samples: [] },
  { name: 'rgba frame with nobody: mask update (3 detector looks, no model run)', run: () => withPeople.updateMask({ layout: nobodyLayout, srcPtr: nobodySrc, smoothing: 0, detect: true }), samples: [] },
  { name: 'TF.js ops: resize + inference + mask upsampling (rgba)', run: tfjsPrePost, samples: [] },
  ...frameCases('rgba', rgba),
  ...frameCases('i420', i420),
];

for (let i = 0; i < WARMUP; i++) for (const c of cases) c.run();
for (let i = 0; i < RUNS; i++) {
  for (const c of cases) {
    const t0 = performance.now();
    c.run();
    c.samples.push(performance.now() - t0);
  }
}

const inference = median(cases[0]!.samples);
// On a shared machine the medians carry other jobs' load; the least-disturbed runs (min) are compared too.
const inferenceMin = Math.min(...cases[0]!.samples);
const results = cases.map((c) => ({
  name: c.name,
  medianMs: median(c.samples),
  minMs: Math.min(...c.samples),
  runs: c.samples.length,
  vsInference: median(c.samples) / inference,
  vsInferenceMin: Math.min(...c.samples) / inferenceMin,
}));
const meta = {
  date: new Date().toISOString().slice(0, 10),
  node: process.version,
  cpu: os.cpus()[0]?.model ?? 'unknown',
  cores: os.cpus().length,
  loadAverage1m: os.loadavg()[0],
  frame: `${WIDTH}x${HEIGHT}`,
  model: `${spec.graphPath} (${spec.inputWidth}x${spec.inputHeight}), detector ${detector.spec.graphPath}`,
  tfjsBackend: tf.getBackend(),
  simd: tf.env().getBool('WASM_HAS_SIMD_SUPPORT'),
};
const quality = await qualityTable();
if (json) {
  console.log(JSON.stringify({ meta, results, quality }, null, 2));
} else {
  console.log(`# ${meta.date} ${meta.node} ${meta.cpu} x${meta.cores} (load ${meta.loadAverage1m?.toFixed(2)}), ${meta.frame}, ${meta.model}, TF.js ${meta.tfjsBackend} simd=${meta.simd}`);
  console.log('| step | median ms | min ms | x inference (medians) | x inference (mins) |');
  console.log('| --- | ---: | ---: | ---: | ---: |');
  for (const r of results) console.log(`| ${r.name} | ${r.medianMs.toFixed(2)} | ${r.minMs.toFixed(2)} | ${r.vsInference.toFixed(2)} | ${r.vsInferenceMin.toFixed(2)} |`);
  if (quality.length > 0) {
    console.log('');
    console.log('| composite (1280x720) | person kept, before | background replaced, before | person kept, after | background replaced, after |');
    console.log('| --- | ---: | ---: | ---: | ---: |');
    const pct = (v: number) => `${(v * 100).toFixed(1)} %`;
    const kept = (name: string, v: number) => (name.startsWith('no person') ? '–' : pct(v));
    for (const r of quality) console.log(`| ${r.name} | ${kept(r.name, r.before.kept)} | ${pct(r.before.replaced)} | ${kept(r.name, r.after.kept)} | ${pct(r.after.replaced)} |`);
  }
}

/** Person kept and background replaced per composite, before (whole frame) and after (people's regions). */
async function qualityTable(): Promise<Array<{ name: string; before: { kept: number; replaced: number }; after: { kept: number; replaced: number } }>> {
  if (!existsSync(PHOTO)) return [];
  const reference = await createCpuSegmenter();
  const cut = async (file: 'astronaut.png' | 'camera.png') => {
    const photo = await loadPhoto(file);
    const mask = reference.maskRgba(photo.rgba, photo.width, photo.height);
    return cutout(file, mask.probability, mask.width, mask.height);
  };
  const people = { astronaut: await cut('astronaut.png'), camera: await cut('camera.png') };
  const layout: FrameLayout = { format: 'rgba', width: FRAME_WIDTH, height: FRAME_HEIGHT };
  const src = kernels.alloc(FRAME_WIDTH * FRAME_HEIGHT * 4);
  const rows = [];
  for (const spec of CASES) {
    const c = await buildComposite(spec, people);
    kernels.view(src, c.rgba.length).set(c.rgba);
    const measure = (fx: BackgroundEffects) => {
      fx.updateMask({ layout, srcPtr: src, smoothing: 0, detect: true });
      return keptAndReplaced(fx.maskView(), 256, 256, c.person, 80, 176);
    };
    rows.push({ name: spec.name, before: measure(effects), after: measure(withPeople) });
  }
  kernels.free(src, FRAME_WIDTH * FRAME_HEIGHT * 4);
  return rows;
}
