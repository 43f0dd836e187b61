// Development only (the sources run through tsx): a module's compiled twin in dist/ when that build
// is current, newer than every file under src/, tools/ and assembly/. A worker thread must register tsx again
// (about a second of CPU per thread, the cost of every test's pool) and a server run from the sources
// transpiles its whole graph; the build is the same code, already compiled. A missing or stale build
// (a source edited since `npm run build`) gives undefined, and the caller runs the sources.
import { readdirSync, statSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const root = new URL('../../', import.meta.url);

/** The newest modification time under `dir` (milliseconds). */
function newestMs(dir) {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const url = new URL(entry.isDirectory() ? `${entry.name}/` : entry.name, dir);
    newest = Math.max(newest, entry.isDirectory() ? newestMs(url) : statSync(url).mtimeMs);
  }
  return newest;
}

/** `dist/<path>.js` for a source path such as `src/engine/worker.ts`, if it is current. */
export function compiledIfCurrent(sourcePath) {
  const compiled = new URL(`dist/${sourcePath.replace(/\.ts$/, '.js')}`, root);
  let builtMs;
  try {
    builtMs = statSync(compiled).mtimeMs;
  } catch {
    return undefined;
  }
  const sourcesMs = Math.max(...['src/', 'tools/', 'assembly/'].map((dir) => newestMs(new URL(dir, root))));
  return sourcesMs <= builtMs ? compiled : undefined;
}

/**
 * Node's arguments to run the module at `sourcePath` (from the package root, e.g. `src/server.ts`):
 * its compiled twin when current, else the source through tsx (absolute paths: any working folder).
 */
export function nodeArgsFor(sourcePath) {
  const compiled = compiledIfCurrent(sourcePath);
  return compiled ? [fileURLToPath(compiled)] : ['--import', 'tsx', fileURLToPath(new URL(sourcePath, root))];
}
