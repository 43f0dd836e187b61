/**
 * How close a received signal is to a reference, after the delay between them: the lag that best
 * aligns them (FFT cross-correlation), their normalised correlation there, and the SNR of the
 * received signal against the reference scaled to fit it. Pure functions; the audio tests and
 * bench/audio.ts measure with them.
 */

export function rms(samples: ArrayLike<number>, from = 0, to = samples.length): number {
  let sum = 0;
  for (let i = from; i < to; i++) sum += (samples[i] ?? 0) ** 2;
  return to > from ? Math.sqrt(sum / (to - from)) : 0;
}

/** In-place iterative radix-2 FFT of (re, im); length a power of two. `inverse` leaves the 1/n scale to the caller. */
function fft(re: Float64Array, im: Float64Array, inverse: boolean): void {
  const n = re.length;
  for (let i = 1, j = 0; i < n; i++) {
    let bit = n >> 1;
    for (; j & bit; bit >>= 1) j ^= bit;
    j ^= bit;
    if (i < j) {
      [re[i], re[j]] = [re[j]!, re[i]!];
      [im[i], im[j]] = [im[j]!, im[i]!];
    }
  }
  for (let size = 2; size <= n; size <<= 1) {
    const angle = ((inverse ? 2 : -2) * Math.PI) / size;
    const wr = Math.cos(angle);
    const wi = Math.sin(angle);
    for (let start = 0; start < n; start += size) {
      let cr = 1;
      let ci = 0;
      for (let k = 0; k < size / 2; k++) {
        const a = start + k;
        const b = a + size / 2;
        const tr = re[b]! * cr - im[b]! * ci;
        const ti = re[b]! * ci + im[b]! * cr;
        re[b] = re[a]! - tr;
        im[b] = im[a]! - ti;
        re[a] = re[a]! + tr;
        im[a] = im[a]! + ti;
        const next = cr * wr - ci * wi;
        ci = cr * wi + ci * wr;
        cr = next;
      }
    }
  }
}

/** cross[maxLag + lag] = Σ test[i + lag] · reference[i], for lag in [-maxLag, maxLag]. */
function crossCorrelation(reference: ArrayLike<number>, test: ArrayLike<number>, maxLag: number): Float64Array {
  let n = 1;
  while (n < test.length + reference.length) n <<= 1;
  const ar = new Float64Array(n);
  const ai = new Float64Array(n);
  const br = new Float64Array(n);
  const bi = new Float64Array(n);
  for (let i = 0; i < test.length; i++) ar[i] = test[i] ?? 0;
  for (let i = 0; i < reference.length; i++) br[i] = reference[i] ?? 0;
  fft(ar, ai, false);
  fft(br, bi, false);
  // test ⋆ reference: A · conj(B); negative lags wrap around to the end.
  for (let i = 0; i < n; i++) {
    const r = ar[i]! * br[i]! + ai[i]! * bi[i]!;
    const im = ai[i]! * br[i]! - ar[i]! * bi[i]!;
    ar[i] = r;
    ai[i] = im;
  }
  fft(ar, ai, true);
  const out = new Float64Array(2 * maxLag + 1);
  for (let lag = -maxLag; lag <= maxLag; lag++) out[maxLag + lag] = (ar[(lag + n) % n] ?? 0) / n;
  return out;
}

export interface Alignment {
  /** Samples by which `test` lags the reference (negative: it leads). */
  readonly lagSamples: number;
  /** Normalised correlation at that lag, over the overlap (1: the same waveform up to scale). */
  readonly correlation: number;
  /** SNR of `test` against the reference scaled by its least-squares gain, over the overlap (dB). */
  readonly snrDb: number;
  /** Samples the two share at that lag. */
  readonly overlapSamples: number;
}

/**
 * Aligns `test` to `reference` (test[i + lag] ≈ g · reference[i] plus noise, |lag| ≤ maxLagSamples)
 * and measures the fit over the samples they share.
 */
export function align(reference: ArrayLike<number>, test: ArrayLike<number>, maxLagSamples: number): Alignment {
  let lag = 0;
  if (maxLagSamples > 0) {
    const cross = crossCorrelation(reference, test, maxLagSamples);
    let best = 0;
    for (let k = 1; k < cross.length; k++) if (cross[k]! > cross[best]!) best = k;
    lag = best - maxLagSamples;
  }
  const from = Math.max(0, -lag);
  const to = Math.min(reference.length, test.length - lag);
  let rr = 0;
  let tt = 0;
  let rt = 0;
  for (let i = from; i < to; i++) {
    const r = reference[i] ?? 0;
    const x = test[i + lag] ?? 0;
    rr += r * r;
    tt += x * x;
    rt += r * x;
  }
  const gain = rr > 0 ? rt / rr : 0;
  // ‖x − g·r‖² = tt − rt²/rr at the least-squares gain g = rt/rr.
  const signal = gain * gain * rr;
  const error = Math.max(tt - signal, 1e-9);
  return {
    lagSamples: lag,
    correlation: rr > 0 && tt > 0 ? rt / Math.sqrt(rr * tt) : 0,
    snrDb: signal > 0 ? 10 * Math.log10(signal / error) : Number.NEGATIVE_INFINITY,
    overlapSamples: Math.max(0, to - from),
  };
}


/**
 * Through a codec and a jitter buffer the waveform is not kept (Opus codes band energies; the
 * receiver stretches and shrinks time), so a stream is compared by its envelope: the mean square of
 * each block of `blockSamples`.
 */
export function blockEnergies(samples: ArrayLike<number>, blockSamples: number): Float64Array {
  const out = new Float64Array(Math.floor(samples.length / blockSamples));
  for (let b = 0; b < out.length; b++) out[b] = rms(samples, b * blockSamples, (b + 1) * blockSamples) ** 2;
  return out;
}

const db = (energy: number): number => 10 * Math.log10(Math.max(energy, 1e-3));

export interface EnvelopeFit {
  /** Blocks by which `test` lags the reference (negative: it leads), over the whole stream. */
  readonly lagBlocks: number;
  /** The lag of each reference block, window by window (the receiver's delay wanders a little). */
  readonly lags: Int32Array;
  /** Correlation of the two envelopes in dB, the mean over the windows at their own lags. */
  readonly correlation: number;
  readonly windows: number;
}

/** Correlation of the envelopes in dB over reference blocks [from, to) at `lag`; undefined under 10 blocks. */
function envelopeCorrelation(reference: Float64Array, test: Float64Array, lag: number, from: number, to: number): number | undefined {
  const start = Math.max(from, -lag);
  const end = Math.min(to, test.length - lag);
  const n = end - start;
  if (n < 10) return undefined;
  let sr = 0;
  let st = 0;
  for (let i = start; i < end; i++) {
    sr += db(reference[i]!);
    st += db(test[i + lag]!);
  }
  let rr = 0;
  let tt = 0;
  let rt = 0;
  for (let i = start; i < end; i++) {
    const r = db(reference[i]!) - sr / n;
    const t = db(test[i + lag]!) - st / n;
    rr += r * r;
    tt += t * t;
    rt += r * t;
  }
  return rr > 0 && tt > 0 ? rt / Math.sqrt(rr * tt) : 0;
}

/**
 * Where `test`'s envelope follows the reference's: the lag (|lag| ≤ maxLagBlocks) at which they
 * agree best over the whole stream, then each window of `windowBlocks` again within ±driftBlocks of it.
 */
export function alignEnvelopes(
  reference: Float64Array,
  test: Float64Array,
  options: { readonly maxLagBlocks: number; readonly windowBlocks: number; readonly driftBlocks: number },
): EnvelopeFit {
  let lagBlocks = 0;
  let bestWhole = -2;
  for (let lag = -options.maxLagBlocks; lag <= options.maxLagBlocks; lag++) {
    const c = envelopeCorrelation(reference, test, lag, 0, reference.length);
    if (c !== undefined && c > bestWhole) [bestWhole, lagBlocks] = [c, lag];
  }
  const lags = new Int32Array(reference.length).fill(lagBlocks);
  let sum = 0;
  let windows = 0;
  for (let from = 0; from < reference.length; from += options.windowBlocks) {
    const to = Math.min(reference.length, from + options.windowBlocks);
    let best: { lag: number; c: number } | undefined;
    for (let lag = lagBlocks - options.driftBlocks; lag <= lagBlocks + options.driftBlocks; lag++) {
      const c = envelopeCorrelation(reference, test, lag, from, to);
      if (c !== undefined && (!best || c > best.c)) best = { lag, c };
    }
    if (!best) continue;
    lags.fill(best.lag, from, to);
    sum += best.c;
    windows++;
  }
  return { lagBlocks, lags, correlation: windows > 0 ? sum / windows : 0, windows };
}

/**
 * Speech over noise in a stream whose clean speech is known: the mean energy of `test`'s blocks where
 * the clean speech is loud (within 20 dB of its loudest block) over that of the blocks where it is
 * silent (40 dB below it), each reference block mapped by its lag in `lags`. Noise suppression
 * raises it; a codec leaves it.
 */
export function speechOverPausesDb(clean: Float64Array, test: Float64Array, lags: ArrayLike<number>): { readonly db: number; readonly speechBlocks: number; readonly pauseBlocks: number } {
  let peak = 0;
  for (const e of clean) peak = Math.max(peak, e);
  let speech = 0;
  let speechBlocks = 0;
  let pause = 0;
  let pauseBlocks = 0;
  for (let i = 0; i < clean.length; i++) {
    const j = i + (lags[i] ?? 0);
    if (j < 0 || j >= test.length) continue;
    const e = test[j]!;
    if (clean[i]! >= peak / 100) {
      speech += e;
      speechBlocks++;
    } else if (clean[i]! <= peak / 10_000) {
      pause += e;
      pauseBlocks++;
    }
  }
  return { db: 10 * Math.log10(speech / speechBlocks / Math.max(pause / pauseBlocks, 1e-9)), speechBlocks, pauseBlocks };
}
