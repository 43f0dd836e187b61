export * from './catalog.ts';
export type { EffectKernels, FrameMemory } from './kernel-types.ts';
export { createWasmKernels } from './wasm.ts';
export { referenceApply, gaussianWeights, GAUSSIAN_RECURSIVE_MIN_SIGMA, recursiveGaussianCoefficients, recursiveGaussianLine } from './reference.ts';
