/**
 * The one module that talks to the denoise worker (denoise-worker.ts): a dedicated worker thread,
 * apart from the effect pool, started with the first stream and supervised. Each stream has at most
 * the frames its owner lets in flight (audio-path.ts keeps it to two); a worker that dies fails its
 * streams' frames in flight and is replaced when the next frame comes, after `restartDelayMs`.
 */
import { Worker } from 'node:worker_threads';
import type { DenoiseReply, DenoiseRequest } from './denoise-messages.ts';

export interface DenoiseResult {
  /** The frame submitted, denoised (the same buffer, back from the worker). */
  readonly samples: Float32Array;
  readonly computeSeconds: number;
  readonly voiceProbability: number;
}

export interface DenoiseStreamHandlers {
  readonly onFrame: (result: DenoiseResult) => void;
  /** A frame in flight is lost: RNNoise failed on it, or the worker died. */
  readonly onFailed: (detail: string) => void;
}

export interface DenoiseStream {
  /** Frames submitted and not yet answered. */
  readonly inFlight: number;
  /**
   * Moves `samples` (480 mono floats, 16-bit scale) to the worker; answered in order. False when
   * the worker is down and not yet due for a restart: the frame is not taken.
   */
  submit(samples: Float32Array): boolean;
  close(): void;
}

export interface DenoiserOptions {
  /** Reports a worker that failed (the stream handlers hear about their frames). */
  readonly onWorkerError?: (err: unknown) => void;
  /** After a worker dies, frames are refused this long before a new one starts (default 1000). */
  readonly restartDelayMs?: number;
}

// Under tsx the sources run as .ts; once compiled they are .js beside each other.
const workerUrl = new URL(import.meta.url.endsWith('.ts') ? './denoise-worker-dev.mjs' : './denoise-worker.js', import.meta.url);

interface StreamEntry {
  readonly handlers: DenoiseStreamHandlers;
  inFlight: number;
}

export class Denoiser {
  readonly #options: DenoiserOptions;
  readonly #streams = new Map<number, StreamEntry>();
  #worker: Worker | undefined;
  #ready: Promise<void> | undefined;
  #nextStreamId = 1;
  #refuseUntilMs = 0;

  constructor(options: DenoiserOptions = {}) {
    this.#options = options;
  }

  /** Starts the worker if it is not running and resolves once RNNoise is loaded in it. */
  ready(): Promise<void> {
    this.#start();
    return this.#ready ?? Promise.resolve();
  }

  openStream(handlers: DenoiseStreamHandlers): DenoiseStream {
    const streamId = this.#nextStreamId++;
    const entry: StreamEntry = { handlers, inFlight: 0 };
    this.#streams.set(streamId, entry);
    let closed = false;
    return {
      get inFlight() {
        return entry.inFlight;
      },
      submit: (samples) => {
        if (closed) return false;
        const worker = this.#start();
        if (!worker) return false;
        entry.inFlight++;
        worker.postMessage({ type: 'frame', streamId, samples } satisfies DenoiseRequest, [samples.buffer as ArrayBuffer]);
        return true;
      },
      close: () => {
        if (closed) return;
        closed = true;
        this.#streams.delete(streamId);
        this.#worker?.postMessage({ type: 'close', streamId } satisfies DenoiseRequest);
      },
    };
  }

  /** Stops the worker (its streams' frames in flight are failed); the next frame starts a new one. */
  async terminate(): Promise<void> {
    const worker = this.#worker;
    if (!worker) return;
    this.#lose(worker, 'the denoise worker was stopped');
    await worker.terminate();
  }

  #start(): Worker | undefined {
    if (this.#worker) return this.#worker;
    if (performance.now() < this.#refuseUntilMs) return undefined;
    const worker = new Worker(workerUrl);
    // The worker must not keep a process alive that has nothing else to do (the registry stops it on close).
    worker.unref();
    this.#worker = worker;
    this.#ready = new Promise<void>((resolve, reject) => {
      worker.on('message', (message: DenoiseReply) => {
        if (message.type === 'ready') return resolve();
        const entry = this.#streams.get(message.streamId);
        if (!entry) return;
        entry.inFlight = Math.max(0, entry.inFlight - 1);
        if (message.type === 'frame') entry.handlers.onFrame(message);
        else entry.handlers.onFailed(message.detail);
      });
      worker.on('error', (err) => {
        reject(err);
        this.#options.onWorkerError?.(err);
        // Before the streams hear of it: their retries must not start a new worker inside the delay.
        this.#refuseUntilMs = performance.now() + (this.#options.restartDelayMs ?? 1000);
        this.#lose(worker, `the denoise worker failed: ${err.message}`);
      });
      worker.on('exit', () => {
        reject(new Error('the denoise worker exited'));
        // An exit nobody asked for (terminate() forgets its worker first) waits out the delay like an error.
        if (this.#worker === worker) this.#refuseUntilMs = performance.now() + (this.#options.restartDelayMs ?? 1000);
        this.#lose(worker, 'the denoise worker exited');
      });
    });
    this.#ready.catch(() => undefined);
    return worker;
  }

  /** Forgets `worker` (if it is the current one) and fails every frame in flight on it. */
  #lose(worker: Worker, detail: string): void {
    if (this.#worker !== worker) return;
    this.#worker = undefined;
    this.#ready = undefined;
    for (const entry of this.#streams.values()) {
      const lost = entry.inFlight;
      entry.inFlight = 0;
      for (let i = 0; i < lost; i++) entry.handlers.onFailed(detail);
    }
  }
}
