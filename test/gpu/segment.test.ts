/**
 * The segmentation kernels on a real CUDA device (`npm run test:gpu`): the suite of
 * test/gpu/segment-suite.ts, as the emulated run does it, now through nvcc's device code.
 *
 * Without a CUDA device these tests are skipped with the probe's reason, unless DEVICE=cuda is
 * set: then a missing device is a failure.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { probeCuda } from '../../src/cuda/probe.ts';
import { segmentationSuite } from './segment-suite.ts';

const found = probeCuda();
const required = process.env.DEVICE === 'cuda';
const skip = found.ok ? false : `no CUDA device: ${found.reason}`;

if (required) {
  test('a CUDA device is present (DEVICE=cuda)', () => {
    assert.ok(found.ok, `DEVICE=cuda but ${skip}`);
  });
}

describe('segmentation kernels on the GPU', { skip: required ? false : skip }, () => {
  segmentationSuite(() => ({}));
});
