/**
 * Where the package's own files are, from the sources (tsx: src/paths.ts) and from the build
 * (dist/src/paths.js), which sit at different depths below package.json. The one place that knows it.
 */
import { fileURLToPath } from 'node:url';

const PACKAGE_ROOT_URL = new URL(import.meta.url.includes('/dist/') ? '../../' : '../', import.meta.url);

/** A file of the package by its path from the package root (e.g. `build/effects.wasm`). */
export function packageUrl(relativePath: string): URL {
  return new URL(relativePath, PACKAGE_ROOT_URL);
}

export function packagePath(relativePath: string): string {
  return fileURLToPath(packageUrl(relativePath));
}
