/** `dist/<path>.js` for a source path such as `src/engine/worker.ts`, if that build is current. */
export function compiledIfCurrent(sourcePath: string): URL | undefined;
