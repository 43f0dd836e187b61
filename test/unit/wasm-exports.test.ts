/**
 * The host's types for the WASM kernels (src/effects/wasm-exports.ts) are generated from what asc
 * declares of assembly/: they are current, and build/effects.wasm exports exactly those functions
 * with those parameter counts. A kernel added to assembly/ without `npm run build:wasm` fails here.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { createWasmKernels } from '../../src/effects/wasm.ts';

const root = fileURLToPath(new URL('../../', import.meta.url));
const generated = readFileSync(new URL('../../src/effects/wasm-exports.ts', import.meta.url), 'utf8');

/** name -> parameter count, from the generated interface. */
function declaredFunctions(): Map<string, number> {
  const out = new Map<string, number>();
  const body = generated.slice(generated.indexOf('export interface KernelExports {'));
  for (const m of body.matchAll(/^ {2}(\w+)\((.*)\): \w+;$/gm)) out.set(m[1]!, m[2] === '' ? 0 : m[2]!.split(',').length);
  return out;
}

test('src/effects/wasm-exports.ts is what asc declares of assembly/ today (npm run build:wasm)', { timeout: 60_000 }, async () => {
  const run = promisify(execFile);
  try {
    await run(process.execPath, ['scripts/build-wasm.mjs', '--check'], { cwd: root });
  } catch (err) {
    assert.fail((err as { stderr?: string }).stderr || String(err));
  }
});

test('build/effects.wasm exports the generated functions, each with its parameter count, and its memory', async () => {
  const declared = declaredFunctions();
  assert.ok(declared.size > 10, `${declared.size} functions read from the generated file`);
  const exports = (await createWasmKernels()).exports as unknown as Record<string, unknown>;
  const functions = Object.keys(exports).filter((name) => typeof exports[name] === 'function');
  assert.deepEqual(functions.sort(), [...declared.keys()].sort(), 'build/effects.wasm is older than assembly/: npm run build:wasm');
  for (const [name, params] of declared) assert.equal((exports[name] as (...args: number[]) => unknown).length, params, name);
  assert.match(generated, /^ {2}readonly memory: WasmMemory;$/m);
  assert.ok(exports.memory !== undefined, 'the module exports its memory');
});
