/**
 * The CUDA kernels are listed in four places: the backend's tables (src/cuda/filter-passes.ts,
 * src/cuda/segment-args.ts), the `__global__` functions of kernels.cu and segment.cu, the PTX
 * (test/unit/cuda-ptx.test.ts), and the emulated driver's `kKernels` (src/cuda/emulator/
 * libcuda-emu.cpp), which is compiled only where g++ runs. This reads the sources as text, so a
 * kernel missing from any of them, or registered with the emulator under the wrong argument
 * struct, barrier or channel count, fails here on any machine, without g++ or nvcc.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { CUDA_KERNEL_NAMES } from '../../src/cuda/filter-passes.ts';
import { SEGMENT_KERNEL_NAMES } from '../../src/cuda/segment-args.ts';

const source = (file: string): string => readFileSync(new URL(`../../src/cuda/${file}`, import.meta.url), 'utf8');

/** The text of the block that opens at `open` (a `{`), braces balanced. */
function blockAt(text: string, open: number): string {
  let depth = 0;
  for (let i = open; i < text.length; i++) {
    if (text[i] === '{') depth++;
    else if (text[i] === '}' && --depth === 0) return text.slice(open, i + 1);
  }
  throw new Error(`unbalanced braces from offset ${open}`);
}

interface CudaKernel {
  readonly args: string;
  /** Its body and those of the functions it calls in the same file, to a depth of three. */
  readonly code: string;
  /** `<4>` or `<1>` of the template it instantiates, when it does. */
  readonly channels: number | undefined;
}

/** Every `__global__` kernel of a .cu file. */
function globals(text: string): Map<string, CudaKernel> {
  const functions = new Map<string, string>();
  for (const m of text.matchAll(/__device__ (?:__forceinline__ )?\w+ (\w+)\([^)]*\)\s*\{/g)) functions.set(m[1]!, blockAt(text, m.index + m[0].length - 1));
  const expand = (code: string, depth: number): string => {
    if (depth === 0) return code;
    const called = [...functions].filter(([name]) => new RegExp(`\\b${name}\\b`).test(code)).map(([, body]) => body);
    return [code, ...called.map((body) => expand(body, depth - 1))].join('\n');
  };
  const out = new Map<string, CudaKernel>();
  for (const m of text.matchAll(/__global__ void (\w+)\(const (\w+) a\)\s*\{/g)) {
    const body = blockAt(text, m.index + m[0].length - 1);
    const channels = /^\{\s*\w+<(\d)/.exec(body)?.[1];
    out.set(m[1]!, { args: m[2]!, code: expand(body, 3), channels: channels === undefined ? undefined : Number(channels) });
  }
  return out;
}

interface EmulatorEntry {
  readonly macro: string;
  readonly barrier: boolean;
  readonly kind: string | undefined;
  readonly channels: number | undefined;
}

/** The entries of `kKernels[]` in the emulator. */
function emulatorTable(): Map<string, EmulatorEntry> {
  const text = source('emulator/libcuda-emu.cpp');
  const start = text.indexOf('const KernelEntry kKernels[] = {');
  assert.ok(start >= 0, 'kKernels not found in libcuda-emu.cpp');
  const table = blockAt(text, text.indexOf('{', start));
  const out = new Map<string, EmulatorEntry>();
  for (const m of table.matchAll(/\b(PLANE|GAUSS|SEG|SEG_FRAME)\((\w+)(?:, (true|false))?(?:, ArgKind::(\w+))?(?:, (\d))?\)/g)) {
    assert.ok(!out.has(m[2]!), `${m[2]} is in kKernels twice`);
    out.set(m[2]!, { macro: m[1]!, barrier: m[3] === 'true', kind: m[4], channels: m[5] === undefined ? undefined : Number(m[5]) });
  }
  return out;
}

const filterKernels = globals(source('kernels.cu'));
const segmentKernels = globals(source('segment.cu'));
const sorted = (names: Iterable<string>): string[] => [...names].sort();

test("kernels.cu defines exactly the kernels of the effects' CUDA entries (src/cuda/filter-passes.ts)", () => {
  assert.deepEqual(sorted(filterKernels.keys()), sorted(CUDA_KERNEL_NAMES));
});

test('segment.cu defines exactly SEGMENT_KERNEL_NAMES (src/cuda/segment-args.ts)', () => {
  assert.deepEqual(sorted(segmentKernels.keys()), sorted(SEGMENT_KERNEL_NAMES));
});

test("the emulator's kKernels registers every kernel, and nothing else", () => {
  assert.deepEqual(sorted(emulatorTable().keys()), sorted([...CUDA_KERNEL_NAMES, ...SEGMENT_KERNEL_NAMES]));
});

test('each emulator entry matches its kernel: argument struct, barrier, channels, buffers checked', () => {
  const MACRO_OF_ARGS: Readonly<Record<string, string>> = { PlaneArgs: 'PLANE', GaussArgs: 'GAUSS', SegArgs: 'SEG', SegFrameArgs: 'SEG_FRAME' };
  const entries = emulatorTable();
  for (const [name, kernel] of [...filterKernels, ...segmentKernels]) {
    const entry = entries.get(name);
    if (!entry) continue; // the test above names it
    assert.equal(entry.macro, MACRO_OF_ARGS[kernel.args], `${name} takes ${kernel.args}: register it with ${MACRO_OF_ARGS[kernel.args]}(...)`);
    // The emulator runs a block's threads one after the other unless told that they meet at a barrier.
    assert.equal(entry.barrier, kernel.code.includes('__syncthreads'), `${name}: barrier ${entry.barrier}, but its code ${entry.barrier ? 'has no' : 'calls'} __syncthreads()`);
    if (entry.macro === 'PLANE' || entry.macro === 'GAUSS') {
      const channels = kernel.channels ?? (/_(c4|rgba)$/.test(name) ? 4 : /_(c1|bytes)$/.test(name) ? 1 : undefined);
      assert.equal(entry.channels, channels, `${name}: channels`);
    }
    if (entry.macro === 'GAUSS') {
      // What the emulator checks the buffers against: bytes in, floats out (rows); floats in, bytes out (columns, the recursive ones with their second float plane).
      const kind = /recursive_columns/.test(name) ? 'GaussRecursiveColumns' : /columns/.test(name) ? 'GaussColumns' : /rows/.test(name) ? 'GaussRows' : undefined;
      assert.equal(entry.kind, kind, `${name}: ArgKind`);
    }
  }
});
