export * from './catalog.ts';
export type { EffectKernels } from './kernel-types.ts';
export { createWasmKernels } from './wasm.ts';
export { referenceApply, gaussianWeights, recursiveGaussianCoefficients, recursiveGaussianLine } from './reference.ts';
