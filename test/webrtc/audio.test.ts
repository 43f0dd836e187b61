/**
 * Audio through WebRTC sessions, one server for the file: a Node publisher sends audio generated here
 * (or speech from espeak-ng for denoise) and gets it back processed on the same connection, a WHEP
 * viewer hears it too, metrics move, the per-session bounds hold, and captions from the session's
 * pipeline (a small fake pipeline here; the real one is src/speech's) reach the control channel.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { after, before, test } from 'node:test';
import { buildApp, type AppContext } from '../../src/app.ts';
import { Denoiser } from '../../src/audio/denoiser.ts';
import type { PcmFrame } from '../../src/audio/pcm.ts';
import { mixToMonoFloat } from '../../src/audio/pcm-kernels.ts';
import { alignEnvelopes, blockEnergies, rms, speechOverPausesDb } from '../../src/audio/signal-quality.ts';
import { configWith } from '../../src/config.ts';
import { createMetrics } from '../../src/metrics.ts';
import type { Caption, CaptionPipeline, CaptionRequest } from '../../src/speech/caption-types.ts';
import { AudioPath } from '../../src/webrtc/audio-path.ts';
import { parseAudioRequest } from '../../src/webrtc/audio-request.ts';
import type { SessionStats } from '../../src/webrtc/publisher-session.ts';
import type { SpeechProvider } from '../../src/webrtc/session-media.ts';
import type { ClientAudioBlock } from '../../tools/rtc-load/client/peer.ts';
import { WhepViewer, type WhipPublisher } from '../../tools/rtc-load/client/whip.ts';
import { metricValue } from '../helpers.ts';
import { requireOrSkip, which } from '../tools.ts';
import { waitUntil } from '../wait.ts';
import { CARD, listenOnLoopback, metricsText, publish, sendAudio } from './support.ts';

const RATE_HZ = 48_000;
const BLOCK = 480;
/**
 * Envelopes are compared 10 ms block by block, within a second of delay; the receiver's jitter
 * buffer stretches time by a few blocks as it goes, so each half second is aligned again within ±5.
 */
const ENVELOPE_FIT = { maxLagBlocks: 100, windowBlocks: 50, driftBlocks: 5 };

/** A caption pipeline that captions each second of audio it hears as "second N" (final), and records what it got. */
class FakeCaptions implements CaptionPipeline {
  readonly request: CaptionRequest;
  samples = 0;
  closed = false;
  readonly #listeners = new Set<(caption: Caption) => void>();
  #latest: Caption | undefined;
  constructor(request: CaptionRequest) {
    this.request = request;
  }
  push(frame: PcmFrame): void {
    const before = Math.floor(this.samples / frame.sampleRateHz);
    this.samples += frame.samples.length / frame.channelCount;
    const second = Math.floor(this.samples / frame.sampleRateHz);
    if (second === before) return;
    const caption: Caption = { type: 'caption', lang: this.request.lang, text: `second ${second}`, final: true, startMs: before * 1000, endMs: second * 1000, ...(this.request.translate ? { translation: { lang: this.request.translate, text: `segundo ${second}` } } : {}) };
    this.#latest = caption;
    for (const listener of this.#listeners) listener(caption);
  }
  subscribe(listener: (caption: Caption) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }
  latest(): Caption | undefined {
    return this.#latest;
  }
  webvtt(): string {
    return 'WEBVTT\n';
  }
  async close(): Promise<void> {
    this.closed = true;
  }
}

const pipelines: FakeCaptions[] = [];
const overlayTexts: (string | undefined)[] = [];
let blended = 0;
const speech: SpeechProvider = {
  availability: () => ({ available: true, languages: ['en'], translations: ['es'] }),
  createPipeline: (request) => {
    const pipeline = new FakeCaptions(request);
    pipelines.push(pipeline);
    return pipeline;
  },
  createOverlay: () => ({
    update: async (caption) => void overlayTexts.push(caption?.translation?.text ?? caption?.text),
    blendI420: (frame, width) => {
      // A white bar over the top row: what a burnt-in caption does to the pixels, visibly.
      frame.fill(255, 0, width);
      blended++;
    },
  }),
};

let ctx: AppContext;
let base: string;
before(async () => {
  ctx = await buildApp(configWith({ device: 'cpu', workers: 1, maxQueue: 16, logLevel: 'silent', maxEventLoopDelayMs: 0, sessionDrainSeconds: 0, sloAdmission: false, maxSessionsPerClient: 0 }), {
    logger: false,
    speech,
  });
  base = await listenOnLoopback(ctx.app);
});
after(() => ctx.app.close());

/** Everything a peer receives from now on, at 48 kHz, as one mono signal (the first channel). */
function record(peer: WhipPublisher['peer']): { samples(): Float32Array; blocks(): number } {
  const blocks: ClientAudioBlock[] = [];
  // The receiver plays comfort noise at 16 kHz until the first packet: only the stream's own rate counts.
  peer.on('audio', (block) => {
    if (block.sampleRateHz === RATE_HZ) blocks.push(block);
  });
  return {
    blocks: () => blocks.length,
    samples: () => {
      const out = new Float32Array(blocks.reduce((n, b) => n + b.samples.length / b.channelCount, 0));
      let at = 0;
      for (const b of blocks) for (let i = 0; i < b.samples.length; i += b.channelCount) out[at++] = b.samples[i]!;
      return out;
    },
  };
}

/**
 * Tone bursts (440 + 1000 Hz) switched on and off every 50 ms by a fixed pseudo-random pattern: an
 * envelope no codec changes and no shift of it matches itself.
 */
function bursts(seconds: number, amplitude = 6000): Int16Array {
  const out = new Int16Array(Math.round(seconds * RATE_HZ));
  let seed = 7;
  let on = false;
  for (let i = 0; i < out.length; i++) {
    if (i % (RATE_HZ / 20) === 0) on = ((seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0) & 0x100) !== 0;
    const t = i / RATE_HZ;
    out[i] = on ? Math.round((amplitude / 2) * (Math.sin(2 * Math.PI * 440 * t) + Math.sin(2 * Math.PI * 1000 * t))) : 0;
  }
  return out;
}

/** Share of the 10 ms blocks of `samples` that are loud (within 20 dB of the loudest). */
function onShare(samples: ArrayLike<number>): number {
  const energies = blockEnergies(samples, BLOCK);
  const peak = Math.max(...energies);
  return energies.filter((e) => e >= peak / 100).length / energies.length;
}

/**
 * Share of the power of `samples` within 60 Hz of the given frequencies: Goertzel over windows of
 * 50 ms (20 Hz bins), ±3 bins around each (the bursts' switching spreads a tone a little).
 */
function toneShare(samples: Float32Array, frequenciesHz: readonly number[]): number {
  const n = RATE_HZ / 20;
  let total = 0;
  let tones = 0;
  for (let start = 0; start + n <= samples.length; start += n) {
    const window = samples.subarray(start, start + n);
    for (const x of window) total += x * x;
    for (const f of frequenciesHz) {
      for (let bin = -3; bin <= 3; bin++) {
        const c = 2 * Math.cos((2 * Math.PI * (f / 20 + bin)) / n);
        let s1 = 0;
        let s2 = 0;
        for (const x of window) [s1, s2] = [x + c * s1 - s2, s1];
        // Parseval: Σx² = (1/n) Σ|X_k|², a real signal's bin and its mirror counted together.
        tones += (2 * (s1 * s1 + s2 * s2 - c * s1 * s2)) / n;
      }
    }
  }
  return total > 0 ? tones / total : 0;
}

test('passthrough: the publisher and a WHEP viewer hear what was sent; mute sends silence; bad choices are 422', { timeout: 60_000 }, async (t) => {
  const publisher = await publish(t, `${base}/whip?effect=blur&iters=0`, { audio: true, controlChannel: true });
  const viewer = await WhepViewer.view(`${base}/whep/${(await (await fetch(publisher.resourceUrl)).json() as { watchUrl: string }).watchUrl.split('/').pop()}`, { audio: true });
  t.after(() => viewer.peer.close());
  const heard = record(publisher.peer);
  const watched = record(viewer.peer);
  const signal = bursts(2);
  await sendAudio(publisher, signal);
  await waitUntil('audio back at the publisher and the viewer', () => heard.blocks() > 100 && watched.blocks() > 100);
  const sentOn = onShare(signal);
  for (const [who, got] of [['publisher', heard.samples()], ['viewer', watched.samples()]] as const) {
    // What comes back is the bursts: their two tones, switched on about as often as they were sent.
    // (Block-exact timing is not kept: the receiver's jitter buffer stretches time as it goes.)
    const tones = toneShare(got, [440, 1000]);
    assert.ok(tones > 0.8, `${who}: 440 + 1000 Hz carry ${(100 * tones).toFixed(0)}% of the power`);
    assert.ok(Math.abs(onShare(got) - sentOn) < 0.15, `${who}: on ${(100 * onShare(got)).toFixed(0)}% of the time, sent ${(100 * sentOn).toFixed(0)}%`);
  }
  const stats = (await (await fetch(publisher.resourceUrl)).json()) as SessionStats;
  assert.equal(stats.audio?.effect, 'passthrough');
  assert.ok((stats.audio?.blocksProcessed ?? 0) > 100, JSON.stringify(stats.audio));
  const text = await metricsText(base);
  assert.ok((metricValue(text, 'app_audio_frames_processed_total', { effect: 'passthrough' }) ?? 0) > 100);
  assert.equal(metricValue(text, 'app_audio_sessions_active'), 1);
  assert.equal(metricValue(text, 'app_audio_frames_processed_total', { effect: 'denoise' }), 0);

  // mute (PATCH): silence of the same pace keeps the track alive.
  const patched = await fetch(publisher.resourceUrl, { method: 'PATCH', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ audio: 'mute' }) });
  assert.equal(patched.status, 200);
  assert.deepEqual(await patched.json(), { effect: 'blur', params: {}, iters: 0, audio: 'mute' });
  const muted = record(publisher.peer);
  await sendAudio(publisher, bursts(1));
  await waitUntil('muted audio back', () => muted.blocks() > 60);
  const quiet = muted.samples();
  assert.ok(rms(quiet, quiet.length - 20 * BLOCK) < 30, `muted RMS ${rms(quiet, quiet.length - 20 * BLOCK).toFixed(1)}`);

  // An unknown audio effect, on PATCH, on the control channel and in a WHIP query.
  const bad = await fetch(publisher.resourceUrl, { method: 'PATCH', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ audio: 'loud' }) });
  assert.equal(bad.status, 422);
  assert.equal(((await bad.json()) as { error: string }).error, 'unprocessable');
  const replies: string[] = [];
  publisher.peer.on('message', (_label, message) => replies.push(message));
  assert.ok(publisher.peer.sendMessage('control', JSON.stringify({ audio: 'denoise' })));
  await waitUntil('the control reply', () => replies.find((r) => JSON.parse(r).type === 'effect'));
  assert.equal(JSON.parse(replies.find((r) => JSON.parse(r).type === 'effect')!).audio, 'denoise');
  const noCaptions = await fetch(publisher.resourceUrl, { method: 'PATCH', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ subtitles: 'burn' }) });
  assert.equal(noCaptions.status, 422, 'subtitles need captions');
  const refused = await fetch(`${base}/whip?audio=loud`, { method: 'POST', headers: { 'content-type': 'application/sdp' }, body: 'v=0\r\n' });
  assert.equal(refused.status, 422);
  const noLanguage = await fetch(`${base}/whip?captions=xx`, { method: 'POST', headers: { 'content-type': 'application/sdp' }, body: 'v=0\r\n' });
  assert.equal(noLanguage.status, 422);
  assert.equal(((await noLanguage.json()) as { error: string }).error, 'unsupported_language');
  await publisher.close();
  await viewer.close();
  await waitUntil('no audio session left', async () => metricValue(await metricsText(base), 'app_audio_sessions_active') === 0);
});

test('denoise: speech in white noise at 0 dB comes back with a higher SNR than it was sent with', { timeout: 60_000 }, async (t) => {
  const skip = requireOrSkip(which('espeak-ng') !== undefined && which('sox') !== undefined, 'espeak-ng and sox', 'apt-get install espeak-ng sox');
  if (skip !== false) return t.skip(skip);
  const raw = execFileSync('sh', ['-c', 'espeak-ng --stdout "The birch canoe slid on the smooth planks. Glue the sheet to the dark blue background." | sox -t wav - -r 48000 -c 1 -b 16 -e signed -t raw -']);
  // Whole 10 ms blocks: the binding takes nothing else.
  const clean = new Int16Array(Math.floor(raw.byteLength / 2 / BLOCK) * BLOCK);
  clean.set(new Int16Array(raw.buffer, raw.byteOffset, clean.length));
  // White noise of the speech's own power (0 dB SNR), from a fixed seed.
  let seed = 12345;
  const uniform = (): number => ((seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0) / 2 ** 32) - 0.5;
  const noiseRms = rms(clean);
  const mixed = new Int16Array(clean.length);
  for (let i = 0; i < clean.length; i++) mixed[i] = Math.max(-32768, Math.min(32767, Math.round(clean[i]! + noiseRms * Math.sqrt(12) * uniform())));
  const cleanEnvelope = blockEnergies(clean, BLOCK);
  const sentRatio = speechOverPausesDb(cleanEnvelope, blockEnergies(mixed, BLOCK), new Int32Array(cleanEnvelope.length));

  const publisher = await publish(t, `${base}/whip?iters=0&audio=denoise`, { audio: true });
  const heard = record(publisher.peer);
  await sendAudio(publisher, mixed);
  await waitUntil('denoised audio back', () => heard.blocks() > (clean.length / BLOCK) * 0.9, { timeoutMs: 10_000 });
  const heardEnvelope = blockEnergies(heard.samples(), BLOCK);
  const fit = alignEnvelopes(cleanEnvelope, heardEnvelope, ENVELOPE_FIT);
  const back = speechOverPausesDb(cleanEnvelope, heardEnvelope, fit.lags);
  // The noise in the pauses goes, the speech stays: RNNoise takes this ratio from about 3 dB to over 15 (bench/audio.ts).
  assert.ok(back.db > sentRatio.db + 6, `speech over pauses ${back.db.toFixed(1)} dB back, ${sentRatio.db.toFixed(1)} dB sent (envelope correlation ${fit.correlation.toFixed(2)})`);
  const text = await metricsText(base);
  assert.ok((metricValue(text, 'app_audio_frames_processed_total', { effect: 'denoise' }) ?? 0) > 200);
  assert.ok((metricValue(text, 'app_audio_engine_seconds_total', { engine: 'rnnoise' }) ?? 0) > 0);
  await publisher.close();
});

test('captions: the pipeline hears the publisher, captions reach the control channel, subtitles burn into the video', { timeout: 60_000 }, async (t) => {
  const publisher = await publish(t, `${base}/whip?iters=0&captions=en&translate=es&subtitles=burn`, { audio: true, controlChannel: true });
  const captions: Caption[] = [];
  publisher.peer.on('message', (_label, message) => {
    const parsed = JSON.parse(message) as { type: string };
    if (parsed.type === 'caption') captions.push(parsed as Caption);
  });
  const whiteTop = waitUntil('a frame with the subtitle bar', () => blended > 0);
  await sendAudio(publisher, bursts(2.2));
  await waitUntil('two captions', () => captions.length >= 2);
  assert.deepEqual(captions[0], { type: 'caption', lang: 'en', text: 'second 1', final: true, startMs: 0, endMs: 1000, translation: { lang: 'es', text: 'segundo 1' } });
  assert.ok(overlayTexts.includes('segundo 1'), `overlay got ${JSON.stringify(overlayTexts)}`);
  await whiteTop;
  const pipeline = pipelines.at(-1)!;
  assert.ok(pipeline.samples > RATE_HZ * 2, `the pipeline heard ${pipeline.samples} samples`);
  assert.equal(ctx.sessions.captions(publisher.resourceUrl.split('/').pop()!), pipeline);
  const stats = (await (await fetch(publisher.resourceUrl)).json()) as SessionStats & { watchUrl: string };
  assert.equal(ctx.sessions.captions(stats.watchUrl.split('/').pop()!), pipeline, 'a viewer watch id finds the captions too');
  assert.deepEqual(stats.captions, { lang: 'en', translate: 'es' });
  const off = await fetch(publisher.resourceUrl, { method: 'PATCH', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ subtitles: 'off' }) });
  assert.equal(((await off.json()) as { subtitles: string }).subtitles, 'off');
  const burnAgain = await fetch(publisher.resourceUrl, { method: 'PATCH', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ subtitles: 'burn' }) });
  assert.equal(((await burnAgain.json()) as { subtitles: string }).subtitles, 'burn');
  await publisher.close();
  await waitUntil('the pipeline closed with its session', () => pipeline.closed);
});

test('bounds: a denoise path that floods keeps AUDIO_BUFFER_MS and counts its drops by reason', { timeout: 30_000 }, async () => {
  const metrics = createMetrics({ p95WindowSeconds: 60, queueDepth: () => 0 });
  const denoiser = new Denoiser();
  after(() => denoiser.terminate());
  await denoiser.ready();
  const sent: PcmFrame[] = [];
  const path = new AudioPath('denoise', { denoiser, metrics, send: (frame) => sent.push({ ...frame, samples: frame.samples.slice() }), bufferBlocks: 6, maxBlockSamples: 1920 });
  const block = (samples: number, rateHz = RATE_HZ): PcmFrame => ({ samples: new Int16Array(samples).fill(1000), sampleRateHz: rateHz, channelCount: 1, receivedAtMs: performance.now() });
  // 50 blocks at once (half a second in no time): 2 go to the worker, 6 wait, the older waiting ones are dropped.
  for (let i = 0; i < 50; i++) path.push(block(BLOCK));
  path.push(block(4800));
  path.push(block(160, 16_000));
  await waitUntil('the kept blocks denoised', () => sent.length === 8);
  const text = await metrics.registry.metrics();
  assert.equal(metricValue(text, 'app_audio_frames_dropped_total', { reason: 'overflow' }), 42);
  assert.equal(metricValue(text, 'app_audio_frames_dropped_total', { reason: 'too_large' }), 1);
  assert.equal(metricValue(text, 'app_audio_frames_dropped_total', { reason: 'format' }), 1);
  assert.equal(metricValue(text, 'app_audio_frames_processed_total', { effect: 'denoise' }), 8);
  assert.deepEqual(path.stats(), { effect: 'denoise', blocksReceived: 52, blocksProcessed: 8, blocksDropped: 44, latencyLastMs: path.stats().latencyLastMs });
  assert.ok(sent.every((f) => f.sampleRateHz === RATE_HZ && f.samples.length === BLOCK));

  // The worker dies with two blocks in it: they are failed, and the next block starts a new worker.
  path.push(block(BLOCK));
  path.push(block(BLOCK));
  await denoiser.terminate();
  assert.equal(metricValue(await metrics.registry.metrics(), 'app_audio_frames_dropped_total', { reason: 'failed' }), 2);
  // Blocks keep coming, as live audio does (a refused restart is retried with a later block).
  await waitUntil(
    'a block denoised by the new worker',
    () => {
      if (sent.length < 9) path.push(block(BLOCK));
      return sent.length >= 9;
    },
    { timeoutMs: 20_000, intervalMs: 100, detail: () => JSON.stringify(path.stats()) },
  );
  path.close();
});

test('the audio query: defaults, translate alone, languages not offered, subtitles without captions; stereo mixes to mono', () => {
  const offered = { available: true, languages: ['en'], translations: ['es', 'ca'] };
  assert.deepEqual(parseAudioRequest({}, offered), { effect: 'passthrough', captions: undefined, subtitles: 'off' });
  assert.deepEqual(parseAudioRequest({ audio: 'denoise', translate: 'ca' }, offered), { effect: 'denoise', captions: { lang: 'en', translate: 'ca' }, subtitles: 'off' });
  const code = (f: () => unknown): string | undefined => {
    try {
      f();
    } catch (err) {
      return (err as { code?: string }).code;
    }
    return undefined;
  };
  assert.equal(code(() => parseAudioRequest({ captions: 'fr' }, offered)), 'unsupported_language');
  assert.equal(code(() => parseAudioRequest({ captions: 'en', translate: 'de' }, offered)), 'unsupported_language');
  assert.equal(code(() => parseAudioRequest({ captions: 'en' }, { available: false, languages: [], translations: [] })), 'unsupported_language');
  assert.equal(code(() => parseAudioRequest({ subtitles: 'burn' }, offered)), 'unprocessable');
  assert.equal(code(() => parseAudioRequest({ audio: 'Denoise' }, offered)), 'unprocessable');
  const mono = new Float32Array(2);
  mixToMonoFloat(Int16Array.from([100, 300, -32768, 32767]), 2, mono);
  assert.deepEqual([...mono], [200, -0.5]);
});
