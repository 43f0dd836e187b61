/**
 * What a session carries besides its video: the audio path, the audio output its publisher and
 * viewers hear, the caption pipeline and the subtitle overlay. The registry makes them with the
 * session and closes them when it ends.
 */
import type { Caption, CaptionPipeline, CaptionRequest } from '../speech/caption-types.ts';
import type { AudioPath } from './audio-path.ts';
import type { CaptionsAvailability, SubtitlesMode } from './audio-request.ts';
import type { AudioOutput } from './peer.ts';

/** Draws the latest caption onto outgoing I420 frames: rendered once per caption, blended on every frame. */
export interface SubtitleRenderer {
  update(caption: Caption | undefined): Promise<void>;
  /** Blends the rendered caption into `frame` in place. */
  blendI420(frame: Uint8Array, width: number, height: number): void;
}

/** The speech side as the sessions use it (src/speech provides it; absent: no captions on this pod). */
export interface SpeechProvider {
  availability(): CaptionsAvailability;
  createPipeline(request: CaptionRequest): CaptionPipeline;
  createOverlay(): SubtitleRenderer;
}

export interface SessionMedia {
  /** Present when the publisher sends audio. */
  readonly audio?: AudioPath;
  /** Present when the offer takes audio back: the processed audio, for the publisher and its viewers. */
  readonly audioOutput?: AudioOutput;
  readonly captions?: { readonly request: CaptionRequest; readonly pipeline: CaptionPipeline };
  readonly overlay?: SubtitleRenderer;
  readonly subtitles?: SubtitlesMode;
}
