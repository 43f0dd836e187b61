/**
 * Utterances out of a stream: the engine's voice activity opens and closes them; while one is open
 * a partial result comes every `partialIntervalSamples`; when it closes (silence, or the utterance
 * reaching `maxUtteranceSamples`) its audio is decoded whole for the final. Engine-agnostic, so it
 * is tested with a scripted engine as well as with the real one.
 */
import type { SpeechEngine } from './speech-engine.ts';

export interface UtteranceOptions {
  readonly partialIntervalSamples: number;
  /** An utterance this long ends even while the speaker goes on (bounds the audio kept and the decode). */
  readonly maxUtteranceSamples: number;
  /** Audio kept from before the detector opened an utterance (it opens late, after some speech). */
  readonly preRollSamples: number;
  /** The detector closes an utterance this long after the speech ended (the engine's own hangover). */
  readonly hangoverSamples: number;
  /**
   * How an utterance's final is made: 'whole' decodes its audio again at once (the engine's offline
   * result), 'streamed' takes the streamed result as it stands (half the compute, fewer right words).
   */
  readonly finalDecode: FinalDecode;
}

export const FINAL_DECODES = ['whole', 'streamed'] as const;
export type FinalDecode = (typeof FINAL_DECODES)[number];

export type UtteranceEvent =
  | { readonly kind: 'partial'; readonly text: string; readonly startSample: number; readonly endSample: number }
  | { readonly kind: 'final'; readonly text: string; readonly startSample: number; readonly endSample: number };

export class UtteranceTracker {
  readonly #engine: SpeechEngine;
  readonly #options: UtteranceOptions;
  /** The open utterance's audio (pre-roll included), and where it starts on the stream's clock. */
  #audio: Int16Array;
  #audioLength = 0;
  #startSample = 0;
  #open = false;
  #lastPartialAt = 0;
  #lastPartial = '';
  /** The pre-roll: the latest audio while no utterance is open. */
  readonly #preRoll: Int16Array;
  #preRollLength = 0;

  constructor(engine: SpeechEngine, options: UtteranceOptions) {
    this.#engine = engine;
    this.#options = options;
    this.#audio = new Int16Array(Math.min(options.maxUtteranceSamples, engine.sampleRateHz * 2));
    this.#preRoll = new Int16Array(options.preRollSamples);
  }

  /** Feeds a block that starts at `startSample` on the stream's clock; returns what it produced. */
  feed(samples: Int16Array, startSample: number): UtteranceEvent[] {
    const events: UtteranceEvent[] = [];
    const inSpeech = this.#engine.feed(samples);
    const endSample = startSample + samples.length;
    if (!this.#open) {
      if (!inSpeech) {
        this.#keepPreRoll(samples);
        return events;
      }
      this.#open = true;
      this.#startSample = startSample - this.#preRollLength;
      this.#audioLength = 0;
      this.#append(this.#preRoll.subarray(0, this.#preRollLength));
      this.#preRollLength = 0;
      this.#lastPartialAt = startSample;
      this.#lastPartial = '';
    }
    this.#append(samples);
    const full = this.#audioLength >= this.#options.maxUtteranceSamples;
    if (!inSpeech || full) {
      // The detector says silence only after its hangover: the speech ended that much earlier.
      const speechEnd = inSpeech ? endSample : Math.max(this.#startSample, endSample - this.#options.hangoverSamples);
      events.push(this.#close(speechEnd));
    } else if (endSample - this.#lastPartialAt >= this.#options.partialIntervalSamples) {
      this.#lastPartialAt = endSample;
      const text = this.#engine.partial();
      if (text !== '' && text !== this.#lastPartial) {
        this.#lastPartial = text;
        events.push({ kind: 'partial', text, startSample: this.#startSample, endSample });
      }
    }
    return events;
  }

  /** Ends the open utterance now (the stream ended); undefined when none is open. */
  flush(endSample: number): UtteranceEvent | undefined {
    return this.#open ? this.#close(endSample) : undefined;
  }

  #close(speechEndSample: number): UtteranceEvent {
    const text = this.#options.finalDecode === 'streamed' ? this.#engine.finish() : this.#decodeWhole();
    this.#open = false;
    this.#audioLength = 0;
    return { kind: 'final', text, startSample: this.#startSample, endSample: speechEndSample };
  }

  #decodeWhole(): string {
    this.#engine.restart();
    return this.#engine.decodeAll(this.#audio.subarray(0, this.#audioLength));
  }

  #append(samples: Int16Array): void {
    // The streamed final needs no audio kept; the length still bounds the utterance.
    if (this.#options.finalDecode === 'streamed') {
      this.#audioLength = Math.min(this.#options.maxUtteranceSamples, this.#audioLength + samples.length);
      return;
    }
    const room = this.#options.maxUtteranceSamples - this.#audioLength;
    const take = samples.length <= room ? samples : samples.subarray(0, Math.max(0, room));
    if (this.#audioLength + take.length > this.#audio.length) {
      const grown = new Int16Array(Math.min(this.#options.maxUtteranceSamples, Math.max(this.#audio.length * 2, this.#audioLength + take.length)));
      grown.set(this.#audio.subarray(0, this.#audioLength));
      this.#audio = grown;
    }
    this.#audio.set(take, this.#audioLength);
    this.#audioLength += take.length;
  }

  #keepPreRoll(samples: Int16Array): void {
    const capacity = this.#preRoll.length;
    if (capacity === 0) return;
    if (samples.length >= capacity) {
      this.#preRoll.set(samples.subarray(samples.length - capacity));
      this.#preRollLength = capacity;
      return;
    }
    const keep = Math.min(this.#preRollLength, capacity - samples.length);
    this.#preRoll.copyWithin(0, this.#preRollLength - keep, this.#preRollLength);
    this.#preRoll.set(samples, keep);
    this.#preRollLength = keep + samples.length;
  }
}
