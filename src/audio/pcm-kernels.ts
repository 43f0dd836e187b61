/** Pure kernels over 16-bit PCM blocks: channel mixing and sample format. No I/O, no state. */

/** The mean of the interleaved channels of `samples`, as floats in 16-bit scale, into `out` (one per sample frame). */
export function mixToMonoFloat(samples: Int16Array, channelCount: number, out: Float32Array): void {
  const frames = out.length;
  if (channelCount === 1) {
    for (let i = 0; i < frames; i++) out[i] = samples[i] ?? 0;
    return;
  }
  for (let i = 0; i < frames; i++) {
    let sum = 0;
    for (let c = 0; c < channelCount; c++) sum += samples[i * channelCount + c] ?? 0;
    out[i] = sum / channelCount;
  }
}

/** Floats in 16-bit scale to 16-bit samples, rounded and clamped. */
export function floatToInt16(src: Float32Array, out: Int16Array): void {
  for (let i = 0; i < src.length; i++) {
    const v = Math.round(src[i] ?? 0);
    out[i] = v > 32767 ? 32767 : v < -32768 ? -32768 : v;
  }
}
