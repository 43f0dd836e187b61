/**
 * The recogniser's own offline result on a whole recording (16 kHz mono): the reference the
 * streaming pipeline is measured against (tests, bench/audio.ts). Runs in a recogniser thread of
 * its own like a session's, never on the calling thread.
 */
import { Worker } from 'node:worker_threads';
import type { AsrWorkerInit, FromAsrWorker, ToAsrWorker } from './asr-messages.ts';
import { engineSpec, type SpeechPaths } from './availability.ts';

const workerUrl = new URL(import.meta.url.endsWith('.ts') ? './asr-worker-dev.mjs' : './asr-worker.js', import.meta.url);

export async function decodeOffline(samples16k: Int16Array, paths: SpeechPaths): Promise<{ text: string; engineSeconds: number }> {
  const init: AsrWorkerInit = {
    engine: engineSpec(paths),
    utterances: { partialIntervalSamples: 8000, maxUtteranceSamples: 16000, preRollSamples: 0, hangoverSamples: 0 },
  };
  const worker = new Worker(workerUrl, { workerData: init });
  try {
    return await new Promise((resolve, reject) => {
      worker.on('error', reject);
      worker.on('exit', (code) => reject(new Error(`the recogniser thread exited (${code})`)));
      worker.on('message', (message: FromAsrWorker) => {
        if (message.type === 'ready') worker.postMessage({ type: 'decode-all', samples: samples16k } satisfies ToAsrWorker);
        else if (message.type === 'decoded') resolve({ text: message.text, engineSeconds: message.engineSeconds });
        else if (message.type === 'failed') reject(new Error(message.message));
      });
    });
  } finally {
    await worker.terminate();
  }
}
