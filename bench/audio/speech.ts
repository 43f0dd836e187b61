/**
 * The audio the audio benchmark (and its caption part) feeds the service: sentences spoken by
 * espeak-ng and stationary noise made by sox, both as 48 kHz mono 16-bit samples in whole 10 ms
 * blocks (what the WebRTC binding takes). Needs espeak-ng and sox on PATH.
 */
import { execFileSync } from 'node:child_process';

export const RATE_HZ = 48_000;
export const BLOCK_SAMPLES = 480;

/** Harvard sentences (IEEE 1969), the usual test material for speech coding and enhancement. */
export const SENTENCES = [
  'The birch canoe slid on the smooth planks.',
  'Glue the sheet to the dark blue background.',
  'It is easy to tell the depth of a well.',
  'These days a chicken leg is a rare dish.',
  'Rice is often served in round bowls.',
  'The juice of lemons makes fine punch.',
] as const;

export const NOISE_COLOURS = ['white', 'pink', 'brown'] as const;
export type NoiseColour = (typeof NOISE_COLOURS)[number];

const wholeBlocks = (raw: Buffer): Int16Array => {
  const out = new Int16Array(Math.floor(raw.byteLength / 2 / BLOCK_SAMPLES) * BLOCK_SAMPLES);
  out.set(new Int16Array(raw.buffer, raw.byteOffset, out.length));
  return out;
};

/** `text` spoken by espeak-ng (its default English voice), resampled by sox to 48 kHz. */
export function speak(text: string): Int16Array {
  const wav = execFileSync('espeak-ng', ['--stdout', text], { maxBuffer: 64 * 1024 * 1024 });
  return wholeBlocks(execFileSync('sox', ['-t', 'wav', '-', '-r', String(RATE_HZ), '-c', '1', '-b', '16', '-e', 'signed', '-t', 'raw', '-'], { input: wav, maxBuffer: 64 * 1024 * 1024 }));
}

/** `samples` of sox's stationary noise of one colour (fixed seed: the same noise every run). */
export function noise(colour: NoiseColour, samples: number): Int16Array {
  const seconds = (samples / RATE_HZ).toFixed(3);
  const raw = execFileSync('sox', ['-R', '-n', '-r', String(RATE_HZ), '-c', '1', '-b', '16', '-e', 'signed', '-t', 'raw', '-', 'synth', seconds, `${colour}noise`, 'vol', '0.5'], {
    maxBuffer: 64 * 1024 * 1024,
  });
  const out = new Int16Array(samples);
  out.set(wholeBlocks(raw).subarray(0, samples));
  return out;
}

/** `clean` plus `noiseSignal` scaled so that their power ratio over the whole signal is `snrDb`. */
export function mix(clean: Int16Array, noiseSignal: Int16Array, snrDb: number): Float32Array {
  let cleanPower = 0;
  let noisePower = 0;
  for (let i = 0; i < clean.length; i++) {
    cleanPower += clean[i]! ** 2;
    noisePower += (noiseSignal[i] ?? 0) ** 2;
  }
  const gain = Math.sqrt(cleanPower / noisePower / 10 ** (snrDb / 10));
  const out = new Float32Array(clean.length);
  for (let i = 0; i < clean.length; i++) out[i] = clean[i]! + gain * (noiseSignal[i] ?? 0);
  return out;
}

/** Floats in 16-bit scale to samples, clamped (a mix at 0 dB may pass full scale). */
export function toInt16(samples: Float32Array): Int16Array {
  const out = new Int16Array(samples.length);
  for (let i = 0; i < samples.length; i++) out[i] = Math.max(-32768, Math.min(32767, Math.round(samples[i]!)));
  return out;
}
