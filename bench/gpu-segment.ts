/**
 * Part 3 of bench/gpu.ts: background blur on the device per 720p frame, against TF.js WASM
 * inference on one CPU core in the same run. Device times come from CUDA events around the queued
 * work (no host copies); the TF.js figure is wall time of one inference.
 */
import { performance } from 'node:perf_hooks';
import { createCudaSegmenter } from '../src/cuda/segment.ts';
import { frameBytes, type FrameLayout } from '../src/frames/layout.ts';
import { packagePath } from '../src/paths.ts';
import { createCpuSegmenter } from '../src/segmentation/cpu-mask.ts';
import { frameToModelInput } from '../src/segmentation/graph-frame.ts';
import { loadGraphModelFile } from '../src/segmentation/graph-load.ts';
import { runReferenceGraph } from '../src/segmentation/graph-reference.ts';

export interface SegmentationFigure {
  readonly label: string;
  readonly medianMs: number;
  readonly p95Ms: number;
}

function summarise(label: string, samples: number[]): SegmentationFigure {
  const sorted = [...samples].sort((a, b) => a - b);
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? Number.NaN;
  return { label, medianMs: at(0.5), p95Ms: at(0.95) };
}

/** A 720p frame with structure (gradients and edges), deterministic. */
function frame(layout: FrameLayout): Uint8Array {
  const out = new Uint8Array(frameBytes(layout));
  for (let i = 0; i < out.length; i++) out[i] = ((i * 2654435761) >>> 24) ^ ((i >> 9) & 0xff);
  return out;
}

export async function segmentationFigures(options: { libraryPath?: string | undefined; runs: number }): Promise<SegmentationFigure[]> {
  const model = loadGraphModelFile(packagePath('models/selfie/model.json'));
  const seg = createCudaSegmenter(model, options.libraryPath ? { libraryPath: options.libraryPath } : {});
  const figures: SegmentationFigure[] = [];
  const warm = Math.min(5, options.runs);
  try {
    const input = new Float32Array(256 * 256 * 3).map((_, i) => ((i * 37) % 255) / 255);
    const network: number[] = [];
    for (let i = 0; i < options.runs + warm; i++) {
      const t0 = performance.now();
      seg.runNetwork(input);
      if (i >= warm) network.push(performance.now() - t0);
    }
    figures.push(summarise('network alone (wall, with 1 MB of copies)', network));
    for (const format of ['rgba', 'i420'] as const) {
      const layout: FrameLayout = { format, width: 1280, height: 720 };
      const src = seg.deviceCopy(frame(layout));
      const dst = seg.deviceCopy(new Uint8Array(frameBytes(layout)));
      try {
        for (const [label, infer] of [['whole chain', true], ['mask reused (no inference)', false]] as const) {
          const samples: number[] = [];
          for (let i = 0; i < options.runs + warm; i++) {
            const ms = seg.measure(() =>
              seg.enqueueBackground({ layout, src: src.pointer, dst: dst.pointer, backdrop: { kind: 'blur', strengthPx: 16 }, infer: infer || i === 0, smoothing: 0.5, fresh: i === 0 }),
            );
            if (i >= warm) samples.push(ms);
          }
          figures.push(summarise(`${format} ${label}, strength 16`, samples));
        }
      } finally {
        src.free();
        dst.free();
      }
    }
  } finally {
    seg.dispose();
  }
  const cpu = await createCpuSegmenter();
  const rgba = frame({ format: 'rgba', width: 1280, height: 720 });
  const cpuMs: number[] = [];
  for (let i = 0; i < Math.min(options.runs, 30) + warm; i++) {
    const t0 = performance.now();
    cpu.maskRgba(rgba, 1280, 720);
    if (i >= warm) cpuMs.push(performance.now() - t0);
  }
  figures.push(summarise('CPU baseline: TF.js WASM mask, one core (wall)', cpuMs));
  // Our own op list in plain TypeScript (the oracle), for scale: the runtime is far faster.
  const input = frameToModelInput(rgba, { format: 'rgba', width: 1280, height: 720 }, model.tensors[0]!);
  const ownMs: number[] = [];
  for (let i = 0; i < 3; i++) {
    const t0 = performance.now();
    runReferenceGraph(model, input);
    ownMs.push(performance.now() - t0);
  }
  figures.push(summarise('own layers in plain TypeScript (graph-reference.ts), one core', ownMs));
  return figures;
}
