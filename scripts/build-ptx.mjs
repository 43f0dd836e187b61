#!/usr/bin/env node
// Compiles src/cuda/kernels.cu and src/cuda/segment.cu to the committed PTX, src/cuda/ptx/kernels.ptx
// and src/cuda/ptx/segment.ptx (one module each: the effects, and the segmentation network).
//
//   node scripts/build-ptx.mjs                 write the PTX (npm run build:ptx)
//   node scripts/build-ptx.mjs --out-dir DIR   write it to DIR instead (the test that proves the
//                                              committed file current compares the two)
//
// Target: .target sm_75 (Turing, the oldest architecture CUDA 13 compiles for; the driver JIT-
// compiles it for whatever GPU it finds: T4, A10G, L4, A100, H100, ...), PTX ISA 8.0, which every
// driver for CUDA 12.0 or newer (R525+) loads. nvcc 13.0 labels its output ISA 9.0 (R580+ only),
// so the `.version` line is lowered and the ISA 8.3+ `used_bytes_mask` pragmas (optimisation
// hints) are dropped; ptxas then assembles the result for every architecture listed below, and
// it rejects any instruction the declared ISA lacks, so a kernel that needs a newer ISA fails
// this build instead of a driver at run time.
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const SOURCES = ['kernels', 'segment'];
const VIRTUAL_ARCH = 'compute_75';
const PTX_ISA = '8.0';
/** Real architectures the PTX is assembled for as a check: Turing to Blackwell. */
const CHECK_ARCHS = ['sm_75', 'sm_80', 'sm_86', 'sm_89', 'sm_90', 'sm_100', 'sm_120'];

function parseArgs(argv) {
  const i = argv.indexOf('--out-dir');
  return { outDir: i >= 0 ? path.resolve(argv[i + 1] ?? '.') : path.join(root, 'src/cuda/ptx') };
}

function tool(name) {
  // nvcc finds its own ptxas; for ours, prefer the one beside nvcc.
  if (name === 'ptxas') {
    try {
      const nvcc = execFileSync('sh', ['-c', 'command -v nvcc'], { encoding: 'utf8' }).trim();
      const real = execFileSync('readlink', ['-f', nvcc], { encoding: 'utf8' }).trim();
      const beside = path.join(path.dirname(real), 'ptxas');
      execFileSync(beside, ['--version'], { stdio: 'ignore' });
      return beside;
    } catch {
      return 'ptxas';
    }
  }
  return name;
}

function lowerIsa(ptx) {
  const m = /^\.version (\d+)\.(\d+)$/m.exec(ptx);
  if (!m) throw new Error('nvcc output has no .version line');
  const [wantMajor, wantMinor] = PTX_ISA.split('.').map(Number);
  const have = Number(m[1]) * 10 + Number(m[2]);
  if (have < wantMajor * 10 + wantMinor) throw new Error(`nvcc emitted PTX ISA ${m[1]}.${m[2]}, older than the ${PTX_ISA} this build declares`);
  return ptx.replace(/^\.version \d+\.\d+$/m, `.version ${PTX_ISA}`).replace(/^\s*\.pragma "used_bytes_mask \d+";\n/gm, '');
}

function buildOne(name, outDir) {
  const SOURCE = path.join(root, `src/cuda/${name}.cu`);
  const PTX_NAME = `${name}.ptx`;
  const work = mkdtempSync(path.join(os.tmpdir(), 'rtc-ptx-'));
  try {
    const raw = path.join(work, PTX_NAME);
    // Relative source path and no -lineinfo: the output names no absolute path, so every machine
    // with the same nvcc produces the same bytes.
    execFileSync(tool('nvcc'), ['--ptx', `-arch=${VIRTUAL_ARCH}`, '-O3', '-std=c++17', path.relative(root, SOURCE), '-o', raw], {
      cwd: root,
      stdio: ['ignore', 'inherit', 'inherit'],
    });
    const ptx = lowerIsa(readFileSync(raw, 'utf8'));
    const lowered = path.join(work, `lowered-${PTX_NAME}`);
    writeFileSync(lowered, ptx);
    const ptxas = tool('ptxas');
    // A check: the cubins are thrown away, so ptxas does not optimise them (-O0: the same parse
    // and ISA checks, in 60 % of the time); the driver JIT-compiles the PTX itself at run time.
    for (const arch of CHECK_ARCHS) {
      execFileSync(ptxas, [`-arch=${arch}`, '-O0', '-o', path.join(work, `${arch}.cubin`), lowered], { stdio: ['ignore', 'inherit', 'inherit'] });
    }
    mkdirSync(outDir, { recursive: true });
    const out = path.join(outDir, PTX_NAME);
    writeFileSync(out, ptx);
    return out;
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

/** Builds every module; returns the paths written. */
export function buildPtx(outDir) {
  return SOURCES.map((name) => buildOne(name, outDir));
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const { outDir } = parseArgs(process.argv.slice(2));
  for (const out of buildPtx(outDir)) {
    process.stdout.write(`${path.relative(process.cwd(), out)} (PTX ISA ${PTX_ISA}, ${VIRTUAL_ARCH}; assembled for ${CHECK_ARCHS.join(', ')})\n`);
  }
}
