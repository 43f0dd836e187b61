import assert from 'node:assert/strict';
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

/** True when the tool is there; otherwise fails under CI=true and skips, visibly, elsewhere. */
export function haveTool(t: TestContext, tool: string): boolean {
  if (which(tool)) return true;
  if (process.env.CI === 'true') assert.fail(`${tool} is not installed (required when CI=true)`);
  t.skip(`${tool} is not installed; install it (or set CI=true to make this a failure)`);
  return false;
}
