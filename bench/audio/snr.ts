/**
 * denoise's gain on its own: RNNoise (the kernel the denoise worker runs) over speech mixed with
 * stationary noise, the output aligned to the clean speech (its delay found by cross-correlation)
 * and its SNR measured against it, scaled by its least-squares gain.
 */
import { loadRnnoise, RNNOISE_FRAME_SAMPLES } from '../../src/audio/rnnoise.ts';
import { align } from '../../src/audio/signal-quality.ts';

export interface SnrResult {
  readonly inputSnrDb: number;
  readonly outputSnrDb: number;
  /** RNNoise's own delay, found by the alignment (samples at 48 kHz). */
  readonly delaySamples: number;
  /** RNNoise's compute per second of audio. */
  readonly computeSecondsPerSecond: number;
}

export async function denoiseSnr(clean: Int16Array, mixed: Float32Array): Promise<SnrResult> {
  const rnnoise = await loadRnnoise();
  const state = rnnoise.createState();
  const out = new Float32Array(mixed.length);
  const startMs = performance.now();
  for (let at = 0; at + RNNOISE_FRAME_SAMPLES <= mixed.length; at += RNNOISE_FRAME_SAMPLES) {
    const frame = mixed.slice(at, at + RNNOISE_FRAME_SAMPLES);
    state.process(frame);
    out.set(frame, at);
  }
  const computeSeconds = (performance.now() - startMs) / 1000;
  state.destroy();
  const input = align(clean, mixed, 0);
  // RNNoise delays by one frame; look up to four either way.
  const output = align(clean, out, 4 * RNNOISE_FRAME_SAMPLES);
  return { inputSnrDb: input.snrDb, outputSnrDb: output.snrDb, delaySamples: output.lagSamples, computeSecondsPerSecond: computeSeconds / (mixed.length / 48_000) };
}
