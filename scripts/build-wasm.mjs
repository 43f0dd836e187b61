// Compiles the AssemblyScript effect kernels (assembly/) to build/effects.wasm.
// Release settings: -O3 without shrinking, SIMD on, no runtime beyond the stub (the kernels never
// allocate), assertions compiled out. Memory starts at one page and is exported so the host can
// grow it. Exits non-zero on any compile error.
import { mkdir, stat } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import asc from 'assemblyscript/asc';

const root = fileURLToPath(new URL('..', import.meta.url));
const outFile = 'build/effects.wasm';

await mkdir(new URL('../build/', import.meta.url), { recursive: true });

const { error } = await asc.main(
  [
    'assembly/index.ts',
    '--outFile', outFile,
    '--optimizeLevel', '3',
    '--shrinkLevel', '0',
    '--converge',
    '--enable', 'simd',
    '--runtime', 'stub',
    '--noAssert',
    '--initialMemory', '1',
    '--baseDir', root,
  ],
  { stdout: process.stdout, stderr: process.stderr },
);

if (error) {
  console.error(`build-wasm: ${error.message}`);
  process.exit(1);
}
const { size } = await stat(new URL(`../${outFile}`, import.meta.url));
// stderr, so that `npm run bench -- --json` prints nothing but JSON on stdout.
console.error(`build-wasm: ${outFile} (${size} bytes)`);
