/**
 * What the caption pipeline needs of a speech recogniser. One engine instance decodes one audio
 * stream, synchronously, inside the pipeline's own worker thread (src/speech/asr-worker.ts): its
 * calls may block as long as they like, the main thread never makes them.
 *
 * Streaming gives the voice activity and the partial results; the final result of an utterance is
 * (CAPTIONS_FINAL_DECODE=whole, the default) the engine's whole-recording decode of that utterance's
 * audio, so that what the pipeline delivers is what the engine would give offline on the same audio,
 * or (streamed) the streamed result as it stands.
 */
export interface SpeechEngine {
  /** The only rate `feed` and `decodeAll` take (mono, 16-bit). */
  readonly sampleRateHz: number;
  /** Streams one block into the current utterance; true while the engine hears speech in it. */
  feed(samples: Int16Array): boolean;
  /** The best hypothesis of the streamed utterance so far ('' when none). */
  partial(): string;
  /** Ends the streamed utterance and starts the next one. */
  restart(): void;
  /** Ends the streamed utterance and returns its streamed result (a final without a second decode). */
  finish(): string;
  /** Decodes one whole recording at once (an utterance's final; the offline reference). */
  decodeAll(samples: Int16Array): string;
  close(): void;
}

/** How to build an engine inside the worker: plain data, sent with the worker's start. */
export interface SpeechEngineSpec {
  readonly kind: 'pocketsphinx';
  /** The recogniser's shared library (CAPTIONS_ENGINE_LIBRARY). */
  readonly library: string;
  /** Its support library (sphinxbase, beside it). */
  readonly supportLibrary: string;
  /** Acoustic model directory, language model and dictionary (under CAPTIONS_MODEL_DIR). */
  readonly acousticModel: string;
  readonly languageModel: string;
  readonly dictionary: string;
}
