/** Every message between the denoiser (denoiser.ts, main thread) and its worker (denoise-worker.ts). */

export type DenoiseRequest =
  /** One RNNoise frame of a stream (480 mono floats, 16-bit scale), moved to the worker and back. */
  | { readonly type: 'frame'; readonly streamId: number; readonly samples: Float32Array }
  /** The stream ended: its state is freed. */
  | { readonly type: 'close'; readonly streamId: number };

export type DenoiseReply =
  | { readonly type: 'ready' }
  | {
      readonly type: 'frame';
      readonly streamId: number;
      /** The same buffer, denoised. */
      readonly samples: Float32Array;
      /** Time in RNNoise for this frame. */
      readonly computeSeconds: number;
      readonly voiceProbability: number;
    }
  /** A stream's frame the worker could not process (its state could not be made, or RNNoise threw). */
  | { readonly type: 'failed'; readonly streamId: number; readonly samples: Float32Array; readonly detail: string };
