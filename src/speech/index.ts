/**
 * Live captions and their translation: what the rest of the service uses of src/speech (types come
 * from their own files: caption-types.ts, pipeline.ts, availability.ts).
 * - `createCaptionPipeline(request, deps)`: a session's captions (push its audio, hear captions).
 * - `captionsAvailable()`: what this pod can caption and translate (probed once).
 * - `SubtitleOverlay` (subtitle-overlay.ts): subtitles=burn.
 */
export { createCaptionPipeline } from './pipeline.ts';
export { captionsAvailable } from './availability.ts';
export { SubtitleOverlay } from './subtitle-overlay.ts';
