/**
 * The segmentation kernels (src/cuda/segment.cu) through the emulated driver: the suite of
 * test/gpu/segment-suite.ts, which test/gpu/segment.test.ts runs on a real GPU.
 *
 * Needs a host C++ compiler for the emulator: skipped without one, except in CI.
 */
import { before, describe } from 'node:test';
import { buildCudaEmulator, hostCompilerAvailable } from '../../src/cuda/emulator/build.ts';
import { segmentationSuite } from '../gpu/segment-suite.ts';

const compiler = hostCompilerAvailable();
if (!compiler && process.env.CI === 'true') throw new Error('CI needs a host C++ compiler (g++) for the CUDA emulator tests');
const skip = compiler ? false : 'no host C++ compiler (g++): the emulated CUDA driver cannot be built';

describe('segmentation kernels on the emulated driver', { skip }, () => {
  let libraryPath = '';
  before(() => {
    libraryPath = buildCudaEmulator();
  });
  segmentationSuite(() => ({ libraryPath }));
});
