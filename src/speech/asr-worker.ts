/**
 * The caption pipeline's worker thread: the one place where the recogniser's blocking calls run.
 * Only this file touches `parentPort` on this side; the messages are typed in asr-messages.ts.
 */
import { parentPort, workerData } from 'node:worker_threads';
import type { AsrWorkerInit, FromAsrWorker, ToAsrWorker } from './asr-messages.ts';
import { PocketSphinxEngine } from './pocketsphinx.ts';
import { UtteranceTracker } from './utterances.ts';

const port = parentPort;
if (port === null) throw new Error('asr-worker.ts runs as a worker thread');
const post = (message: FromAsrWorker): void => port.postMessage(message);
const init = workerData as AsrWorkerInit;

let engine: PocketSphinxEngine;
try {
  engine = new PocketSphinxEngine(init.engine);
} catch (err) {
  post({ type: 'failed', message: err instanceof Error ? err.message : String(err) });
  process.exit(1);
}
const tracker = new UtteranceTracker(engine, init.utterances);
post({ type: 'ready' });

port.on('message', (message: ToAsrWorker) => {
  try {
    const startedMs = performance.now();
    switch (message.type) {
      case 'audio': {
        for (const event of tracker.feed(message.samples, message.startSample)) post({ type: event.kind, text: event.text, startSample: event.startSample, endSample: event.endSample });
        post({ type: 'done', samples: message.samples.length, engineSeconds: (performance.now() - startedMs) / 1000 });
        return;
      }
      case 'decode-all': {
        const text = engine.decodeAll(message.samples);
        post({ type: 'decoded', text, engineSeconds: (performance.now() - startedMs) / 1000 });
        return;
      }
      case 'end': {
        const last = tracker.flush(message.endSample);
        if (last) post({ type: last.kind, text: last.text, startSample: last.startSample, endSample: last.endSample });
        engine.close();
        post({ type: 'ended' });
        port.close();
        return;
      }
    }
  } catch (err) {
    post({ type: 'failed', message: err instanceof Error ? err.message : String(err) });
    engine.close();
    port.close();
  }
});
