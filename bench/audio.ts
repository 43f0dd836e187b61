/**
 * The audio path's figures, in one run (docs/audio.md, Figures):
 * 1. denoise's SNR gain: RNNoise over espeak-ng's sentences mixed with sox's white, pink and brown
 *    noise at 0, 5 and 10 dB, the output aligned to the clean speech and measured against it
 *    (goal: a gain of 6 dB or more); RNNoise's own delay from the same alignment;
 *    and through a live call, passthrough against denoise, by the speech-to-pause energy of what
 *    comes back (Opus keeps no waveform to align);
 * 2. CPU per audio session per feature: N publishers sending speech in noise and a 320x240 10 fps
 *    card (iters=0), the server's CPU per session with each audio effect less its video-only
 *    baseline, against the bare audio echo on the same binding (bench/audio/echo-server.ts) as floor;
 *    and the service's audio latency (received to handed to the encoder) per feature.
 *
 * 3. captions (bench/audio/captions.ts): the pipeline's word error rate against PocketSphinx's own
 *    offline decode of the same recording and against the known text, caption latency p50/p95 with
 *    --caption-sessions pipelines fed in real time at once, the recogniser's time per second of audio.
 *
 *   npm run bench:audio -- [--sessions 4] [--seconds 10] [--no-sessions]
 *                          [--capacity-out bench/results/audio-capacity.json]
 *                          [--no-captions | --captions-only] [--caption-sessions 2] [--caption-passes 1]
 *
 * --capacity-out writes the cores one session's audio costs per feature (the capacity planner's
 * --session-audio-cores, and AUDIO_CORES_PER_SESSION in src/session-capacity.ts).
 *
 * Needs espeak-ng and sox (and for 3, PocketSphinx). Each feature runs on a fresh server process in turn.
 */
import { writeFileSync } from 'node:fs';
import os from 'node:os';
import { parseArgs } from 'node:util';
import { captionFigures } from './audio/captions.ts';
import { denoiseSnr } from './audio/snr.ts';
import { runPhase, startAudioServer, stopAudioServer, type AudioFeature, type AudioTarget, type PhaseResult } from './audio/sessions.ts';
import { throughSession } from './audio/through-session.ts';
import { mix, noise, NOISE_COLOURS, SENTENCES, speak, toInt16 } from './audio/speech.ts';

const { values } = parseArgs({
  options: {
    sessions: { type: 'string', default: '4' },
    seconds: { type: 'string', default: '10' },
    'no-sessions': { type: 'boolean', default: false },
    'capacity-out': { type: 'string' },
    'no-captions': { type: 'boolean', default: false },
    'captions-only': { type: 'boolean', default: false },
    'caption-sessions': { type: 'string', default: '2' },
    'caption-passes': { type: 'string', default: '1' },
  },
});
const captionOptions = { sessions: Number(values['caption-sessions']), passes: Number(values['caption-passes']) };
const sessions = Number(values.sessions);
const seconds = Number(values.seconds);

console.log(`# bench/audio.ts — ${new Date().toISOString().slice(0, 10)}, ${os.cpus()[0]?.model ?? 'unknown CPU'}, ${os.availableParallelism()} CPUs, Node ${process.version}`);
if (values['captions-only']) {
  await captionFigures(captionOptions);
  process.exit(0);
}

// ---- 1. denoise SNR gain -------------------------------------------------------------------------
const clean = speak(SENTENCES.join(' '));
console.log(`\nspeech: espeak-ng, ${SENTENCES.length} Harvard sentences, ${(clean.length / 48_000).toFixed(1)} s at 48 kHz\n`);
console.log('| noise | input SNR | output SNR | gain |');
console.log('| --- | --- | --- | --- |');
const gains = new Map<number, number[]>();
let delaySamples = 0;
let computePerSecond = 0;
for (const colour of NOISE_COLOURS) {
  const noiseSignal = noise(colour, clean.length);
  for (const snrDb of [0, 5, 10]) {
    const result = await denoiseSnr(clean, mix(clean, noiseSignal, snrDb));
    const gain = result.outputSnrDb - result.inputSnrDb;
    gains.set(snrDb, [...(gains.get(snrDb) ?? []), gain]);
    delaySamples = result.delaySamples;
    computePerSecond = Math.max(computePerSecond, result.computeSecondsPerSecond);
    console.log(`| ${colour} | ${result.inputSnrDb.toFixed(1)} dB | ${result.outputSnrDb.toFixed(1)} dB | ${gain >= 0 ? '+' : ''}${gain.toFixed(1)} dB |`);
  }
}
const mean = (xs: readonly number[]): number => xs.reduce((a, b) => a + b, 0) / xs.length;
for (const [snrDb, list] of gains) {
  const g = mean(list);
  console.log(`mean gain at ${snrDb} dB: ${g.toFixed(1)} dB (goal >= 6 dB: ${g >= 6 ? 'met' : 'not met'})`);
}
console.log(`RNNoise delay: ${delaySamples} samples (${(delaySamples / 48).toFixed(1)} ms); compute ${(computePerSecond * 1000).toFixed(1)} ms per second of audio (this thread)`);

// ---- 1b. denoise through a live call ------------------------------------------------------------------
if (!values['no-sessions']) {
  const call = speak(SENTENCES.slice(0, 3).join(' '));
  const noisy = toInt16(mix(call, noise('white', call.length), 0));
  const server = await startAudioServer('service');
  try {
    console.log('\nthrough a call (Opus both ways), speech in white noise at 0 dB: the energy of the speech over that of its pauses\n');
    console.log('| audio | sent | back | envelope correlation |');
    console.log('| --- | --- | --- | --- |');
    for (const effect of ['passthrough', 'denoise'] as const) {
      const r = await throughSession(server.base, effect, call, noisy);
      console.log(`| ${effect} | ${r.sentDb.toFixed(1)} dB | ${r.backDb.toFixed(1)} dB | ${r.envelopeCorrelation.toFixed(2)} |`);
    }
  } finally {
    await stopAudioServer(server);
  }
}

// ---- 2. CPU per audio session per feature ---------------------------------------------------------
if (!values['no-sessions']) {
  const speech = toInt16(mix(clean, noise('pink', clean.length), 10));
  const plan: [AudioTarget, AudioFeature[]][] = [
    ['echo', ['video', 'passthrough']],
    ['service', ['video', 'passthrough', 'mute', 'denoise']],
  ];
  const results: PhaseResult[] = [];
  for (const [target, features] of plan) {
    for (const feature of features) {
      const server = await startAudioServer(target);
      try {
        results.push(await runPhase(server, feature, { sessions, warmUpSeconds: 3, seconds, speech }));
      } finally {
        await stopAudioServer(server);
      }
    }
  }
  console.log(`\n${sessions} sessions per phase, ${seconds} s held; cores = server CPU seconds per second\n`);
  console.log('| server | audio | server cores | per session | audio per session (less video) | blocks back /s | audio latency | dropped |');
  console.log('| --- | --- | --- | --- | --- | --- | --- | --- |');
  for (const r of results) {
    const baseline = results.find((b) => b.target === r.target && b.feature === 'video');
    const audioCores = r.feature === 'video' || !baseline ? undefined : (r.serverCores - baseline.serverCores) / r.sessions;
    console.log(
      `| ${r.target} | ${r.feature === 'video' ? 'none (video only)' : r.feature} | ${r.serverCores.toFixed(3)} | ${(r.serverCores / r.sessions).toFixed(3)} | ${audioCores === undefined ? '–' : audioCores.toFixed(3)} | ${r.feature === 'video' ? '–' : r.blocksBackPerSecond.toFixed(0)} | ${r.audioLatencyMeanMs === undefined ? '–' : `${r.audioLatencyMeanMs.toFixed(2)} ms`} | ${Object.entries(r.dropped).map(([reason, n]) => `${reason} ${n}`).join(', ') || '–'} |`,
    );
  }
  if (values['capacity-out'] !== undefined) {
    const audioCores = (target: AudioTarget, feature: AudioFeature): number | undefined => {
      const r = results.find((x) => x.target === target && x.feature === feature);
      const baseline = results.find((x) => x.target === target && x.feature === 'video');
      return r && baseline ? Math.round(((r.serverCores - baseline.serverCores) / r.sessions) * 10_000) / 10_000 : undefined;
    };
    const file = {
      about:
        'Cores one WebRTC session\'s audio costs besides its video, by audio effect (bench/audio.ts --capacity-out): server CPU per session with audio less the video-only baseline, the same sessions and 320x240 10 fps card; echo = the bare binding floor in the same run',
      date: new Date().toISOString(),
      node: process.version,
      cpuModel: os.cpus()[0]?.model ?? 'unknown',
      machineCpus: os.availableParallelism(),
      sessions,
      seconds,
      audioCoresPerSession: { passthrough: audioCores('service', 'passthrough'), mute: audioCores('service', 'mute'), denoise: audioCores('service', 'denoise') },
      echoAudioCoresPerSession: audioCores('echo', 'passthrough'),
    };
    writeFileSync(values['capacity-out'], `${JSON.stringify(file, null, 2)}\n`);
    console.log(`\nwrote ${values['capacity-out']}`);
  }
}

// ---- 3. captions ------------------------------------------------------------------------------------
if (!values['no-captions']) await captionFigures(captionOptions);
