/** Every message between a caption pipeline (main thread) and its recogniser's worker thread. */
import type { SpeechEngineSpec } from './speech-engine.ts';
import type { UtteranceOptions } from './utterances.ts';

export interface AsrWorkerInit {
  readonly engine: SpeechEngineSpec;
  readonly utterances: UtteranceOptions;
}

/** Main thread → worker. */
export type ToAsrWorker =
  /** 16 kHz mono audio starting at `startSample` on the session's audio clock (gaps are dropped audio). */
  | { readonly type: 'audio'; readonly samples: Int16Array; readonly startSample: number }
  /** The stream ended: finish the open utterance, then exit. */
  | { readonly type: 'end'; readonly endSample: number }
  /** Decode one whole recording (the engine's offline result, for measurements). */
  | { readonly type: 'decode-all'; readonly samples: Int16Array };

/** Worker → main thread. */
export type FromAsrWorker =
  | { readonly type: 'ready' }
  | { readonly type: 'partial' | 'final'; readonly text: string; readonly startSample: number; readonly endSample: number }
  /** One audio message done: its samples and the engine's time on them (the next may be sent). */
  | { readonly type: 'done'; readonly samples: number; readonly engineSeconds: number }
  | { readonly type: 'decoded'; readonly text: string; readonly engineSeconds: number }
  | { readonly type: 'ended' }
  | { readonly type: 'failed'; readonly message: string };
