/**
 * What a background effect costs, in the unit cost-based admission uses: one 3x3 box-blur pass
 * over one RGBA pixel (a 720p blur pass is about 0.5 ms on one core of the 2-core VM).
 *
 * The model's time does not grow with the frame (the input is always 256x256): about 29 ms on an
 * idle core with TF.js WASM, i.e. about 58 blur passes at 720p; the pre/post-processing is about
 * 2-4 ms at 720p (bench/segmentation.ts), about 6 passes. Per pixel, calibrated at 720p:
 */
export const SEGMENTATION_WEIGHT_WITH_MODEL = 64;
/** A live frame composed with the session's last mask (the model runs in a separate mask job). */
export const SEGMENTATION_WEIGHT_MASK_GIVEN = 6;
/**
 * One look of the person detector (src/segmentation/people.ts): about 3.7 model runs on the 2-core
 * VM (bench/segmentation.ts), i.e. about 215 blur passes at 720p, added to a job that looks (a
 * still, a session's first mask, its periodic look). A frame with nobody takes three looks and
 * each person beyond the first one more model run: those are not counted.
 */
export const SEGMENTATION_WEIGHT_DETECTOR_LOOK = 215;
