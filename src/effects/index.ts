export * from './catalog.ts';
export type { EffectKernels, FrameMemory } from './backend.ts';
export { createWasmKernels } from './wasm.ts';
export { referenceApply, gaussianWeights } from './reference.ts';
