import fs from 'node:fs';
import path from 'node:path';
import type { TestContext } from 'node:test';

/** The path of an executable on PATH, if any. */
export function which(tool: string): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    const candidate = path.join(dir, tool);
    try {
      fs.accessSync(candidate, fs.constants.X_OK);
      return candidate;
    } catch {
      // not in this directory
    }
  }
  return undefined;
}

/**
 * The one guard for what a test needs from the machine (a binary, a package's data, the build).
 * Returns false when `available`; otherwise, under CI=true, throws (a missing part is a failure there,
 * never a skip), and elsewhere returns the reason to skip, printed so the skip is seen. Use it as a
 * test's `skip` option, or call `t.skip(reason)` and return.
 */
export function requireOrSkip(available: boolean, what: string, remedy: string): string | false {
  if (available) return false;
  if (process.env.CI === 'true') throw new Error(`${what} is missing (required when CI=true): ${remedy}`);
  const reason = `${what} is missing: ${remedy} (or set CI=true to make this a failure)`;
  process.stderr.write(`SKIPPED: ${reason}\n`);
  return reason;
}

/** How to get a tool whose Debian package has another name, or that Debian does not ship. */
const REMEDIES: Record<string, string> = {
  promtool: 'apt-get install prometheus',
  turnserver: 'apt-get install coturn',
  kubectl: 'install kubectl (https://kubernetes.io/docs/tasks/tools/)',
};

/** True when `tool` is on PATH; otherwise `requireOrSkip` (the test skipped, or failed under CI). */
export function haveTool(t: TestContext, tool: string): boolean {
  const skip = requireOrSkip(which(tool) !== undefined, tool, REMEDIES[tool] ?? `apt-get install ${tool}`);
  if (skip !== false) t.skip(skip);
  return skip === false;
}
