/**
 * The committed PTX (src/cuda/ptx/kernels.ptx) is what `npm run build:ptx` makes of kernels.cu
 * today, and declares what the backend loads. Rebuilding needs nvcc: without it the check is
 * skipped, except in CI, where a missing nvcc fails it.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { CUDA_KERNEL_NAMES } from '../../src/cuda/filter-passes.ts';
import { PTX_URL, readPtx } from '../../src/cuda/probe.ts';
import { SEGMENT_PTX_URL } from '../../src/cuda/segment-args.ts';
import { requireOrSkip } from '../tools.ts';

const root = fileURLToPath(new URL('../../', import.meta.url));

function nvccVersion(): string | undefined {
  try {
    return execFileSync('nvcc', ['--version'], { encoding: 'utf8' });
  } catch {
    return undefined;
  }
}

const nvcc = nvccVersion();
const skip = requireOrSkip(nvcc !== undefined, 'nvcc (to rebuild the PTX and prove the committed one current)', 'install the CUDA toolkit');

test('the committed PTX is current (rebuilt with nvcc and compared)', { skip }, () => {
  const out = mkdtempSync(path.join(os.tmpdir(), 'rtc-ptx-check-'));
  try {
    execFileSync(process.execPath, [path.join(root, 'scripts/build-ptx.mjs'), '--out-dir', out], { stdio: ['ignore', 'ignore', 'pipe'] });
    for (const [name, url] of [['kernels.ptx', PTX_URL], ['segment.ptx', SEGMENT_PTX_URL]] as const) {
      const rebuilt = readFileSync(path.join(out, name), 'utf8');
      const committed = readFileSync(url, 'utf8');
      const release = (ptx: string) => /Cuda compilation tools, release ([\d.]+)/.exec(ptx)?.[1];
      assert.equal(release(rebuilt), release(committed), `the committed ${name} was built by another CUDA release: run npm run build:ptx`);
      assert.ok(rebuilt === committed, `src/cuda/ptx/${name} is stale: run npm run build:ptx and commit the result`);
    }
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
});

test('the PTX declares exactly the kernels the backend loads', () => {
  const { text } = readPtx();
  const entries = [...text.matchAll(/^\.visible \.entry (\w+)\(/gm)].map((m) => m[1]);
  assert.deepEqual([...entries].sort(), [...CUDA_KERNEL_NAMES].sort());
});

test('the PTX targets sm_75 with ISA 8.0, names no build path, and every kernel parameter is one struct', () => {
  const { text } = readPtx();
  assert.match(text, /^\.version 8\.0$/m);
  assert.match(text, /^\.target sm_75$/m);
  assert.match(text, /^\.address_size 64$/m);
  assert.doesNotMatch(text, /\/(home|work|tmp|root)\//, 'no absolute paths: the file must be reproducible anywhere');
  assert.doesNotMatch(text, /used_bytes_mask/, 'an ISA 8.3 hint in ISA 8.0 PTX');
  // One .param per entry, sized as PlaneArgs (32) or GaussArgs (424) in kernels.cu / filter-passes.ts.
  const params = [...text.matchAll(/\.entry (\w+)\(\s*\.param \.align 8 \.b8 \w+\[(\d+)\]\s*\)/g)].map((m) => [m[1], Number(m[2])]);
  assert.equal(params.length, CUDA_KERNEL_NAMES.length);
  for (const [name, bytes] of params) assert.equal(bytes, String(name).startsWith('rtc_gaussian') ? 424 : 32, String(name));
});
