// Compiles the native CPU kernels (native/) to build/kernels-native.so: the gaussian FIR, the
// recursive gaussian, grayscale and invert twice each, for AVX-512 and for AVX2 (one object each),
// and the entry points that pick one at run time (native/kernels.cc). src/effects/native.ts loads the library.
//
// Optional by design: on a machine without a C++ compiler (or not x86-64) it says so and exits 0,
// and the service runs the WASM kernels alone; a compiler that fails on these sources exits 1.
// The library is rebuilt only when the sources, the flags or the compiler change (a hash of them
// is kept beside it), so `npm test`'s build pays for it once. CXX picks the compiler (default g++).
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { arch, tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const outFile = path.join(root, 'build/kernels-native.so');
const hashFile = `${outFile}.hash`;
const cxx = process.env.CXX || 'g++';
// -ffp-contract=off: no multiply-add fused unless the source says so (the WASM kernels' arithmetic).
const common = ['-O3', '-std=c++17', '-ffp-contract=off', '-fPIC', '-fvisibility=hidden', '-fvisibility-inlines-hidden', '-fno-exceptions', '-Wall', '-Wextra', '-Werror'];
// libstdc++ and libgcc linked in: the library loads on any glibc image, whatever its C++ runtime;
// their symbols kept inside (--exclude-libs), so that it exports its four entry points and nothing else.
const linkFlags = ['-shared', '-static-libstdc++', '-static-libgcc', '-Wl,--exclude-libs,ALL'];
const objects = [
  { source: 'native/gaussian-fir.cc', flags: ['-mavx512bw', '-mavx512vl', '-DRTC_FIR_NAME=rtc_gaussian_fir_avx512'] },
  { source: 'native/gaussian-fir.cc', flags: ['-mavx2', '-DRTC_FIR_NAME=rtc_gaussian_fir_avx2'] },
  { source: 'native/gaussian-iir.cc', flags: ['-mavx512f', '-mavx512bw', '-mavx512vl', '-mfma', '-DRTC_IIR_NAME=rtc_gaussian_iir_avx512'] },
  { source: 'native/gaussian-iir.cc', flags: ['-mavx2', '-mfma', '-DRTC_IIR_NAME=rtc_gaussian_iir_avx2'] },
  { source: 'native/pointwise.cc', flags: ['-mavx512bw', '-DRTC_ISA_SUFFIX=avx512'] },
  { source: 'native/pointwise.cc', flags: ['-mavx2', '-DRTC_ISA_SUFFIX=avx2'] },
  { source: 'native/kernels.cc', flags: [] },
];

if (arch() !== 'x64') {
  console.error(`build-native: ${arch()} is not x86-64; the WASM kernels serve alone`);
  process.exit(0);
}
const version = spawnSync(cxx, ['--version'], { encoding: 'utf8' });
if (version.error || version.status !== 0) {
  console.error(`build-native: no C++ compiler (${cxx}); the WASM kernels serve alone (install g++ for the native ones)`);
  process.exit(0);
}

const hash = createHash('sha256').update(version.stdout).update(JSON.stringify({ common, linkFlags, objects }));
for (const name of readdirSync(path.join(root, 'native')).sort()) hash.update(name).update(readFileSync(path.join(root, 'native', name)));
const digest = hash.digest('hex');
if (existsSync(outFile) && existsSync(hashFile) && readFileSync(hashFile, 'utf8') === digest) {
  console.error('build-native: build/kernels-native.so is current');
  process.exit(0);
}

const work = mkdtempSync(path.join(tmpdir(), 'build-native-'));
try {
  // The objects compile in parallel (one compiler each), then link.
  const compiled = await Promise.all(
    objects.map(async ({ source, flags }, i) => {
      const object = path.join(work, `${i}.o`);
      return { ...(await run(cxx, [...common, ...flags, '-c', path.join(root, source), '-o', object])), object, source };
    }),
  );
  for (const c of compiled) {
    if (c.status !== 0) {
      console.error(`build-native: ${cxx} failed on ${c.source}:\n${c.output}`);
      process.exit(1);
    }
  }
  const linked = path.join(work, 'kernels-native.so');
    const link = await run(cxx, [...linkFlags, '-o', linked, ...compiled.map((c) => c.object)]);
  if (link.status !== 0) {
    console.error(`build-native: linking failed:\n${link.output}`);
    process.exit(1);
  }
  mkdirSync(path.dirname(outFile), { recursive: true });
  // Renamed into place: a process that has the old library loaded keeps its mapping.
  renameSync(linked, `${outFile}.tmp`);
  renameSync(`${outFile}.tmp`, outFile);
  writeFileSync(hashFile, digest);
  console.error('build-native: build/kernels-native.so (AVX-512 and AVX2 builds of the gaussian, grayscale and invert)');
} finally {
  rmSync(work, { recursive: true, force: true });
}

/** Runs a command; resolves with its exit status and its output (stdout and stderr together). */
function run(command, args) {
  return new Promise((resolve) => {
    const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (d) => (output += d));
    child.stderr.on('data', (d) => (output += d));
    child.on('error', (err) => resolve({ status: -1, output: String(err) }));
    child.on('close', (status) => resolve({ status, output }));
  });
}
