/**
 * No dead code: knip, with the committed knip.jsonc, finds no unused file, export, exported type or
 * dependency in src/, tools/, test/, bench/ and scripts/. It reads the sources only: no network, no build.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const REPO = fileURLToPath(new URL('../../', import.meta.url));
const KNIP = fileURLToPath(new URL('../../node_modules/knip/bin/knip.js', import.meta.url));

test('knip finds no unused files, exports, types or dependencies', async () => {
  try {
    await promisify(execFile)(process.execPath, [KNIP, '--no-progress', '--reporter', 'compact'], { cwd: REPO, timeout: 120_000, maxBuffer: 16 * 1024 * 1024 });
  } catch (err) {
    const { stdout = '', stderr = '' } = err as { stdout?: string; stderr?: string };
    assert.fail(`knip found dead code (remove it, or say in knip.jsonc why it is not dead):\n${stdout}${stderr}`);
  }
});
