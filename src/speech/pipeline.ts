/**
 * A session's captions: its publisher's audio, resampled to the recogniser's rate, goes in bounded
 * batches to the session's own recogniser thread; partial and final captions come back, finals are
 * translated when asked, and every listener hears each caption in order. Falling behind costs audio
 * (the oldest queued is dropped, counted), never a caption further from its speech.
 */
import { Worker } from 'node:worker_threads';
import type { PcmFrame } from '../audio/pcm.ts';
import type { Config } from '../config.ts';
import { HttpError, OverloadedError } from '../errors.ts';
import type { Metrics } from '../metrics.ts';
import { acquireApertium, TranslationError, type ApertiumPair } from './apertium.ts';
import type { AsrWorkerInit, FromAsrWorker, ToAsrWorker } from './asr-messages.ts';
import { apertiumPair, captionsAvailable, engineSpec, type SpeechPaths } from './availability.ts';
import type { Caption, CaptionPipeline, CaptionRequest } from './caption-types.ts';
import { MonoResampler } from './resample.ts';
import { WebVttLog, type VttTrack } from './webvtt.ts';

export type SpeechLimits = Pick<
  Config,
  | 'captionsEngineLibrary'
  | 'captionsModelDir'
  | 'captionsMaxSessions'
  | 'captionsAudioQueueMs'
  | 'captionsPartialIntervalMs'
  | 'captionsMaxUtteranceSeconds'
  | 'captionsFinalDecode'
  | 'captionsMaxTextChars'
  | 'captionsWebvttMaxBytes'
  | 'apertiumDataDir'
  | 'translateQueueMax'
  | 'translateTimeoutMs'
>;

export interface CaptionDeps {
  readonly log: { info(obj: object, msg: string): void; warn(obj: object, msg: string): void; error(obj: object, msg: string): void };
  readonly metrics: Pick<Metrics, 'captionLatency' | 'captionEngineSeconds' | 'captionAudioSeconds' | 'captionAudioDropped' | 'captions' | 'translations' | 'rejected'>;
  readonly limits: SpeechLimits;
}

/** A captioned session's own account (tests and benchmarks read it; the metrics have the pod's). */
export interface CaptionStats {
  /** End of speech to final caption, the latest finals (milliseconds). */
  readonly latenciesMs: readonly number[];
  readonly droppedSeconds: number;
  readonly engineSeconds: number;
  readonly audioSeconds: number;
}

export const ASR_SAMPLE_RATE_HZ = 16_000;
/** Audio goes to the recogniser in batches this long: fewer messages, still a partial every 0.5 s. */
const BATCH_SAMPLES = ASR_SAMPLE_RATE_HZ / 10;
/** The recogniser's voice activity: it keeps this much before the speech it detects (vad_prespeech)… */
const PRE_ROLL_MS = 500;
/** …and says silence this long after the speech ended (PocketSphinx's vad_postspeech, 50 frames). */
const HANGOVER_MS = 500;
/** Arrival times kept to place the end of speech in time: a minute of batches. */
const ARRIVALS_KEPT = 600;
const LATENCIES_KEPT = 1000;
const WORKER_END_TIMEOUT_MS = 5000;

const workerUrl = new URL(import.meta.url.endsWith('.ts') ? './asr-worker-dev.mjs' : './asr-worker.js', import.meta.url);

/** Caption pipelines open in this process (each holds a recogniser thread): CAPTIONS_MAX_SESSIONS. */
let open = 0;

export const speechPaths = (limits: Pick<SpeechLimits, 'captionsEngineLibrary' | 'captionsModelDir' | 'apertiumDataDir'>): SpeechPaths => ({
  engineLibrary: limits.captionsEngineLibrary,
  modelDir: limits.captionsModelDir,
  apertiumDataDir: limits.apertiumDataDir,
});

/** A caption's text cut to `maxChars` at a word, ending in '…'. */
export function capText(text: string, maxChars: number): string {
  if (text.length <= maxChars) return text;
  const cut = text.slice(0, maxChars - 1);
  const space = cut.lastIndexOf(' ');
  return `${space > maxChars / 2 ? cut.slice(0, space) : cut}…`;
}

export function createCaptionPipeline(request: CaptionRequest, deps: CaptionDeps): CaptionPipeline & { stats(): CaptionStats } {
  const availability = captionsAvailable(speechPaths(deps.limits));
  if (!availability.available) throw new HttpError('unsupported_language', `captions are not available on this pod: ${availability.reason ?? 'no speech engine'}`);
  if (!availability.languages.includes(request.lang)) {
    throw new HttpError('unsupported_language', `captions=${JSON.stringify(request.lang.slice(0, 40))} is not offered here; one of ${availability.languages.join(', ')}`);
  }
  if (request.translate !== undefined && !availability.translations.includes(request.translate)) {
    throw new HttpError('unsupported_language', `translate=${JSON.stringify(request.translate.slice(0, 40))} is not offered here; one of ${availability.translations.join(', ') || 'none'}`);
  }
  if (open >= deps.limits.captionsMaxSessions) {
    deps.metrics.rejected.inc({ reason: 'captions_full' });
    throw new OverloadedError(`this pod captions ${open} sessions already (CAPTIONS_MAX_SESSIONS)`, 5, 'captions_full', 'unavailable');
  }
  return new CaptionSession(request, deps);
}

type Listener = (caption: Caption) => void;

class CaptionSession implements CaptionPipeline {
  readonly #request: CaptionRequest;
  readonly #deps: CaptionDeps;
  readonly #worker: Worker;
  readonly #listeners = new Set<Listener>();
  readonly #endListeners = new Map<Listener, () => void>();
  readonly #vtt: WebVttLog;
  readonly #translator: { readonly pair: ApertiumPair; release(): void } | undefined;
  #resampler: MonoResampler | undefined;
  /** Resampled audio not yet batched, and the stream clock (samples at 16 kHz) at its end. */
  #pending: Int16Array[] = [];
  #pendingSamples = 0;
  #clockSamples = 0;
  /** Batches waiting for the recogniser, oldest first; one is in flight at a time. */
  readonly #queue: { readonly samples: Int16Array; readonly startSample: number }[] = [];
  #queuedSamples = 0;
  #inFlight = false;
  #ready = false;
  #state: 'running' | 'failed' | 'closing' | 'closed' = 'running';
  /** (stream sample, performance.now()) at each batch's end: where the speech ended, in time. */
  readonly #arrivals: { sample: number; atMs: number }[] = [];
  #latest: Caption | undefined;
  /** Captions leave in the order they came, a final waiting for its translation included. */
  #delivery: Promise<void> = Promise.resolve();
  readonly #latencies: number[] = [];
  #droppedSeconds = 0;
  #engineSeconds = 0;
  #audioSeconds = 0;
  #ended: (() => void) | undefined;
  #endTimer: NodeJS.Timeout | undefined;

  constructor(request: CaptionRequest, deps: CaptionDeps) {
    this.#request = request;
    this.#deps = deps;
    this.#vtt = new WebVttLog(deps.limits.captionsWebvttMaxBytes);
    this.#translator =
      request.translate === undefined
        ? undefined
        : acquireApertium(apertiumPair(request.lang, request.translate), {
            dataDir: deps.limits.apertiumDataDir,
            queueMax: deps.limits.translateQueueMax,
            timeoutMs: deps.limits.translateTimeoutMs,
            maxChars: deps.limits.captionsMaxTextChars,
          });
    const msToSamples = (ms: number): number => Math.round((ms * ASR_SAMPLE_RATE_HZ) / 1000);
    const init: AsrWorkerInit = {
      engine: engineSpec(speechPaths(deps.limits)),
      utterances: {
        partialIntervalSamples: msToSamples(deps.limits.captionsPartialIntervalMs),
        maxUtteranceSamples: deps.limits.captionsMaxUtteranceSeconds * ASR_SAMPLE_RATE_HZ,
        preRollSamples: msToSamples(PRE_ROLL_MS),
        hangoverSamples: msToSamples(HANGOVER_MS),
        finalDecode: deps.limits.captionsFinalDecode,
      },
    };
    // The recogniser's memory is native (its model); the JavaScript heap of the thread stays small.
    this.#worker = new Worker(workerUrl, { workerData: init, resourceLimits: { maxOldGenerationSizeMb: 64 } });
    open++;
    this.#worker.on('message', (message: FromAsrWorker) => this.#onMessage(message));
    this.#worker.on('error', (err) => this.#fail(err.message));
    this.#worker.on('exit', () => {
      this.#fail('the recogniser thread exited');
      this.#ended?.();
    });
  }

  push(frame: PcmFrame): void {
    if (this.#state !== 'running' || frame.channelCount < 1 || frame.sampleRateHz <= 0) return;
    if (this.#resampler?.inRateHz !== frame.sampleRateHz) this.#resampler = new MonoResampler(frame.sampleRateHz, ASR_SAMPLE_RATE_HZ);
    const mono = this.#resampler.push(frame.samples, frame.channelCount);
    if (mono.length === 0) return;
    this.#pending.push(mono);
    this.#pendingSamples += mono.length;
    this.#clockSamples += mono.length;
    // A block arrives whole: its last sample (the batch's last) arrived when it did.
    if (this.#pendingSamples >= BATCH_SAMPLES) this.#batch(frame.receivedAtMs);
  }

  subscribe(listener: Listener, onEnd?: () => void): () => void {
    if (this.#state === 'closed') {
      onEnd?.();
      return () => undefined;
    }
    this.#listeners.add(listener);
    if (onEnd !== undefined) this.#endListeners.set(listener, onEnd);
    return () => {
      this.#listeners.delete(listener);
      this.#endListeners.delete(listener);
    };
  }

  latest(): Caption | undefined {
    return this.#latest;
  }

  webvtt(track: VttTrack = 'source'): string {
    return this.#vtt.text(track);
  }

  stats(): CaptionStats {
    return { latenciesMs: [...this.#latencies], droppedSeconds: this.#droppedSeconds, engineSeconds: this.#engineSeconds, audioSeconds: this.#audioSeconds };
  }

  /** Ends the stream: the open utterance's final is delivered, then the recogniser stops. */
  async close(): Promise<void> {
    if (this.#state === 'closing' || this.#state === 'closed') return;
    const wasRunning = this.#state === 'running';
    this.#state = 'closing';
    if (wasRunning) {
      if (this.#pendingSamples > 0) this.#batch(performance.now());
      const ended = new Promise<void>((resolve) => {
        this.#ended = resolve;
      });
      // The audio already queued is decoded first (at most CAPTIONS_AUDIO_QUEUE_MS of it); the
      // recogniser then has WORKER_END_TIMEOUT_MS for the last utterance once the end is sent.
      this.#queue.push({ samples: new Int16Array(0), startSample: -1 });
      this.#pump();
      await ended;
      clearTimeout(this.#endTimer);
    } else {
      await this.#worker.terminate();
    }
    await this.#delivery;
    this.#finish();
  }

  #finish(): void {
    if (this.#state === 'closed') return;
    this.#state = 'closed';
    open--;
    this.#translator?.release();
    this.#listeners.clear();
    const ends = [...this.#endListeners.values()];
    this.#endListeners.clear();
    for (const onEnd of ends) {
      try {
        onEnd();
      } catch (err) {
        this.#deps.log.warn({ err: err instanceof Error ? err.message : String(err) }, 'caption listener failed');
      }
    }
  }

  #batch(arrivedAtMs: number): void {
    const samples = new Int16Array(this.#pendingSamples);
    let offset = 0;
    for (const part of this.#pending) {
      samples.set(part, offset);
      offset += part.length;
    }
    this.#pending = [];
    this.#pendingSamples = 0;
    const startSample = this.#clockSamples - samples.length;
    this.#arrivals.push({ sample: this.#clockSamples, atMs: arrivedAtMs });
    if (this.#arrivals.length > ARRIVALS_KEPT) this.#arrivals.shift();
    this.#queue.push({ samples, startSample });
    this.#queuedSamples += samples.length;
    const maxQueued = (this.#deps.limits.captionsAudioQueueMs * ASR_SAMPLE_RATE_HZ) / 1000;
    while (this.#queuedSamples > maxQueued && this.#queue.length > 1) {
      const oldest = this.#queue.shift()!;
      this.#queuedSamples -= oldest.samples.length;
      this.#dropped(oldest.samples.length, 'queue_full');
    }
    this.#pump();
  }

  #dropped(samples: number, reason: 'queue_full' | 'failed'): void {
    const seconds = samples / ASR_SAMPLE_RATE_HZ;
    this.#droppedSeconds += seconds;
    this.#deps.metrics.captionAudioDropped.inc({ reason }, seconds);
  }

  #pump(): void {
    if (!this.#ready || this.#inFlight) return;
    const next = this.#queue.shift();
    if (next === undefined) return;
    this.#queuedSamples -= next.samples.length;
    this.#inFlight = true;
    const message: ToAsrWorker = next.startSample < 0 ? { type: 'end', endSample: this.#clockSamples } : { type: 'audio', samples: next.samples, startSample: next.startSample };
    if (message.type === 'end') this.#endTimer = setTimeout(() => void this.#worker.terminate(), WORKER_END_TIMEOUT_MS);
    this.#worker.postMessage(message, message.type === 'audio' ? [message.samples.buffer as ArrayBuffer] : []);
  }

  #onMessage(message: FromAsrWorker): void {
    switch (message.type) {
      case 'ready':
        this.#ready = true;
        this.#pump();
        return;
      case 'done': {
        this.#inFlight = false;
        this.#engineSeconds += message.engineSeconds;
        this.#audioSeconds += message.samples / ASR_SAMPLE_RATE_HZ;
        this.#deps.metrics.captionEngineSeconds.inc(message.engineSeconds);
        this.#deps.metrics.captionAudioSeconds.inc(message.samples / ASR_SAMPLE_RATE_HZ);
        this.#pump();
        return;
      }
      case 'partial':
      case 'final':
        this.#caption(message.type === 'final', message.text, message.startSample, message.endSample);
        return;
      case 'ended':
        return;
      case 'failed':
        this.#fail(message.message);
        return;
      case 'decoded':
        return;
    }
  }

  #fail(message: string): void {
    if (this.#state !== 'running') return;
    this.#state = 'failed';
    this.#deps.log.error({ err: message }, 'caption recogniser failed; the session goes on without captions');
    this.#dropped(this.#queuedSamples + this.#pendingSamples, 'failed');
    this.#queue.length = 0;
    this.#queuedSamples = 0;
    this.#pending = [];
    this.#pendingSamples = 0;
    void this.#worker.terminate();
  }

  #caption(final: boolean, rawText: string, startSample: number, endSample: number): void {
    const maxChars = this.#deps.limits.captionsMaxTextChars;
    const base = {
      type: 'caption' as const,
      lang: this.#request.lang,
      text: capText(rawText, maxChars),
      final,
      startMs: Math.round((startSample * 1000) / ASR_SAMPLE_RATE_HZ),
      endMs: Math.round((endSample * 1000) / ASR_SAMPLE_RATE_HZ),
    };
    const speechEndAtMs = final ? this.#arrivalOf(endSample) : undefined;
    const translated = final && base.text !== '' && this.#translator !== undefined ? this.#translate(base.text) : Promise.resolve(undefined);
    this.#delivery = this.#delivery.then(async () => {
      const translation = await translated;
      const caption: Caption = translation === undefined ? base : { ...base, translation: { lang: this.#request.translate!, text: capText(translation, maxChars) } };
      this.#deliver(caption, speechEndAtMs);
    });
  }

  async #translate(text: string): Promise<string | undefined> {
    try {
      const translation = await this.#translator!.pair.translate(text);
      this.#deps.metrics.translations.inc({ outcome: 'translated' });
      return translation;
    } catch (err) {
      const outcome = err instanceof TranslationError ? err.reason : 'failed';
      this.#deps.metrics.translations.inc({ outcome });
      this.#deps.log.warn({ err: err instanceof Error ? err.message : String(err), outcome }, 'caption not translated');
      return undefined;
    }
  }

  #deliver(caption: Caption, speechEndAtMs: number | undefined): void {
    this.#latest = caption;
    this.#deps.metrics.captions.inc({ kind: caption.final ? 'final' : 'partial' });
    if (caption.final) {
      this.#vtt.add(caption);
      if (speechEndAtMs !== undefined && caption.text !== '') {
        const latencyMs = Math.max(0, performance.now() - speechEndAtMs);
        this.#deps.metrics.captionLatency.observe(latencyMs / 1000);
        this.#latencies.push(latencyMs);
        if (this.#latencies.length > LATENCIES_KEPT) this.#latencies.shift();
      }
    }
    for (const listener of this.#listeners) {
      try {
        listener(caption);
      } catch (err) {
        // One listener's fault (a closed socket's writer) is not the others'.
        this.#deps.log.warn({ err: err instanceof Error ? err.message : String(err) }, 'caption listener failed');
      }
    }
  }

  /** When the stream's sample `sample` arrived (performance.now()), from the batches' arrival times. */
  #arrivalOf(sample: number): number | undefined {
    for (const arrival of this.#arrivals) {
      if (arrival.sample >= sample) return arrival.atMs - ((arrival.sample - sample) * 1000) / ASR_SAMPLE_RATE_HZ;
    }
    const last = this.#arrivals.at(-1);
    return last === undefined ? undefined : last.atMs + ((sample - last.sample) * 1000) / ASR_SAMPLE_RATE_HZ;
  }
}
