/**
 * The person-segmentation model: where its files are and what it expects. One place to change
 * when another model is swapped in (docs/segmentation.md says how).
 *
 * MediaPipe selfie segmentation (general, square input), as a TF.js graph model: input
 * `[1, 256, 256, 3]` float RGB in [0, 1] (the frame stretched to 256x256, bilinear with
 * half-pixel centres), output `[1, 256, 256, 1]` sigmoid: the probability that a pixel is a person.
 */
import { readFile } from 'node:fs/promises';

export interface ModelSpec {
  /** Graph model JSON (topology + weights manifest), relative to the repository root. */
  readonly graphPath: string;
  /** The weights file the manifest names. */
  readonly weightsPath: string;
  readonly inputWidth: number;
  readonly inputHeight: number;
  /** Input value = (byte * inputScale) + inputOffset. */
  readonly inputScale: number;
  readonly inputOffset: number;
}

export const SELFIE_MODEL: ModelSpec = {
  graphPath: 'models/selfie/model.json',
  weightsPath: 'models/selfie/selfie.bin',
  inputWidth: 256,
  inputHeight: 256,
  inputScale: 1 / 255,
  inputOffset: 0,
};

/**
 * The person detector (models/movenet-multipose/ORIGIN.md): MoveNet MultiPose Lightning, input
 * `[1, 256, 256, 3]` int32 RGB bytes (the frame letterboxed into the square), output `[1, 6, 56]`,
 * up to six people, each 17 keypoints then a box and its score (people.ts decodes it).
 */
export const DETECTOR_MODEL: ModelSpec = {
  graphPath: 'models/movenet-multipose/model.json',
  weightsPath: 'models/movenet-multipose/movenet-multipose.bin',
  inputWidth: 256,
  inputHeight: 256,
  inputScale: 1,
  inputOffset: 0,
};

/** The model files as bytes, found from src/segmentation/ (tsx) or dist/src/segmentation/ (built). */
export interface ModelFiles {
  readonly graph: {
    readonly modelTopology: unknown;
    readonly weightsManifest: ReadonlyArray<{ readonly paths: readonly string[]; readonly weights: readonly unknown[] }>;
  };
  readonly weights: Uint8Array;
}

const ROOTS = [new URL('../../', import.meta.url), new URL('../../../', import.meta.url)];

async function readFirst(relative: string): Promise<Buffer> {
  let firstError: unknown;
  for (const root of ROOTS) {
    try {
      return await readFile(new URL(relative, root));
    } catch (err) {
      firstError ??= err;
    }
  }
  throw new Error(`cannot read the segmentation model file ${relative}`, { cause: firstError });
}

export async function readModelFiles(spec: ModelSpec = SELFIE_MODEL): Promise<ModelFiles> {
  const [graphText, weights] = await Promise.all([readFirst(spec.graphPath), readFirst(spec.weightsPath)]);
  const graph = JSON.parse(graphText.toString('utf8')) as ModelFiles['graph'];
  if (!Array.isArray(graph.weightsManifest) || graph.weightsManifest.length !== 1) {
    throw new Error(`${spec.graphPath}: expected one weights group`);
  }
  return { graph, weights: new Uint8Array(weights.buffer, weights.byteOffset, weights.byteLength) };
}
