/**
 * `npm test`'s runner: the build with the type check of everything (src, tools, test, bench), then
 * every test file in two phases on node:test.
 *
 * Most files wait more than they compute (a server starting, Prometheus scraping, WebRTC
 * connecting, a drain), so they run TEST_CONCURRENCY at a time (default 3: on the 2-core CI machine
 * the cores stay busy while some files wait). The files in ALONE measure the machine itself (goodput against the capacity they just
 * measured, latency bounds, event-loop stalls, a load tool's percentiles and knee) and run one at a
 * time afterwards, with nothing else on the cores. Exits 1 when any test fails.
 *
 *   node --import tsx test/run.ts                   # the whole suite
 *   node --import tsx test/run.ts test/unit/x.test.ts  # some files, one at a time
 */
import { spawn } from 'node:child_process';
import { mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { run } from 'node:test';
import { spec } from 'node:test/reporters';
import { fileURLToPath, pathToFileURL } from 'node:url';

const ROOT = fileURLToPath(new URL('..', import.meta.url));

/** Files whose assertions compare timings with the machine's own capacity: run with the cores to themselves. */
const ALONE = [
  'test/integration/surge.test.ts',
  'test/integration/guards.test.ts',
  'test/adversarial/cost.test.ts',
  'test/adversarial/accounting.test.ts',
  'test/adversarial/memory.test.ts',
  'test/load/plan.test.ts',
  'test/load/latency.test.ts',
  'test/load/outcomes.test.ts',
  'test/load/stalls.test.ts',
  'test/load/rebalance.test.ts',
  'test/load/retry.test.ts',
  // Real-time media through Chromium: speech recognised as it is spoken, and a call that must move
  // within the drain window; with two other files on the cores, the recogniser drops the speech and
  // a moving call's first frame comes late.
  'test/speech/captions.test.ts',
  'test/webrtc/rollout.test.ts',
];

/** The longest files of the shared phase (over 20 s), started first so that none of them is left to finish alone at the end. */
const LONGEST = [
  'test/soak/soak.test.ts',
  'test/load/deploy-demo.test.ts',
  'test/adversarial/webrtc.test.ts',
  'test/load/docs-run.test.ts',
  'test/fleet/fleet.test.ts',
  'test/fleet/forward.test.ts',
  'test/integration/api.test.ts',
  'test/load/webrtc.test.ts',
  'test/load/output.test.ts',
  'test/observability/prometheus-integration.test.ts',
  'test/webrtc/audio.test.ts',
  'test/segmentation/people.test.ts',
];

/**
 * The other files run GROUP_SIZE to a process, with the others of their folder: one Node and one
 * TypeScript loader for several files instead of one each (about half a second of CPU saved per
 * file). A file's tests still run in its order and its own hooks still close what it opened; node:test
 * reports each test under the file that defines it.
 */
const GROUP_SIZE = 6;

function concurrency(): number {
  const value = Number(process.env.TEST_CONCURRENCY ?? '3');
  if (!Number.isInteger(value) || value < 1) throw new Error(`TEST_CONCURRENCY must be a positive integer, not ${process.env.TEST_CONCURRENCY}`);
  return value;
}

/** Seconds of top-level tests per file, for the profile printed at the end. */
const secondsByFile = new Map<string, number>();

interface TestEvent {
  nesting: number;
  file?: string;
  details: { duration_ms: number };
}

function record(event: TestEvent): void {
  if (event.nesting !== 0 || event.file === undefined) return;
  const file = path.relative(ROOT, event.file);
  secondsByFile.set(file, (secondsByFile.get(file) ?? 0) + event.details.duration_ms / 1000);
}

/** Runs `files` and resolves with whether every test passed. */
async function phase(files: string[], parallel: number): Promise<boolean> {
  if (files.length === 0) return true;
  let passed = true;
  const stream = run({ files: files.map((f) => path.resolve(ROOT, f)), concurrency: parallel });
  stream.on('test:pass', record);
  stream.on('test:fail', (event: TestEvent) => {
    passed = false;
    record(event);
  });
  for await (const line of stream.compose(new spec())) process.stdout.write(line as string);
  return passed;
}

const GROUP_DIR = path.join(tmpdir(), `rtc-scale-test-groups-${process.pid}`);

/** A test entry named `name` that imports `files` in order: one process for them all. */
function entry(name: string, files: string[]): string {
  mkdirSync(GROUP_DIR, { recursive: true });
  const file = path.join(GROUP_DIR, `${name}.test.mjs`);
  writeFileSync(file, files.map((f) => `import ${JSON.stringify(pathToFileURL(path.resolve(ROOT, f)).href)};\n`).join(''));
  return file;
}

/** One entry file per GROUP_SIZE files of a folder, importing them in order. */
function grouped(files: string[]): string[] {
  const byFolder = new Map<string, string[]>();
  for (const f of files) byFolder.set(path.dirname(f), [...(byFolder.get(path.dirname(f)) ?? []), f]);
  const entries: string[] = [];
  for (const [folder, members] of byFolder) {
    for (let i = 0; i < members.length; i += GROUP_SIZE) entries.push(entry(`${folder.replaceAll('/', '-')}-${i / GROUP_SIZE + 1}`, members.slice(i, i + GROUP_SIZE)));
  }
  return entries;
}

/**
 * The ALONE files one after the other in one process (they run one at a time anyway: a process
 * each only added its start-up between them), except those with file-level hooks: in a shared
 * process a file's before() would run before the other files' tests and its after() after them.
 */
function aloneEntries(files: string[]): string[] {
  // File-level hooks: written out, or registered by a helper called at the top level (fileScope, sharedListeningApp, kustomizeCachingKubectl).
  const hooked = files.filter((f) => /^(before|after)(Each)?\(|^(const \w+ = )?(shared\w+|fileScope|kustomizeCachingKubectl)\(/m.test(readFileSync(path.resolve(ROOT, f), 'utf8')));
  const plain = files.filter((f) => !hooked.includes(f));
  return [...(plain.length > 0 ? [entry('alone', plain)] : []), ...hooked];
}

/** Runs a Node script to its end; resolves with whether it exited 0 and what it printed. */
function node(args: string[]): Promise<{ ok: boolean; output: string }> {
  const child = spawn(process.execPath, args, { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
  return new Promise((resolve) => child.on('close', (code) => resolve({ ok: code === 0, output })));
}

/**
 * The build the tests run (`build/effects.wasm`, build/kernels-native.so and `dist/`, as `npm start` runs it) and the type
 * check of everything, as one compile: tsc checks src, tools, test and bench and emits them all
 * (test/ and bench/ into dist/ too, unused), beside the AssemblyScript build on the other core.
 */
async function build(): Promise<{ ok: boolean; types: { ok: boolean; output: string } }> {
  const tsc = path.join(ROOT, 'node_modules/typescript/bin/tsc');
  const [wasm, native, types] = await Promise.all([
    node(['scripts/build-wasm.mjs']),
    node(['scripts/build-native.mjs']),
    node([tsc, '-p', 'tsconfig.json', '--noEmit', 'false', '--rootDir', '.']),
  ]);
  if (!wasm.ok) process.stdout.write(`npm run build:wasm failed:\n${wasm.output}\n`);
  if (!native.ok) process.stdout.write(`npm run build:native failed:\n${native.output}\n`);
  else process.stdout.write(native.output);
  return { ok: wasm.ok && native.ok, types };
}

const named = process.argv.slice(2);
let ok: boolean;
if (named.length > 0) {
  ok = await phase(named, 1);
} else {
  const all = readdirSync(path.join(ROOT, 'test'), { withFileTypes: true })
    .filter((d) => d.isDirectory())
    .flatMap((d) => readdirSync(path.join(ROOT, 'test', d.name)).filter((f) => f.endsWith('.test.ts')).map((f) => `test/${d.name}/${f}`))
    .sort();
  const missing = [...ALONE, ...LONGEST].filter((f) => !all.includes(f));
  if (missing.length > 0) throw new Error(`test/run.ts names files that do not exist: ${missing.join(', ')}`);
  const shared = [...LONGEST, ...grouped(all.filter((f) => !ALONE.includes(f) && !LONGEST.includes(f)))];
  const built = await build();
  if (!built.ok) process.exit(1);
  const startedMs = performance.now();
  ok = await phase(shared, concurrency());
  const sharedSeconds = (performance.now() - startedMs) / 1000;
  const { types } = built;
  process.stdout.write(types.ok ? '\ntsc: no type errors\n' : `\ntsc failed (the tests ran on what it emitted):\n${types.output}\n`);
  ok = types.ok && ok;
  ok = (await phase(aloneEntries(ALONE), 1)) && ok;
  const aloneSeconds = (performance.now() - startedMs) / 1000 - sharedSeconds;
  process.stdout.write(`\n${all.length - ALONE.length} files in ${shared.length} processes ${concurrency()} at a time in ${sharedSeconds.toFixed(0)} s, then ${ALONE.length} alone in ${aloneSeconds.toFixed(0)} s\n`);
}
writeFileSync(path.join(tmpdir(), 'rtc-scale-test-profile.json'), JSON.stringify(Object.fromEntries([...secondsByFile].sort((a, b) => b[1] - a[1])), null, 1));
process.stdout.write(`the slowest files (seconds of their tests; all of them in ${path.join(tmpdir(), 'rtc-scale-test-profile.json')}):\n`);
for (const [file, seconds] of [...secondsByFile].sort((a, b) => b[1] - a[1]).slice(0, 12)) process.stdout.write(`${seconds.toFixed(1).padStart(7)} s  ${file}\n`);
rmSync(GROUP_DIR, { recursive: true, force: true });
process.exitCode = ok ? 0 : 1;
