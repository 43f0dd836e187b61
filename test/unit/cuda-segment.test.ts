/**
 * The segmentation kernels (src/cuda/segment.cu) through the emulated driver: the suite of
 * test/gpu/segment-suite.ts, which test/gpu/segment.test.ts runs on a real GPU.
 *
 * Needs a host C++ compiler for the emulator: skipped without one, except in CI.
 */
import { before, describe } from 'node:test';
import { buildCudaEmulator, hostCompilerAvailable } from '../../src/cuda/emulator/build.ts';
import { segmentationSuite } from '../gpu/segment-suite.ts';
import { requireOrSkip } from '../tools.ts';

const compiler = hostCompilerAvailable();
const skip = requireOrSkip(compiler, 'a host C++ compiler (g++) for the CUDA emulator', 'apt-get install g++');

describe('segmentation kernels on the emulated driver', { skip }, () => {
  let libraryPath = '';
  before(() => {
    libraryPath = buildCudaEmulator();
  });
  segmentationSuite(() => ({ libraryPath }));
});
