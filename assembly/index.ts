/**
 * Entry point of the effect kernels module. Every export is a pure function over linear memory:
 * pointers are byte offsets, frames are tightly packed planes, scratch is provided by the caller
 * (sized by the matching *Scratch function). Nothing here allocates.
 */
export { blur, sharpen, edge, scratch3x3 } from './box';
export { gaussian, gaussianRadius, gaussianScratch, gaussianPlaneScratch, gaussianRecursiveMinSigma } from './gaussian';
export { pixelate, pixelateScratch } from './pixelate';
export { invert, grayscaleRgba, copyBytes, fillBytes } from './pointwise';

/** First byte past the module's static data: the caller's allocator starts here. */
export function heapBase(): usize {
  return __heap_base;
}
export {
  resizeRgbaToInput,
  resizeI420ToInput,
  resizeRgbaRectToInput,
  resizeI420RectToInput,
  maskPlaceRect,
  maskUpdate,
  maskToQuarter,
  downsample4,
  upsample2x,
  upsample2xScratch,
  blendPlane,
  blendConstant,
} from './segment';
