// Denoise worker entry when the sources run as TypeScript (tests, `node --import tsx`): worker threads
// do not inherit the parent's loader hooks on Node 20, so this runs the compiled worker when the build
// is current, and otherwise registers tsx itself and runs the sources.
import { compiledIfCurrent } from '../engine/compiled-current.mjs';

const compiled = compiledIfCurrent('src/audio/denoise-worker.ts');
if (compiled) {
  await import(compiled.href);
} else {
  const { register } = await import('tsx/esm/api');
  register();
  await import('./denoise-worker.ts');
}
