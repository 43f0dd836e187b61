/**
 * The recogniser's own offline result on whole recordings (16 kHz mono): the reference the
 * streaming pipeline is measured against (tests, bench/audio.ts). The recordings are decoded in
 * order by one recogniser thread of their own, like a session's, never on the calling thread.
 */
import { Worker } from 'node:worker_threads';
import type { AsrWorkerInit, FromAsrWorker, ToAsrWorker } from './asr-messages.ts';
import { engineSpec, type SpeechPaths } from './availability.ts';

const workerUrl = new URL(import.meta.url.endsWith('.ts') ? './asr-worker-dev.mjs' : './asr-worker.js', import.meta.url);

export async function decodeOffline(recordings16k: readonly Int16Array[], paths: SpeechPaths): Promise<{ texts: string[]; engineSeconds: number }> {
  const init: AsrWorkerInit = {
    engine: engineSpec(paths),
    utterances: { partialIntervalSamples: 8000, maxUtteranceSamples: 16000, preRollSamples: 0, hangoverSamples: 0, finalDecode: 'whole' },
  };
  const worker = new Worker(workerUrl, { workerData: init });
  const texts: string[] = [];
  let engineSeconds = 0;
  const next = (): void => worker.postMessage({ type: 'decode-all', samples: recordings16k[texts.length]! } satisfies ToAsrWorker);
  try {
    return await new Promise((resolve, reject) => {
      worker.on('error', reject);
      worker.on('exit', (code) => reject(new Error(`the recogniser thread exited (${code})`)));
      worker.on('message', (message: FromAsrWorker) => {
        if (message.type === 'failed') return reject(new Error(message.message));
        if (message.type === 'decoded') {
          texts.push(message.text);
          engineSeconds += message.engineSeconds;
        } else if (message.type !== 'ready') {
          return;
        }
        if (texts.length === recordings16k.length) resolve({ texts, engineSeconds });
        else next();
      });
    });
  } finally {
    await worker.terminate();
  }
}
