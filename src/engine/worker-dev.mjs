// Worker entry when the sources run as TypeScript (tests, `node --import tsx`): worker threads do
// not inherit the parent's loader hooks on Node 20, so the worker registers tsx itself.
import { register } from 'tsx/esm/api';

register();
const worker = await import('./worker.ts');
export default worker.default;
