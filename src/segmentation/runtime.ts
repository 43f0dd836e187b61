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
import { DETECTOR_MODEL, readModelFiles, SELFIE_MODEL, type ModelSpec } from './model.ts';

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

async function loadGraph(spec: ModelSpec): Promise<GraphModel> {
  await startRuntime();
  const files = await readModelFiles(spec);
  const group = files.graph.weightsManifest[0];
  if (!group) throw new Error(`${spec.graphPath}: no weights`);
  const weights = files.weights.buffer.slice(files.weights.byteOffset, files.weights.byteOffset + files.weights.byteLength) as ArrayBuffer;
  return loadGraphModel(
    tf.io.fromMemory({
      modelTopology: files.graph.modelTopology as tf.io.ModelArtifacts['modelTopology'],
      weightSpecs: group.weights as tf.io.WeightsManifestEntry[],
      weightData: weights,
    }),
  );
}

export function loadSegmentationModel(spec: ModelSpec = SELFIE_MODEL): Promise<SegmentationModel> {
  const key = spec.graphPath;
  let model = models.get(key);
  if (!model) {
    model = loadGraph(spec)
      .then((graph) => new TfjsSegmentationModel(spec, graph))
      .catch((err: unknown) => {
        models.delete(key);
        throw err;
      });
    models.set(key, model);
  }
  return model;
}

export interface PersonDetectorModel {
  readonly spec: ModelSpec;
  /**
   * Runs the detector on `input` (inputHeight * inputWidth * 3 floats, HWC RGB bytes 0..255) and
   * returns its raw output: 6 people x 56 values (people.ts decodes them).
   */
  detect(input: Float32Array): Float32Array;
}

let detector: Promise<PersonDetectorModel> | undefined;

/** The person detector (models/movenet-multipose), once per realm. */
export function loadPersonDetector(): Promise<PersonDetectorModel> {
  detector ??= loadGraph(DETECTOR_MODEL)
    .then((graph): PersonDetectorModel => {
      const spec = DETECTOR_MODEL;
      const shape: [number, number, number, number] = [1, spec.inputHeight, spec.inputWidth, 3];
      return {
        spec,
        detect(input) {
          if (input.length !== spec.inputWidth * spec.inputHeight * 3) throw new RangeError(`detector input must hold ${spec.inputWidth * spec.inputHeight * 3} values, got ${input.length}`);
          return tf.tidy(() => {
            // The graph takes int32 bytes; the floats are whole already up to the bilinear fraction.
            const x = tf.cast(tf.round(tf.tensor4d(input, shape, 'float32')), 'int32');
            return (graph.execute(x) as tf.Tensor).dataSync() as Float32Array;
          }).slice();
        },
      };
    })
    .catch((err: unknown) => {
      detector = undefined;
      throw err;
    });
  return detector;
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
