/**
 * "Own kernels vs the runtime" for the model itself: the plain TypeScript interpreter of the graph
 * (src/segmentation/graph-load.ts + graph-reference.ts, the CUDA path's oracle, one loop nest per
 * op in float64) against TF.js's WASM backend (XNNPACK, SIMD, one thread), on the same 256x256
 * input from scikit-image's astronaut photo, in one run; plus how far their masks differ.
 * Needs the graph modules (the CUDA work); says so and exits 0 when they are absent.
 *
 *   node --import tsx bench/segmentation-interpreter.ts [--runs 3]
 */
import { existsSync } from 'node:fs';
import os from 'node:os';
import { parseArgs } from 'node:util';
import sharp from 'sharp';
import { modelInputFromRgba } from '../src/segmentation/cpu-mask.ts';
import { SELFIE_MODEL } from '../src/segmentation/model.ts';
import { loadSegmentationModel } from '../src/segmentation/runtime.ts';
import { packagePath } from '../src/paths.ts';

const { values: args } = parseArgs({ options: { runs: { type: 'string', default: '3' } } });
const RUNS = Number(args.runs);
const loadPath = new URL('../src/segmentation/graph-load.ts', import.meta.url);
const refPath = new URL('../src/segmentation/graph-reference.ts', import.meta.url);
if (!existsSync(loadPath) || !existsSync(refPath)) {
  console.log('bench: src/segmentation/graph-load.ts and graph-reference.ts are absent (the CUDA work): only the runtime can be measured (bench/segmentation.ts)');
  process.exit(0);
}
// Loose types on purpose: these modules belong to the CUDA path and may change shape.
const { loadGraphModelFile } = (await import(loadPath.href)) as { loadGraphModelFile(path: string): unknown };
const { runReferenceGraph } = (await import(refPath.href)) as { runReferenceGraph(model: unknown, input: Float32Array): Float32Array };

const { data, info } = await sharp('/usr/lib/python3/dist-packages/skimage/data/astronaut.png').ensureAlpha().raw().toBuffer({ resolveWithObject: true });
const input = modelInputFromRgba(new Uint8Array(data.buffer, data.byteOffset, data.byteLength), info.width, info.height);
const runtime = await loadSegmentationModel();
const graph = loadGraphModelFile(packagePath(SELFIE_MODEL.graphPath));
const prob = new Float32Array(SELFIE_MODEL.inputWidth * SELFIE_MODEL.inputHeight);

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1] ?? 0;
const tfjs: number[] = [];
const interp: number[] = [];
let reference: Float32Array = new Float32Array(0);
runtime.infer(input, prob);
for (let i = 0; i < RUNS; i++) {
  let t0 = performance.now();
  runtime.infer(input, prob);
  tfjs.push(performance.now() - t0);
  t0 = performance.now();
  reference = runReferenceGraph(graph, input);
  interp.push(performance.now() - t0);
}
let worst = 0;
for (let i = 0; i < prob.length; i++) worst = Math.max(worst, Math.abs(prob[i]! - reference[i]!));
console.log(`# ${new Date().toISOString().slice(0, 10)} ${process.version} ${os.cpus()[0]?.model.trim()} x${os.cpus().length} (load ${os.loadavg()[0]!.toFixed(2)}), ${RUNS} runs each, interleaved`);
console.log(`TF.js WASM (XNNPACK, SIMD, 1 thread): ${median(tfjs).toFixed(1)} ms median`);
console.log(`TypeScript graph interpreter (float64 loops): ${median(interp).toFixed(1)} ms median (${(median(interp) / median(tfjs)).toFixed(1)}x)`);
console.log(`largest probability difference: ${worst.toExponential(2)}`);
