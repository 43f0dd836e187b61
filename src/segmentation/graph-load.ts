/**
 * Reads a TF.js graph model (model.json + its weight files) into the op list of graph.ts.
 *
 * Steps: decode the weights (float32, or float16 / uint8 quantised, as the manifest says); turn
 * each TensorFlow node into a layer of a small intermediate form, constants resolved; fold, until
 * nothing changes: a constant bias add into the convolution before it (also across a residual
 * add: (conv + r) + b = (conv + b) + r), the hard-swish subgraph x * relu6(x + 3) * (1/6) into one
 * activation, and an activation into the layer before it; then give every remaining value a
 * tensor number and a shape. A node type or attribute this does not know is an error naming it,
 * never a silent approximation. One step a module, in graph-load/: weights.ts, nodes.ts, fold.ts,
 * op-list.ts; this file is the loader's entry and what it exports.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { GraphModel } from './graph.ts';
import { fold } from './graph-load/fold.ts';
import { tensorName, toLayers } from './graph-load/nodes.ts';
import { toModel } from './graph-load/op-list.ts';
import { GraphModelError, type TfGraphModelJson } from './graph-load/tf-json.ts';
import { decodeWeights } from './graph-load/weights.ts';

export { GraphModelError, type TfGraphModelJson };

const MAX_WEIGHT_BYTES = 64 * 1024 * 1024;

/** Builds the op list from a parsed model.json and the bytes of each weight group (its files concatenated). */
export function parseGraphModel(json: TfGraphModelJson, weightGroups: readonly Uint8Array[]): GraphModel {
  if (json.format !== undefined && json.format !== 'graph-model') throw new GraphModelError(`format ${json.format} (only graph-model)`);
  const weights = decodeWeights(json, weightGroups);
  const layers = toLayers(json, weights);
  const outputs = Object.values(json.signature?.outputs ?? {}).map((o) => tensorName(o.name));
  if (outputs.length !== 1) throw new GraphModelError(`the model has ${outputs.length} outputs (only 1)`);
  const output = outputs[0]!;
  while (fold(layers, output) > 0) {
    // folding one layer can make the next fold possible
  }
  return toModel(layers, output);
}

/** Reads model.json and the weight files beside it. */
export function loadGraphModelFile(modelJsonPath: string): GraphModel {
  const json = JSON.parse(readFileSync(modelJsonPath, 'utf8')) as TfGraphModelJson;
  const dir = path.dirname(modelJsonPath);
  let total = 0;
  const groups = json.weightsManifest.map((group) => {
    const parts = group.paths.map((p) => {
      const file = path.resolve(dir, p);
      if (path.dirname(file) !== path.resolve(dir)) throw new GraphModelError(`weight file ${p} lies outside the model's folder`);
      const bytes = readFileSync(file);
      total += bytes.byteLength;
      if (total > MAX_WEIGHT_BYTES) throw new GraphModelError(`the weights exceed ${MAX_WEIGHT_BYTES} bytes`);
      return bytes;
    });
    return new Uint8Array(Buffer.concat(parts));
  });
  return parseGraphModel(json, groups);
}
