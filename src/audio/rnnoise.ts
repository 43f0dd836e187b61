/**
 * RNNoise (xiph/rnnoise, BSD-3-Clause) as @echogarden/rnnoise-wasm builds it, its model compiled into
 * the .wasm: the one module that loads it. A kernel over 480-sample frames (10 ms at 48 kHz) of mono
 * audio in 16-bit scale, denoised in place, with no I/O beyond loading the module.
 */
import createRnnoise from '@echogarden/rnnoise-wasm';

/** RNNoise's frame: 10 ms at 48 kHz, the only rate its model knows. */
export const RNNOISE_FRAME_SAMPLES = 480;
export const RNNOISE_SAMPLE_RATE_HZ = 48_000;

/** One stream's denoiser state (its recurrent network's memory): one per audio stream, never shared. */
export interface DenoiseState {
  /** Denoises `frame` (RNNOISE_FRAME_SAMPLES floats, 16-bit scale) in place; returns the voice probability 0..1. */
  process(frame: Float32Array): number;
  destroy(): void;
}

export interface Rnnoise {
  createState(): DenoiseState;
}

export async function loadRnnoise(): Promise<Rnnoise> {
  const module = await createRnnoise();
  if (module._rnnoise_get_frame_size() !== RNNOISE_FRAME_SAMPLES) {
    throw new Error(`RNNoise frame size ${module._rnnoise_get_frame_size()}, expected ${RNNOISE_FRAME_SAMPLES}`);
  }
  return {
    createState(): DenoiseState {
      const state = module._rnnoise_create(0);
      const ptr = module._malloc(RNNOISE_FRAME_SAMPLES * 4);
      let destroyed = false;
      return {
        process(frame: Float32Array): number {
          if (destroyed) throw new Error('RNNoise state used after destroy');
          if (frame.length !== RNNOISE_FRAME_SAMPLES) throw new RangeError(`RNNoise takes ${RNNOISE_FRAME_SAMPLES} samples, got ${frame.length}`);
          // HEAPF32 is re-read on every call: the module's memory may have grown (a new buffer).
          const heap = module.HEAPF32;
          heap.set(frame, ptr >> 2);
          const voice = module._rnnoise_process_frame(state, ptr, ptr);
          frame.set(module.HEAPF32.subarray(ptr >> 2, (ptr >> 2) + RNNOISE_FRAME_SAMPLES));
          return voice;
        },
        destroy(): void {
          if (destroyed) return;
          destroyed = true;
          module._free(ptr);
          module._rnnoise_destroy(state);
        },
      };
    },
  };
}
