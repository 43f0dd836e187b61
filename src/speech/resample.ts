/**
 * Interleaved PCM at any rate to mono at the recogniser's rate, streaming: a windowed-sinc low-pass
 * (cut below the lower Nyquist frequency) evaluated at each output instant, its history carried
 * from block to block so that block edges leave no trace. Pure arithmetic, no I/O.
 */
import { mixToMonoFloat } from '../audio/pcm-kernels.ts';

/** Taps on each side of an output instant, at the input rate. */
const HALF_TAPS = 16;
/** The pass band ends this far below the output's Nyquist frequency (room for the transition). */
const CUTOFF_SHARE = 0.9;
/** Output instants fall between input samples: the kernel is tabulated at this many sub-sample phases. */
const PHASES = 64;

export class MonoResampler {
  readonly #inRateHz: number;
  readonly #outRateHz: number;
  readonly #step: number;
  /** PHASES + 1 kernels of 2 * HALF_TAPS weights, each summing to 1 (unit gain at DC). */
  readonly #kernels: Float32Array;
  /**
   * Mono input not yet consumed, as floats, in the first `#length` samples (grown to the taps kept
   * plus the largest block seen); `#position` is the next output instant in it.
   */
  #history: Float32Array;
  #length = HALF_TAPS;
  #position = HALF_TAPS;

  constructor(inRateHz: number, outRateHz: number) {
    if (!(inRateHz > 0 && outRateHz > 0)) throw new RangeError('sample rates must be positive');
    this.#inRateHz = inRateHz;
    this.#outRateHz = outRateHz;
    this.#step = inRateHz / outRateHz;
    this.#kernels = kernels(Math.min(1, outRateHz / inRateHz) * CUTOFF_SHARE);
    // Silence before the first sample, so that the first outputs have their left taps.
    this.#history = new Float32Array(HALF_TAPS);
  }

  get inRateHz(): number {
    return this.#inRateHz;
  }

  get outRateHz(): number {
    return this.#outRateHz;
  }

  /** Takes one block of interleaved samples; returns the mono output samples it completes. */
  push(interleaved: Int16Array, channelCount: number): Int16Array {
    const frames = Math.floor(interleaved.length / channelCount);
    const kept = this.#length;
    const end = kept + frames;
    if (this.#history.length < end) {
      const grown = new Float32Array(end);
      grown.set(this.#history.subarray(0, kept));
      this.#history = grown;
    }
    const history = this.#history;
    mixToMonoFloat(interleaved, channelCount, history.subarray(kept, end));
    // At most one output per step of input, and one more for the instant carried over.
    const out = new Int16Array(Math.ceil(frames / this.#step) + 2);
    let count = 0;
    let position = this.#position;
    const taps = 2 * HALF_TAPS;
    while (position + HALF_TAPS < end) {
      const centre = Math.floor(position);
      const kernel = Math.round((position - centre) * PHASES) * taps;
      const first = centre - HALF_TAPS + 1;
      let acc = 0;
      for (let t = 0; t < taps; t++) acc += history[first + t]! * this.#kernels[kernel + t]!;
      out[count++] = Math.max(-32768, Math.min(32767, Math.round(acc)));
      position += this.#step;
    }
    // Keep the taps the next outputs reach back to.
    const drop = Math.max(0, Math.floor(position) - HALF_TAPS);
    history.copyWithin(0, drop, end);
    this.#length = end - drop;
    this.#position = position - drop;
    return out.subarray(0, count);
  }
}

function kernels(cutoff: number): Float32Array {
  const taps = 2 * HALF_TAPS;
  const table = new Float32Array((PHASES + 1) * taps);
  for (let phase = 0; phase <= PHASES; phase++) {
    const frac = phase / PHASES;
    let sum = 0;
    for (let t = 0; t < taps; t++) {
      // Tap t is input sample centre - HALF_TAPS + 1 + t; the output instant is centre + frac.
      const d = frac + HALF_TAPS - 1 - t;
      const weight = cutoff * sinc(cutoff * d) * hann(d / (HALF_TAPS + 1));
      table[phase * taps + t] = weight;
      sum += weight;
    }
    for (let t = 0; t < taps; t++) table[phase * taps + t] = table[phase * taps + t]! / sum;
  }
  return table;
}

function sinc(x: number): number {
  if (x === 0) return 1;
  const px = Math.PI * x;
  return Math.sin(px) / px;
}

/** Hann window over [-1, 1]. */
function hann(x: number): number {
  return Math.abs(x) >= 1 ? 0 : 0.5 + 0.5 * Math.cos(Math.PI * x);
}
