// The caption worker's entry when the sources run as TypeScript (tests, `node --import tsx`):
// worker threads do not inherit the parent's loader hooks on Node 20, so it runs the compiled
// worker when the build is current, and otherwise registers tsx itself and runs the sources.
import { compiledIfCurrent } from '../engine/compiled-current.mjs';

const compiled = compiledIfCurrent('src/speech/asr-worker.ts');
if (compiled) {
  await import(compiled.href);
} else {
  const { register } = await import('tsx/esm/api');
  register();
  await import('./asr-worker.ts');
}
