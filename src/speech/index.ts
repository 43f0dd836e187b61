/**
 * Live captions and their translation: what the rest of the service uses of src/speech.
 * - `createCaptionPipeline(request, deps)`: a session's captions (push its audio, hear captions).
 * - `captionsAvailable()`: what this pod can caption and translate (probed once).
 * - `SubtitleOverlay` (subtitle-overlay.ts): subtitles=burn.
 */
export { createCaptionPipeline, type CaptionDeps, type CaptionStats, type SpeechLimits } from './pipeline.ts';
export { captionsAvailable, type CaptionsAvailability } from './availability.ts';
export { SubtitleOverlay } from './subtitle-overlay.ts';
export type { Caption, CaptionPipeline, CaptionRequest } from './caption-types.ts';
