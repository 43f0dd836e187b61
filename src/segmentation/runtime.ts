/**
 * The inference runtime: TensorFlow.js with its WASM backend (XNNPACK, SIMD, one thread per
 * worker: the pool's workers are the parallelism). The one module that imports @tensorflow/*.
 *
 * TF.js keeps one backend per JavaScript realm, so each worker thread has its own runtime and
 * model; `loadSegmentationModel` is idempotent per realm.
 */
import * as tf from '@tensorflow/tfjs-core';
import { loadGraphModel, type GraphModel } from '@tensorflow/tfjs-converter';
import { setThreadsCount, setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import { createRequire } from 'node:module';
import { dirname } from 'node:path';
import { readModelFiles, SELFIE_MODEL, type ModelSpec } from './model.ts';

export interface SegmentationModel {
  readonly spec: ModelSpec;
  /**
   * Runs the model on `input` (inputHeight * inputWidth * 3 floats, HWC RGB, already scaled) and
   * writes the person probability (inputHeight * inputWidth floats in [0, 1]) into `out`.
   */
  infer(input: Float32Array, out: Float32Array): void;
}

let runtimeReady: Promise<void> | undefined;
const models = new Map<string, Promise<SegmentationModel>>();

function startRuntime(): Promise<void> {
  runtimeReady ??= (async () => {
    const require = createRequire(import.meta.url);
    // The .wasm binaries ship inside the package's dist/ (nothing is downloaded).
    setWasmPaths(`${dirname(require.resolve('@tensorflow/tfjs-backend-wasm'))}/`);
    setThreadsCount(1);
    if (!(await tf.setBackend('wasm'))) throw new Error('the TF.js WASM backend did not start');
    await tf.ready();
  })().catch((err: unknown) => {
    runtimeReady = undefined;
    throw err;
  });
  return runtimeReady;
}

export function loadSegmentationModel(spec: ModelSpec = SELFIE_MODEL): Promise<SegmentationModel> {
  const key = spec.graphPath;
  let model = models.get(key);
  if (!model) {
    model = (async () => {
      await startRuntime();
      const files = await readModelFiles(spec);
      const group = files.graph.weightsManifest[0];
      if (!group) throw new Error(`${spec.graphPath}: no weights`);
      const weights = files.weights.buffer.slice(files.weights.byteOffset, files.weights.byteOffset + files.weights.byteLength) as ArrayBuffer;
      const graph = await loadGraphModel(
        tf.io.fromMemory({
          modelTopology: files.graph.modelTopology as tf.io.ModelArtifacts['modelTopology'],
          weightSpecs: group.weights as tf.io.WeightsManifestEntry[],
          weightData: weights,
        }),
      );
      return new TfjsSegmentationModel(spec, graph);
    })().catch((err: unknown) => {
      models.delete(key);
      throw err;
    });
    models.set(key, model);
  }
  return model;
}

class TfjsSegmentationModel implements SegmentationModel {
  readonly spec: ModelSpec;
  readonly graph: GraphModel;
  readonly #inputShape: [number, number, number, number];

  constructor(spec: ModelSpec, graph: GraphModel) {
    this.spec = spec;
    this.graph = graph;
    this.#inputShape = [1, spec.inputHeight, spec.inputWidth, 3];
  }

  infer(input: Float32Array, out: Float32Array): void {
    const pixels = this.spec.inputWidth * this.spec.inputHeight;
    if (input.length !== pixels * 3) throw new RangeError(`model input must hold ${pixels * 3} floats, got ${input.length}`);
    if (out.length !== pixels) throw new RangeError(`mask output must hold ${pixels} floats, got ${out.length}`);
    // tidy frees every intermediate tensor; the WASM backend runs synchronously, so dataSync does
    // not block on anything but the computation itself.
    const result = tf.tidy(() => {
      const x = tf.tensor4d(input, this.#inputShape, 'float32');
      const y = this.graph.execute(x) as tf.Tensor;
      return y.dataSync() as Float32Array;
    });
    out.set(result.subarray(0, pixels));
  }
}

/** The TF.js graph behind a model of this module (benchmarks compare against TF.js ops with it). */
export function tfjsGraphOf(model: SegmentationModel): GraphModel {
  if (!(model instanceof TfjsSegmentationModel)) throw new TypeError('not a TF.js segmentation model');
  return model.graph;
}
