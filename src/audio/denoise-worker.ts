/**
 * The denoise worker thread: RNNoise for every stream of the pod, one state per stream, frames in the
 * order they arrive. Audio has its own thread so that it never waits behind video or /process jobs in
 * the effect pool. Only denoiser.ts talks to it.
 */
import { parentPort } from 'node:worker_threads';
import type { DenoiseReply, DenoiseRequest } from './denoise-messages.ts';
import { loadRnnoise, type DenoiseState } from './rnnoise.ts';

const port = parentPort;
if (!port) throw new Error('denoise-worker.ts runs as a worker thread');
const rnnoise = await loadRnnoise();
const states = new Map<number, DenoiseState>();

const reply = (message: DenoiseReply, transfer: ArrayBuffer[] = []): void => port.postMessage(message, transfer);

port.on('message', (message: DenoiseRequest) => {
  if (message.type === 'close') {
    states.get(message.streamId)?.destroy();
    states.delete(message.streamId);
    return;
  }
  const { streamId, samples } = message;
  try {
    let state = states.get(streamId);
    if (!state) states.set(streamId, (state = rnnoise.createState()));
    const startMs = performance.now();
    const voiceProbability = state.process(samples);
    const computeSeconds = (performance.now() - startMs) / 1000;
    reply({ type: 'frame', streamId, samples, computeSeconds, voiceProbability }, [samples.buffer as ArrayBuffer]);
  } catch (err) {
    reply({ type: 'failed', streamId, samples, detail: err instanceof Error ? err.message : String(err) }, [samples.buffer as ArrayBuffer]);
  }
});
reply({ type: 'ready' });
