/**
 * Builds the emulated CUDA driver (libcuda-emu.cpp with kernels.cu compiled in) with the host C++
 * compiler, for the tests and benchmarks that run without a GPU. The library is cached in the
 * temp directory under a hash of its sources, so test files share one build.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, renameSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { packagePath } from '../../paths.ts';

// From dist/ too, the sources are in src/.
const sourceDir = packagePath('src/cuda/emulator');
const SOURCES = ['libcuda-emu.cpp', 'cuda-emu.h', '../kernels.cu', '../segment.cu'].map((f) => path.join(sourceDir, f));

export const HOST_COMPILER = 'g++';

export function hostCompilerAvailable(): boolean {
  try {
    execFileSync(HOST_COMPILER, ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

// No _FORTIFY_SOURCE: its checked longjmp refuses the jumps between fiber stacks the grid executor makes.
const FLAGS = ['-std=c++17', '-O2', '-g', '-U_FORTIFY_SOURCE', '-Wall', '-Wextra', '-Wno-unknown-pragmas', '-shared', '-fPIC'];

/** The path of the emulated libcuda, building it first if these sources were not built yet. */
export function buildCudaEmulator(): string {
  const hash = createHash('sha256').update(FLAGS.join(' '));
  for (const file of SOURCES) hash.update(readFileSync(file));
  const out = path.join(os.tmpdir(), `rtc-scale-libcuda-emu-${hash.digest('hex').slice(0, 16)}.so`);
  if (existsSync(out)) return out;
  // Build beside the target, then rename: concurrent test processes never see half a library.
  const partial = `${out}.${process.pid}.tmp`;
  try {
    execFileSync(HOST_COMPILER, [...FLAGS, '-o', partial, path.join(sourceDir, 'libcuda-emu.cpp')], { stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (err) {
    const stderr = (err as { stderr?: Buffer }).stderr?.toString() ?? '';
    throw new Error(`building the emulated CUDA driver failed:\n${stderr}`, { cause: err });
  }
  renameSync(partial, out);
  return out;
}
