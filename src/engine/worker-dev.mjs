// Worker entry when the sources run as TypeScript (tests, `node --import tsx`): worker threads do
// not inherit the parent's loader hooks on Node 20, so the worker runs the compiled worker when the
// build is current, and otherwise registers tsx itself and runs the sources.
import { compiledIfCurrent } from './compiled-current.mjs';

const compiled = compiledIfCurrent('src/engine/worker.ts');
let worker;
if (compiled) {
  worker = await import(compiled.href);
} else {
  const { register } = await import('tsx/esm/api');
  register();
  worker = await import('./worker.ts');
}
export default worker.default;
