// Compiles the AssemblyScript effect kernels (assembly/) to build/effects.wasm, and writes the
// host's view of its exports, src/effects/wasm-exports.ts, from the declarations asc makes of them
// (its raw bindings' .d.ts): a kernel added or changed in assembly/ is known to the compiler after
// one `npm run build:wasm`. The file is committed; `--check` compiles in memory (no optimisation,
// the exports are the same), writes nothing, and exits 1 when the committed file is out of date
// (test/unit/wasm-exports.test.ts runs it).
//
// The same sources are compiled a second time with the relaxed-SIMD proposal on, to
// build/effects-relaxed.wasm (same exports; ASC_FEATURE_RELAXED_SIMD picks fused multiply-adds in
// the kernels that gain from them): the host uses it where the runtime validates it (Node 22 does;
// Node 20 only with --experimental-wasm-relaxed-simd), else build/effects.wasm (src/effects/wasm.ts).
//
// Release settings: -O3 without shrinking, SIMD on, no runtime beyond the stub (the kernels never
// allocate), assertions compiled out. Memory starts at one page and is exported so the host can
// grow it. Exits non-zero on any compile error.
import { mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import asc from 'assemblyscript/asc';

const root = fileURLToPath(new URL('..', import.meta.url));
const outFile = 'build/effects.wasm';
const relaxedOutFile = 'build/effects-relaxed.wasm';
const typesUrl = new URL('../src/effects/wasm-exports.ts', import.meta.url);
const check = process.argv.includes('--check');

const common = ['assembly/index.ts', '--bindings', 'raw', '--runtime', 'stub', '--noAssert', '--initialMemory', '1', '--baseDir', root];
const release = ['--optimizeLevel', '3', '--shrinkLevel', '0', '--converge'];

/**
 * Compiles the kernels to `file` with `features`; resolves with asc's error (if any) and the .d.ts
 * it declared (kept in memory; the rest is written as asc asks, unless `check`).
 */
async function compile(file, features, optimise = release) {
  let declarations;
  const args = [...common, '--outFile', file, '--enable', features, ...(check ? ['--optimizeLevel', '0'] : optimise)];
  const { error } = await asc.main(args, {
    stdout: process.stdout,
    stderr: process.stderr,
    async writeFile(name, contents, baseDir) {
      if (name.endsWith('.d.ts')) {
        declarations = String(contents);
        return;
      }
      // The raw bindings' .js (an instantiate helper) is not used: the host binds the module itself.
      if (check || name.endsWith('.js')) return;
      const target = path.resolve(baseDir, name);
      await mkdir(path.dirname(target), { recursive: true });
      await writeFile(target, contents);
    },
  });
  return { error, declarations };
}

const { error, declarations } = await compile(outFile, 'simd');
if (error) {
  console.error(`build-wasm: ${error.message}`);
  process.exit(1);
}
if (declarations === undefined) {
  console.error('build-wasm: asc wrote no declarations');
  process.exit(1);
}
const types = exportsModule(declarations);
const committed = await readFile(typesUrl, 'utf8').catch(() => '');
if (check) {
  if (committed !== types) {
    console.error('build-wasm: src/effects/wasm-exports.ts is out of date with assembly/: run `npm run build:wasm` and commit it');
    process.exit(1);
  }
  console.error('build-wasm: src/effects/wasm-exports.ts is current');
  process.exit(0);
}
if (committed !== types) {
  await writeFile(typesUrl, types);
  console.error('build-wasm: wrote src/effects/wasm-exports.ts (the kernels\' exports changed)');
}
// Without --converge (repeating the passes until nothing changes): 1.2 instead of 5.5 s of a
// 2-core build, for the same speed (bench/effects.ts --kernel-build, docs/benchmarks.md).
const relaxed = await compile(relaxedOutFile, 'simd,relaxed-simd', release.filter((a) => a !== '--converge'));
if (relaxed.error) {
  console.error(`build-wasm: ${relaxedOutFile}: ${relaxed.error.message}`);
  process.exit(1);
}
if (relaxed.declarations !== declarations) {
  console.error(`build-wasm: ${relaxedOutFile} declares other exports than ${outFile}`);
  process.exit(1);
}
// stderr, so that `npm run bench -- --json` prints nothing but JSON on stdout.
for (const file of [outFile, relaxedOutFile]) {
  const { size } = await stat(new URL(`../${file}`, import.meta.url));
  console.error(`build-wasm: ${file} (${size} bytes)`);
}

/**
 * src/effects/wasm-exports.ts from asc's declarations: each function with its source and its
 * WebAssembly types (pointers are `usize` byte offsets), and the memory.
 * @param {string} dts
 * @returns {string}
 */
function exportsModule(dts) {
  const members = [];
  if (/^\s*export const memory: WebAssembly\.Memory;$/m.test(dts)) members.push('  readonly memory: WasmMemory;');
  const pattern = /\/\*\*\n((?:\s*\*.*\n)*?)\s*\*\/\n\s*export function (\w+)\((.*)\): (\w+);/g;
  for (const m of dts.matchAll(pattern)) {
    const doc = m[1] ?? '';
    const source = /^\s*\* (\S+)$/m.exec(doc)?.[1] ?? m[2];
    const wasmType = (tag, name) => new RegExp(`@${tag} ${name}\\s+\`(\\w+)\``).exec(doc)?.[1] ?? '?';
    const params = m[3] === '' ? [] : m[3].split(', ').map((p) => p.split(':')[0]);
    const returns = /@returns `(\w+)`/.exec(doc)?.[1];
    const signature = `(${params.map((p) => `${p}: ${wasmType('param', p)}`).join(', ')})${returns ? `: ${returns}` : ''}`;
    members.push(`  /** ${source}${signature} */`, `  ${m[2]}(${m[3]}): ${m[4]};`);
  }
  const functions = dts.match(/^\s*export function /gm)?.length ?? 0;
  if (functions === 0 || members.filter((m) => m.startsWith('  /**')).length !== functions) {
    throw new Error(`read ${members.length / 2} of the ${functions} functions asc declared: has its .d.ts format changed?`);
  }
  return [
    '// Generated by `npm run build:wasm` from what asc declares of assembly/index.ts: do not edit.',
    '// test/unit/wasm-exports.test.ts fails when it is out of date.',
    '',
    '/** The part of WebAssembly.Memory the host uses (the project compiles without lib "dom"). */',
    'export interface WasmMemory {',
    '  readonly buffer: ArrayBuffer;',
    '  grow(pages: number): number;',
    '}',
    '',
    '/** The exports of build/effects.wasm: pointers (`usize`) and sizes are byte offsets and counts. */',
    'export interface KernelExports {',
    ...members,
    '}',
    '',
  ].join('\n');
}
