/** `dist/<path>.js` for a source path such as `src/engine/worker.ts`, if that build is current. */
export function compiledIfCurrent(sourcePath: string): URL | undefined;

/** Node's arguments to run the module at `sourcePath`: its compiled twin when current, else the source under tsx. */
export function nodeArgsFor(sourcePath: string): string[];
