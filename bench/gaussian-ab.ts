/**
 * Two builds of the gaussian kernel against each other in one process: assembly/ at two git
 * revisions (or one revision and the working tree) compiled with the release settings of
 * scripts/build-wasm.mjs, run on the same noise frame, interleaved round by round (each round the
 * best of `--burst` calls of each), so that a busy machine slows both alike. Prints how many output
 * bytes differ and by how much, each side's best and median, and B / A: best against best and the
 * range over the rounds (the noise).
 *
 *   node --import tsx bench/gaussian-ab.ts --a HEAD~1 [--b worktree] [--sigma 2] [--size 1280x720]
 *     [--channels 4] [--rounds 10] [--burst 8] [--relaxed | --relaxed-b]
 *
 * --relaxed compiles both with the relaxed-SIMD proposal on, --relaxed-b only B (the service's two
 * builds: `--a worktree --b worktree --relaxed-b`); run node with --experimental-wasm-relaxed-simd
 * on Node 20 (Node 22 has it on).
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import asc from 'assemblyscript/asc';

const root = fileURLToPath(new URL('..', import.meta.url));
const argv = process.argv.slice(2);
function arg(name: string, fallback: string): string {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 && argv[i + 1] !== undefined ? argv[i + 1]! : fallback;
}
if (!argv.includes('--a')) {
  console.error('usage: bench/gaussian-ab.ts --a <rev> [--b <rev>|worktree] [--sigma 2] [--size 1280x720] [--channels 4] [--rounds 10] [--burst 8] [--relaxed | --relaxed-b]');
  process.exit(2);
}
const revA = arg('a', 'HEAD');
const revB = arg('b', 'worktree');
const sigma = Number(arg('sigma', '2'));
const [width, height] = arg('size', '1280x720').split('x').map(Number) as [number, number];
const channels = Number(arg('channels', '4'));
const rounds = Number(arg('rounds', '10'));
const burst = Number(arg('burst', '8'));
const RELAXED = 'simd,relaxed-simd';
const featuresA = argv.includes('--relaxed') ? RELAXED : 'simd';
const featuresB = argv.includes('--relaxed') || argv.includes('--relaxed-b') ? RELAXED : 'simd';

// No lib "dom", and @types/node 20 has no WebAssembly namespace (as in src/effects/wasm.ts).
declare const WebAssembly: {
  instantiate(bytes: Uint8Array, imports: Record<string, Record<string, unknown>>): Promise<{ instance: { exports: unknown } }>;
};

interface GaussianExports {
  memory: { buffer: ArrayBuffer; grow(pages: number): number };
  gaussian(src: number, dst: number, w: number, h: number, c: number, sigma: number, scratch: number, plane: number): void;
  gaussianScratch(w: number, h: number, c: number, sigma: number): number;
  gaussianPlaneScratch(w: number, h: number, c: number, sigma: number): number;
}

/** assembly/ of `rev` (or the working tree) compiled to wasm bytes. */
async function build(rev: string, features: string): Promise<Uint8Array> {
  const dir = mkdtempSync(path.join(tmpdir(), 'gaussian-ab-'));
  try {
    const base = rev === 'worktree' ? root : dir;
    if (rev !== 'worktree') execFileSync('sh', ['-c', `git -C "${root}" archive "${rev}" assembly | tar -x -C "${dir}"`]);
    let wasm: Uint8Array | undefined;
    const { error } = await asc.main(
      ['assembly/index.ts', '--outFile', 'out.wasm', '--enable', features, '--runtime', 'stub', '--noAssert', '--initialMemory', '1',
        '--baseDir', base, '--optimizeLevel', '3', '--shrinkLevel', '0', '--converge'],
      { writeFile: (name: string, contents: Uint8Array | string) => { if (name.endsWith('.wasm')) wasm = contents as Uint8Array; } },
    );
    if (error || !wasm) throw new Error(`${rev}: ${error?.message ?? 'no module written'}`);
    return wasm;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

async function side(rev: string, features: string, frame: Uint8Array): Promise<{ run: () => void; output: () => Uint8Array }> {
  const { instance } = await WebAssembly.instantiate(await build(rev, features), { env: { abort: () => { throw new Error('abort'); }, seed: () => 1 } });
  const e = instance.exports as unknown as GaussianExports;
  const n = frame.length;
  const src = 1 << 20;
  const dst = src + n;
  const scratch = dst + n + 64;
  const plane = scratch + e.gaussianScratch(width, height, channels, sigma) + 64;
  const end = plane + e.gaussianPlaneScratch(width, height, channels, sigma) + 64;
  if (e.memory.buffer.byteLength < end) e.memory.grow(Math.ceil((end - e.memory.buffer.byteLength) / 65536));
  new Uint8Array(e.memory.buffer).set(frame, src);
  return {
    run: () => e.gaussian(src, dst, width, height, channels, sigma, scratch, plane),
    output: () => new Uint8Array(e.memory.buffer, dst, n).slice(),
  };
}

const frame = new Uint8Array(width * height * channels);
let x = 12345;
for (let i = 0; i < frame.length; i++) {
  x = (Math.imul(x, 1103515245) + 12345) >>> 0;
  frame[i] = x >>> 24;
}
const a = await side(revA, featuresA, frame);
const b = await side(revB, featuresB, frame);
a.run();
b.run();
const oa = a.output();
const ob = b.output();
let differ = 0;
let most = 0;
for (let i = 0; i < oa.length; i++) {
  const d = Math.abs(oa[i]! - ob[i]!);
  if (d > 0) differ++;
  most = Math.max(most, d);
}

const times: [number[], number[]] = [[], []];
for (let r = 0; r < rounds; r++) {
  for (const [s, t] of [[a, times[0]], [b, times[1]]] as const) {
    let best = Infinity;
    for (let i = 0; i < burst; i++) {
      const t0 = process.hrtime.bigint();
      s.run();
      best = Math.min(best, Number(process.hrtime.bigint() - t0) / 1e6);
    }
    t.push(best);
  }
}
const summary = (t: number[]) => {
  const s = [...t].sort((p, q) => p - q);
  return `best ${s[0]!.toFixed(3)} ms, median ${s[s.length >> 1]!.toFixed(3)}`;
};
const ratios = times[1].map((v, i) => v / times[0][i]!);
console.log(`gaussian sigma ${sigma}, ${width}x${height}x${channels}, ${rounds} rounds of ${burst}: ${differ} output bytes differ (at most by ${most})`);
console.log(`A ${revA}: ${summary(times[0])} | B ${revB}: ${summary(times[1])}`);
console.log(`B / A: ${(Math.min(...times[1]) / Math.min(...times[0])).toFixed(3)} (rounds ${Math.min(...ratios).toFixed(2)}-${Math.max(...ratios).toFixed(2)})`);
