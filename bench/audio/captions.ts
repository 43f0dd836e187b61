/**
 * The caption figures of bench/audio.ts (docs/audio.md, Captions): with the real engines,
 * 1. word error rate of the pipeline's final captions against the engine's own offline decode of
 *    the same recording (the streaming path must lose nothing: ratio <= 1.1) and against the known
 *    text, on clean speech and on speech in pink noise at 10 dB;
 * 2. caption latency, end of speech to final caption, p50/p95, with `sessions` pipelines fed in
 *    real time at once (the recogniser threads compete for the cores as they would on a pod);
 * 3. the recogniser's time per second of audio, and this process's CPU per second of audio
 *    (resampling and the main thread's share included).
 */
import { execFileSync } from 'node:child_process';
import { configWith } from '../../src/config.ts';
import { createMetrics } from '../../src/metrics.ts';
import { DEFAULT_SPEECH_PATHS } from '../../src/speech/availability.ts';
import type { Caption } from '../../src/speech/caption-types.ts';
import { createCaptionPipeline } from '../../src/speech/index.ts';
import { decodeOffline } from '../../src/speech/offline.ts';
import { FINAL_DECODES, type FinalDecode } from '../../src/speech/utterances.ts';
import { wordErrorRate } from '../../src/speech/wer.ts';
import { BLOCK_SAMPLES, mix, noise, RATE_HZ, SENTENCES, toInt16 } from './speech.ts';

const ENGINE = 'PocketSphinx 5prealpha, US-English model (Debian libpocketsphinx3, pocketsphinx-en-us)';
const silentLog = { info: () => undefined, warn: () => undefined, error: () => undefined };

/**
 * One sentence in espeak-ng's US-English voice at 120 words a minute: of its voices and speeds the
 * one PocketSphinx's model follows best (its default voice at 175 loses nine words in ten).
 */
function speakSlowly(sentence: string): Int16Array {
  const raw = execFileSync('sh', ['-c', `espeak-ng -v en-us -s 120 --stdout "$0" | sox -D -t wav - -r ${RATE_HZ} -c 1 -b 16 -e signed -t raw -`, sentence], { maxBuffer: 64 * 1024 * 1024 });
  const out = new Int16Array(Math.floor(raw.byteLength / 2 / BLOCK_SAMPLES) * BLOCK_SAMPLES);
  out.set(new Int16Array(raw.buffer, raw.byteOffset, out.length));
  return out;
}

/** The sentences spoken one by one with `gapSeconds` of silence between them (whole 10 ms blocks). */
function spokenWithPauses(gapSeconds: number): Int16Array {
  const gap = new Int16Array(Math.round(gapSeconds * RATE_HZ / BLOCK_SAMPLES) * BLOCK_SAMPLES);
  const parts = [gap, ...SENTENCES.flatMap((s) => [speakSlowly(s), gap])];
  const out = new Int16Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}

const to16k = (samples: Int16Array): Int16Array => {
  const raw = execFileSync('sox', ['-D', '-t', 'raw', '-r', String(RATE_HZ), '-c', '1', '-b', '16', '-e', 'signed', '-', '-r', '16000', '-t', 'raw', '-'], {
    input: Buffer.from(samples.buffer, samples.byteOffset, samples.byteLength),
    maxBuffer: 64 * 1024 * 1024,
  });
  const out = new Int16Array(Math.floor(raw.byteLength / 2));
  out.set(new Int16Array(raw.buffer, raw.byteOffset, out.length));
  return out;
};

interface Run {
  readonly finals: Caption[];
  readonly latenciesMs: readonly number[];
  readonly engineSeconds: number;
  readonly audioSeconds: number;
  readonly droppedSeconds: number;
}

/** Feeds `signal` to a new pipeline in 10 ms blocks, in real time (`realTime`) or all at once. */
async function feed(signal: Int16Array, realTime: boolean, finalDecode: FinalDecode): Promise<Run> {
  const metrics = createMetrics({ p95WindowSeconds: 60, queueDepth: () => 0 });
  const limits = configWith(realTime ? { captionsFinalDecode: finalDecode } : { captionsFinalDecode: finalDecode, captionsAudioQueueMs: 60_000 });
  const pipeline = createCaptionPipeline({ lang: 'en' }, { log: silentLog, metrics, limits });
  const finals: Caption[] = [];
  pipeline.subscribe((c) => {
    if (c.final && c.text !== '') finals.push(c);
  });
  const blocks = signal.length / BLOCK_SAMPLES;
  const startMs = performance.now();
  for (let sent = 0; sent < blocks; ) {
    const due = realTime ? Math.min(blocks, Math.floor((performance.now() - startMs) / 10) + 1) : blocks;
    for (; sent < due; sent++) pipeline.push({ samples: signal.slice(sent * BLOCK_SAMPLES, (sent + 1) * BLOCK_SAMPLES), sampleRateHz: RATE_HZ, channelCount: 1, receivedAtMs: performance.now() });
    if (realTime) await new Promise((resolve) => setTimeout(resolve, 5));
  }
  await pipeline.close();
  const stats = pipeline.stats();
  return { finals, latenciesMs: stats.latenciesMs, engineSeconds: stats.engineSeconds, audioSeconds: stats.audioSeconds, droppedSeconds: stats.droppedSeconds };
}

const percentile = (values: readonly number[], p: number): number => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))] ?? Number.NaN;
};

export async function captionFigures(options: { readonly sessions: number; readonly passes: number }): Promise<void> {
  const known = SENTENCES.join(' ');
  const clean = spokenWithPauses(0.8);
  console.log(`\n## Captions: ${ENGINE}\n`);
  console.log(`speech: espeak-ng (en-us, 120 words a minute), ${SENTENCES.length} Harvard sentences with 0.8 s pauses, ${(clean.length / RATE_HZ).toFixed(1)} s at 48 kHz\n`);
  console.log('| audio | final decode (CAPTIONS_FINAL_DECODE) | WER of the pipeline | WER offline (same recording, decoded whole) | ratio (goal <= 1.1) |');
  console.log('| --- | --- | --- | --- | --- |');
  const inputs: [string, Int16Array][] = [
    ['clean', clean],
    ['pink noise, 10 dB SNR', toInt16(mix(clean, noise('pink', clean.length), 10))],
  ];
  for (const [label, signal] of inputs) {
    const offline = await decodeOffline([to16k(signal)], DEFAULT_SPEECH_PATHS);
    const whole = wordErrorRate(known, offline.texts.join(' '));
    for (const finalDecode of FINAL_DECODES) {
      const run = await feed(signal, false, finalDecode);
      const streamed = wordErrorRate(known, run.finals.map((c) => c.text).join(' '));
      const ratio = whole === 0 ? (streamed === 0 ? 1 : Number.POSITIVE_INFINITY) : streamed / whole;
      console.log(`| ${label} | ${finalDecode} | ${(streamed * 100).toFixed(0)} % | ${(whole * 100).toFixed(0)} % | ${ratio.toFixed(2)} (${ratio <= 1.1 ? 'met' : 'not met'}) |`);
    }
  }
  console.log("\nWER against the known text: PocketSphinx's model is trained on human speech; espeak-ng's formant voice is far from it.");

  console.log(`\n${options.sessions} pipelines at once, fed in real time, ${options.passes} passes per final decode`);
  console.log('\n| final decode | finals | caption latency p50 | p95 | max | recogniser s per s of audio | process CPU s per s of audio | audio dropped |');
  console.log('| --- | --- | --- | --- | --- | --- | --- | --- |');
  for (const finalDecode of FINAL_DECODES) {
    const cpuBefore = process.cpuUsage();
    const runs: Run[] = [];
    for (let pass = 0; pass < options.passes; pass++) runs.push(...(await Promise.all(Array.from({ length: options.sessions }, () => feed(clean, true, finalDecode)))));
    const cpu = process.cpuUsage(cpuBefore);
    const latencies = runs.flatMap((r) => r.latenciesMs);
    const audioSeconds = runs.reduce((n, r) => n + r.audioSeconds, 0);
    const engineSeconds = runs.reduce((n, r) => n + r.engineSeconds, 0);
    const dropped = runs.reduce((n, r) => n + r.droppedSeconds, 0);
    console.log(
      `| ${finalDecode} | ${latencies.length} | ${percentile(latencies, 50).toFixed(0)} ms | ${percentile(latencies, 95).toFixed(0)} ms | ${Math.max(...latencies).toFixed(0)} ms | ${(engineSeconds / audioSeconds).toFixed(2)} | ${((cpu.user + cpu.system) / 1e6 / audioSeconds).toFixed(2)} | ${dropped.toFixed(1)} s of ${(dropped + audioSeconds).toFixed(1)} s |`,
    );
  }
  console.log('\nLatency: end of speech as the detector places it (0.5 s hangover included) to the final caption handed to listeners.');
}
