/**
 * denoise through a live call: one publisher sends speech in noise to the service (Opus both ways,
 * the jitter buffer, the denoise worker) and records what comes back. Opus keeps band energies, not
 * the waveform, and the receiver stretches time as it goes, so the measure is the envelope's: the
 * energy of the speech over that of its pauses (src/audio/signal-quality.ts), sent and received,
 * each 10 ms block of the clean speech mapped to what came back, window by window.
 */
import { alignEnvelopes, blockEnergies, speechOverPausesDb } from '../../src/audio/signal-quality.ts';
import type { AudioEffect } from '../../src/audio/pcm.ts';
import { i420Frame } from '../../tools/rtc-load/client/i420.ts';
import { WhipPublisher } from '../../tools/rtc-load/client/whip.ts';
import { BLOCK_SAMPLES, RATE_HZ } from './speech.ts';

export interface ThroughSession {
  readonly effect: AudioEffect;
  /** Speech over pauses of what was sent and of what came back (dB). */
  readonly sentDb: number;
  readonly backDb: number;
  /** How well the envelope that came back follows the clean speech's (1: exactly). */
  readonly envelopeCorrelation: number;
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

export async function throughSession(base: string, effect: AudioEffect, clean: Int16Array, noisy: Int16Array): Promise<ThroughSession> {
  const publisher = await WhipPublisher.publish(`${base}/whip?iters=0&audio=${effect}`, { audio: true });
  const back: number[] = [];
  publisher.peer.on('audio', (block) => {
    if (block.sampleRateHz === RATE_HZ) for (let i = 0; i < block.samples.length; i += block.channelCount) back.push(block.samples[i]!);
  });
  const stopVideo = publisher.startFrames(10, () => i420Frame(320, 240, (plane) => (plane === 0 ? 100 : 128)));
  try {
    const startMs = performance.now();
    let sent = 0;
    const blocks = noisy.length / BLOCK_SAMPLES;
    while (sent < blocks) {
      const due = Math.min(blocks, Math.floor((performance.now() - startMs) / 10) + 1);
      for (; sent < due; sent++) publisher.peer.sendAudio(noisy.slice(sent * BLOCK_SAMPLES, (sent + 1) * BLOCK_SAMPLES), RATE_HZ);
      await sleep(5);
    }
    await sleep(500);
  } finally {
    stopVideo();
    await publisher.close().catch(() => undefined);
  }
  const cleanEnvelope = blockEnergies(clean, BLOCK_SAMPLES);
  const backEnvelope = blockEnergies(back, BLOCK_SAMPLES);
  const fit = alignEnvelopes(cleanEnvelope, backEnvelope, { maxLagBlocks: 100, windowBlocks: 50, driftBlocks: 5 });
  return {
    effect,
    sentDb: speechOverPausesDb(cleanEnvelope, blockEnergies(noisy, BLOCK_SAMPLES), new Int32Array(cleanEnvelope.length)).db,
    backDb: speechOverPausesDb(cleanEnvelope, backEnvelope, fit.lags).db,
    envelopeCorrelation: fit.correlation,
  };
}
