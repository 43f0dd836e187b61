import type { PcmFrame } from '../audio/pcm.ts';

/** One caption as it is delivered on the control channel, over SSE and in the WebVTT file. */
export interface Caption {
  readonly type: 'caption';
  /** The recognised language (BCP 47 primary tag, e.g. "en"). */
  readonly lang: string;
  readonly text: string;
  /** false: a partial result that a later caption with the same startMs replaces. */
  readonly final: boolean;
  /** Milliseconds since the session's audio began. */
  readonly startMs: number;
  readonly endMs: number;
  readonly translation?: { readonly lang: string; readonly text: string };
}

export interface CaptionRequest {
  /** captions=<lang> */
  readonly lang: string;
  /** translate=<lang> (implies captions) */
  readonly translate?: string;
}

/**
 * A session's captions: the session pushes its publisher's audio in (any rate; the pipeline
 * resamples), listeners hear each partial and final caption. Bounded: the pipeline drops audio it
 * cannot keep up with (counted) rather than queue it.
 */
export interface CaptionPipeline {
  push(frame: PcmFrame): void;
  /** Returns the unsubscribe function; `onEnd` is called once when the pipeline closes (its session ended). */
  subscribe(listener: (caption: Caption) => void, onEnd?: () => void): () => void;
  /** The latest caption (partial or final), for subtitles=burn and late subscribers. */
  latest(): Caption | undefined;
  /**
   * The session's final captions so far as a WebVTT file (bounded by a byte cap; oldest cues
   * dropped): the recognised text, or with 'translation' the translations.
   */
  webvtt(track?: 'source' | 'translation'): string;
  close(): Promise<void>;
}
