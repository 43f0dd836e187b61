/**
 * The background effects per 720p frame on one thread (TF.js WASM is single-threaded here, as in
 * the workers): the model alone (TF.js WASM backend, XNNPACK, SIMD), the pre-processing kernel,
 * the post-processing (mask, blurred background, blend: the whole effect with the mask reused),
 * the whole effect, and for comparison the same pre/post done with TF.js ops around the model.
 * Every measurement is interleaved round-robin in one run, so that a busy machine slows them alike;
 * medians after warm-up. The frame is scikit-image's astronaut photo scaled to 1280x720.
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
import { loadSegmentationModel, tfjsGraphOf } from '../src/segmentation/runtime.ts';
import { rgbaToI420 } from '../src/segmentation/worker-effects.ts';

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
const effects = new BackgroundEffects(kernels.exports as SegmentKernelExports, kernels, model);
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
    { name: `${format} background-blur, whole effect`, run: () => effects.run({ ...base, backdrop: blur, infer: true }), samples: [] },
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

const cases: Case[] = [
  { name: 'inference alone (TF.js WASM, 1 thread, SIMD)', run: () => model.infer(input, prob), samples: [] },
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
const results = cases.map((c) => ({ name: c.name, medianMs: median(c.samples), minMs: Math.min(...c.samples), runs: c.samples.length, vsInference: median(c.samples) / inference }));
const meta = {
  date: new Date().toISOString().slice(0, 10),
  node: process.version,
  cpu: os.cpus()[0]?.model ?? 'unknown',
  cores: os.cpus().length,
  loadAverage1m: os.loadavg()[0],
  frame: `${WIDTH}x${HEIGHT}`,
  model: `${spec.graphPath} (${spec.inputWidth}x${spec.inputHeight})`,
  tfjsBackend: tf.getBackend(),
  simd: tf.env().getBool('WASM_HAS_SIMD_SUPPORT'),
};
if (json) {
  console.log(JSON.stringify({ meta, results }, null, 2));
} else {
  console.log(`# ${meta.date} ${meta.node} ${meta.cpu} x${meta.cores} (load ${meta.loadAverage1m?.toFixed(2)}), ${meta.frame}, ${meta.model}, TF.js ${meta.tfjsBackend} simd=${meta.simd}`);
  console.log('| step | median ms | min ms | x inference |');
  console.log('| --- | ---: | ---: | ---: |');
  for (const r of results) console.log(`| ${r.name} | ${r.medianMs.toFixed(2)} | ${r.minMs.toFixed(2)} | ${r.vsInference.toFixed(2)} |`);
}
