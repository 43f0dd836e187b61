/**
 * The TF.js graph loader on the real model file (models/selfie), and the plain TypeScript
 * interpreter of its op list against TF.js itself (the CPU path's runtime, WASM backend) on
 * photographs of people from scikit-image's data (python3-skimage). Photos missing: skipped, except
 * in CI where that is a failure.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { before, describe, test } from 'node:test';
import { packagePath } from '../../src/paths.ts';
import { createCpuSegmenter, type CpuSegmenter } from '../../src/segmentation/cpu-mask.ts';
import { elements, type GraphModel } from '../../src/segmentation/graph.ts';
import { frameToModelInput, maskIoU } from '../../src/segmentation/graph-frame.ts';
import { GraphModelError, loadGraphModelFile, parseGraphModel, type TfGraphModelJson } from '../../src/segmentation/graph-load.ts';
import { runReferenceGraph } from '../../src/segmentation/graph-reference.ts';
import { loadPhoto, photosAvailable, SKIMAGE_DATA } from '../segmentation/photos.ts';
import { requireOrSkip } from '../tools.ts';

const MODEL_JSON = packagePath('models/selfie/model.json');
const PHOTOS = ['astronaut.png', 'camera.png'] as const;

const photosMissing = requireOrSkip(photosAvailable(), `scikit-image's photos (${SKIMAGE_DATA})`, 'apt-get install python3-skimage');

function modelJson(): TfGraphModelJson {
  return JSON.parse(readFileSync(MODEL_JSON, 'utf8')) as TfGraphModelJson;
}
const weightBytes = () => [new Uint8Array(readFileSync(packagePath('models/selfie/selfie.bin')))];

describe('graph loader on the selfie model', () => {
  let model: GraphModel;
  before(() => {
    model = loadGraphModelFile(MODEL_JSON);
  });

  test('reads the network as 92 layers with every bias and activation folded in', () => {
    const kinds: Record<string, number> = {};
    for (const op of model.ops) kinds[op.kind] = (kinds[op.kind] ?? 0) + 1;
    assert.deepEqual(kinds, { conv2d: 43, depthwise: 11, deconv: 1, avgPool: 10, mul: 10, add: 14, resize: 3 });
    assert.equal(model.ops.length, 92);
    // 43 Conv2D + 11 depthwise + 1 transposed conv nodes in the file: each is one layer here.
    const acts: Record<string, number> = {};
    for (const op of model.ops) if ('act' in op) acts[`${op.kind}:${op.act}`] = (acts[`${op.kind}:${op.act}`] ?? 0) + 1;
    assert.equal(acts['conv2d:hswish'], 6);
    assert.equal(acts['depthwise:hswish'], 5);
    assert.equal(acts['conv2d:sigmoid'], 10, 'the squeeze-excite gates');
    assert.equal(acts['deconv:sigmoid'], 1, 'the output layer');
    assert.equal(acts['add:none'], 14);
  });

  test('shapes: 256x256 RGB in, one 256x256 probability out, global pooling in the squeeze-excite blocks', () => {
    assert.deepEqual(model.tensors[0], { h: 256, w: 256, c: 3 });
    assert.deepEqual(model.tensors[model.output], { h: 256, w: 256, c: 1 });
    const first = model.ops[0]!;
    assert.equal(first.kind, 'conv2d');
    assert.deepEqual(model.tensors[first.output], { h: 128, w: 128, c: 16 });
    for (const op of model.ops) {
      if (op.kind !== 'avgPool') continue;
      const inShape = model.tensors[op.input]!;
      assert.deepEqual([op.kh, op.kw], [inShape.h, inShape.w], 'each pool covers its whole input');
      assert.deepEqual(model.tensors[op.output], { h: 1, w: 1, c: inShape.c });
    }
  });

  test('weights: the float16 values of the file, biases folded (none left at zero for a layer that had one)', () => {
    // 132 float tensors in the manifest: 55 filters, and biases (some folded across a residual add).
    const floatsInFile = modelJson().weightsManifest[0]!.weights.filter((w) => w.dtype === 'float32').reduce((n, w) => n + w.shape.reduce((a, b) => a * b, 1), 0);
    let filters = 0;
    let biases = 0;
    for (const op of model.ops) {
      if (!('filter' in op)) continue;
      filters += op.filter.length;
      biases += op.bias.length;
      assert.ok(op.bias.some((b) => b !== 0), 'every layer of this model has a bias');
      assert.ok(op.filter.every(Number.isFinite));
    }
    // The remaining floats are the scalars of the hard-swish subgraphs (1/6 and 3), now activations.
    assert.equal(floatsInFile - filters - biases, 2 * 11);
    assert.equal(model.weightBytes, 4 * (filters + biases));
  });

  test('an op the loader does not know is an error that names it', () => {
    const json = modelJson();
    const node = json.modelTopology.node.find((n) => n.op === 'Relu6')!;
    (node as { op: string }).op = 'Softmax';
    assert.throws(() => parseGraphModel(json, weightBytes()), (err: unknown) => err instanceof GraphModelError && /Softmax/.test(err.message));
  });

  test('truncated weights are an error, not garbage', () => {
    const bytes = weightBytes()[0]!;
    assert.throws(() => parseGraphModel(modelJson(), [bytes.subarray(0, bytes.length - 100)]), GraphModelError);
  });
});

describe('reference interpreter against TF.js on photographs of people', { skip: photosMissing }, () => {
  let model: GraphModel;
  let tfjs: CpuSegmenter;
  before(async () => {
    model = loadGraphModelFile(MODEL_JSON);
    tfjs = await createCpuSegmenter();
  });

  for (const photo of PHOTOS) {
    test(`${photo}: same person mask (IoU >= 0.98) and probabilities within 0.1`, async () => {
      const { rgba, width, height } = await loadPhoto(photo);
      const ours = runReferenceGraph(model, frameToModelInput(rgba, { format: 'rgba', width, height }, model.tensors[0]!));
      const theirs = tfjs.maskRgba(rgba, width, height).probability;
      assert.equal(ours.length, elements(model.tensors[model.output]!));
      assert.equal(theirs.length, ours.length);
      const iou = maskIoU(ours, theirs);
      let maxDiff = 0;
      let person = 0;
      for (let i = 0; i < ours.length; i++) {
        maxDiff = Math.max(maxDiff, Math.abs(ours[i]! - theirs[i]!));
        if (theirs[i]! >= 0.5) person++;
      }
      // A mask of all or nothing would agree trivially: the photos show a person on a background.
      assert.ok(person > 0.15 * ours.length && person < 0.85 * ours.length, `person fraction ${person / ours.length}`);
      assert.ok(iou >= 0.98, `IoU ${iou}`);
      assert.ok(maxDiff < 0.1, `max probability difference ${maxDiff}`);
    });
  }
});
