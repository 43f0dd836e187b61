/**
 * A session's audio, block by block: each 10 ms block the publisher sends goes first, untouched, to
 * `onReceived` (the caption pipeline), then through the session's audio effect to `send` (the audio
 * output heard by the publisher and its viewers). Denoise runs in the denoise worker, with at most
 * two blocks in flight and AUDIO_BUFFER_MS waiting: when that is full the oldest block is dropped,
 * so a slow engine costs audio, never delay. Nothing here waits on video or /process work.
 */
import type { DenoiseResult, DenoiseStream, Denoiser } from '../audio/denoiser.ts';
import { floatToInt16, mixToMonoFloat } from '../audio/pcm-kernels.ts';
import type { AudioEffect, PcmFrame } from '../audio/pcm.ts';
import { RNNOISE_FRAME_SAMPLES, RNNOISE_SAMPLE_RATE_HZ } from '../audio/rnnoise.ts';
import type { AudioDropReason, Metrics } from '../metrics.ts';

export interface AudioPathDeps {
  readonly denoiser: Pick<Denoiser, 'openStream'>;
  readonly metrics: Pick<Metrics, 'audioFramesProcessed' | 'audioSecondsProcessed' | 'audioFramesDropped' | 'audioEngineSeconds' | 'audioLatency'>;
  /** Hands a processed block to the audio output (which copies it). */
  readonly send: (frame: PcmFrame) => void;
  /** Every block as it arrived, before the effect (captions listen here). */
  readonly onReceived?: (frame: PcmFrame) => void;
  /** AUDIO_BUFFER_MS in 10 ms blocks: denoise blocks that may wait for the worker. */
  readonly bufferBlocks: number;
  /** AUDIO_MAX_BLOCK_SAMPLES: a larger block (all channels) is dropped unread. */
  readonly maxBlockSamples: number;
}

export interface AudioPathStats {
  readonly effect: AudioEffect;
  readonly blocksReceived: number;
  readonly blocksProcessed: number;
  readonly blocksDropped: number;
  /** Received to handed to the encoder, the last processed block (ms). */
  readonly latencyLastMs: number | undefined;
}

/** Blocks a stream may have in the worker at once: one being denoised, one ready behind it. */
const MAX_IN_FLIGHT = 2;

interface WaitingBlock {
  readonly samples: Float32Array;
  readonly receivedAtMs: number;
}

export class AudioPath {
  readonly #deps: AudioPathDeps;
  #effect: AudioEffect;
  #stream: DenoiseStream | undefined;
  readonly #waiting: WaitingBlock[] = [];
  /** When each block in flight arrived, oldest first (the worker answers in order). */
  readonly #inFlightSince: number[] = [];
  /** A block being filled up to RNNOISE_FRAME_SAMPLES when the binding's blocks are of another size. */
  #partial: Float32Array = new Float32Array(RNNOISE_FRAME_SAMPLES);
  /** The block mixed to mono (grown to the largest block seen, at most AUDIO_MAX_BLOCK_SAMPLES). */
  #mono = new Float32Array(0);
  /** Frames back from the worker, reused as the next ones to fill (the submitted buffer is moved to the worker). */
  readonly #spare: Float32Array[] = [];
  #partialLength = 0;
  #silence = new Int16Array(0);
  readonly #denoised = new Int16Array(RNNOISE_FRAME_SAMPLES);
  #received = 0;
  #processed = 0;
  #dropped = 0;
  #latencyLastMs: number | undefined;
  #closed = false;
  readonly #apply: Readonly<Record<AudioEffect, (frame: PcmFrame) => void>> = {
    passthrough: (frame) => this.#emit(frame, 'passthrough'),
    mute: (frame) => this.#mute(frame),
    denoise: (frame) => this.#denoise(frame),
  };

  constructor(effect: AudioEffect, deps: AudioPathDeps) {
    this.#effect = effect;
    this.#deps = deps;
  }

  get effect(): AudioEffect {
    return this.#effect;
  }

  /** Changes the effect from the next block on; blocks waiting for denoise are dropped (superseded). */
  setEffect(effect: AudioEffect): void {
    if (effect === this.#effect) return;
    if (this.#effect === 'denoise') this.#closeStream();
    this.#effect = effect;
  }

  push(frame: PcmFrame): void {
    if (this.#closed) return;
    this.#received++;
    if (frame.samples.length > this.#deps.maxBlockSamples || frame.channelCount < 1) return this.#drop('too_large');
    this.#deps.onReceived?.(frame);
    this.#apply[this.#effect](frame);
  }

  stats(): AudioPathStats {
    return {
      effect: this.#effect,
      blocksReceived: this.#received,
      blocksProcessed: this.#processed,
      blocksDropped: this.#dropped,
      latencyLastMs: this.#latencyLastMs,
    };
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#closeStream();
  }

  #mute(frame: PcmFrame): void {
    // Silence of the same shape keeps the track alive (and the far end's jitter buffer fed).
    if (this.#silence.length !== frame.samples.length) this.#silence = new Int16Array(frame.samples.length);
    this.#emit({ ...frame, samples: this.#silence }, 'mute');
  }

  #denoise(frame: PcmFrame): void {
    if (frame.sampleRateHz !== RNNOISE_SAMPLE_RATE_HZ) return this.#drop('format');
    const frames = Math.floor(frame.samples.length / frame.channelCount);
    if (this.#mono.length < frames) this.#mono = new Float32Array(frames);
    const mono = this.#mono.subarray(0, frames);
    mixToMonoFloat(frame.samples, frame.channelCount, mono);
    // The binding's blocks are 480 samples (10 ms): each is one RNNoise frame and the loop runs once.
    let offset = 0;
    while (offset < frames) {
      const take = Math.min(frames - offset, RNNOISE_FRAME_SAMPLES - this.#partialLength);
      this.#partial.set(mono.subarray(offset, offset + take), this.#partialLength);
      this.#partialLength += take;
      offset += take;
      if (this.#partialLength === RNNOISE_FRAME_SAMPLES) {
        this.#enqueue({ samples: this.#partial, receivedAtMs: frame.receivedAtMs });
        this.#partial = this.#spare.pop() ?? new Float32Array(RNNOISE_FRAME_SAMPLES);
        this.#partialLength = 0;
      }
    }
  }

  #enqueue(block: WaitingBlock): void {
    if (this.#waiting.length >= this.#deps.bufferBlocks) {
      this.#waiting.shift();
      this.#drop('overflow');
    }
    this.#waiting.push(block);
    this.#pump();
  }

  #pump(): void {
    const stream = (this.#stream ??= this.#deps.denoiser.openStream({
      onFrame: (result) => this.#denoised10ms(result),
      onFailed: () => {
        this.#inFlightSince.shift();
        this.#drop('failed');
        this.#pump();
      },
    }));
    while (stream.inFlight < MAX_IN_FLIGHT && this.#waiting.length > 0) {
      const block = this.#waiting.shift()!;
      if (!stream.submit(block.samples)) {
        this.#drop('failed');
        continue;
      }
      this.#inFlightSince.push(block.receivedAtMs);
    }
  }

  #denoised10ms(result: DenoiseResult): void {
    const receivedAtMs = this.#inFlightSince.shift() ?? performance.now();
    if (this.#closed) return;
    this.#deps.metrics.audioEngineSeconds.inc({ engine: 'rnnoise' }, result.computeSeconds);
    floatToInt16(result.samples, this.#denoised);
    if (this.#spare.length < MAX_IN_FLIGHT) this.#spare.push(result.samples);
    this.#emit({ samples: this.#denoised, sampleRateHz: RNNOISE_SAMPLE_RATE_HZ, channelCount: 1, receivedAtMs }, 'denoise');
    this.#pump();
  }

  #emit(frame: PcmFrame, effect: AudioEffect): void {
    this.#deps.send(frame);
    const latencySeconds = (performance.now() - frame.receivedAtMs) / 1000;
    this.#latencyLastMs = latencySeconds * 1000;
    this.#processed++;
    const { metrics } = this.#deps;
    metrics.audioFramesProcessed.inc({ effect });
    metrics.audioSecondsProcessed.inc({ effect }, frame.samples.length / frame.channelCount / frame.sampleRateHz);
    metrics.audioLatency.observe(latencySeconds);
  }

  #closeStream(): void {
    const stream = this.#stream;
    this.#stream = undefined;
    const superseded = this.#waiting.length + this.#inFlightSince.length;
    this.#waiting.length = 0;
    this.#inFlightSince.length = 0;
    this.#partialLength = 0;
    stream?.close();
    if (!this.#closed) for (let i = 0; i < superseded; i++) this.#drop('superseded');
  }

  #drop(reason: AudioDropReason): void {
    this.#dropped++;
    this.#deps.metrics.audioFramesDropped.inc({ reason });
  }
}
