import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import test from 'node:test';
import { REPO_ROOT } from './fixtures.ts';

const TOOL = join(REPO_ROOT, 'tools/rtc-load');

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) =>
    entry.isDirectory() ? sources(join(dir, entry.name)) : entry.name.endsWith('.ts') ? [join(dir, entry.name)] : [],
  );
}

/** Relative imports (static and dynamic) of a file, resolved to repository paths. */
function importsOf(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  return [...text.matchAll(/(?:from\s+|import\(\s*)'(\.{1,2}\/[^']+)'/g)].map((m) => relative(REPO_ROOT, resolve(dirname(file), m[1] ?? '')));
}

/** The one module of the server the client shares: the typed binding over @roamhq/wrtc (a leaf). */
const WRTC_BINDING = 'src/webrtc/binding.ts';

test('the client module imports nothing outside tools/rtc-load/client/ but the wrtc binding', () => {
  for (const file of sources(join(TOOL, 'client'))) {
    for (const target of importsOf(file)) assert.ok(target.startsWith('tools/rtc-load/client/') || target === WRTC_BINDING, `${relative(REPO_ROOT, file)} imports ${target}`);
  }
});

test('the wrtc binding is a leaf: it imports nothing of the project', () => {
  assert.deepEqual(importsOf(join(REPO_ROOT, WRTC_BINDING)), []);
});

test("rtc-load reaches into the server only for the public effect catalog and the wrtc binding", () => {
  const fromServer = sources(TOOL).flatMap((file) => importsOf(file).filter((target) => !target.startsWith('tools/')).map((target) => `${relative(REPO_ROOT, file)} -> ${target}`));
  assert.deepEqual(fromServer, [`tools/rtc-load/client/peer.ts -> ${WRTC_BINDING}`, 'tools/rtc-load/webrtc/args.ts -> src/effects/catalog.ts']);
});

test('core/ and report/ never import a command folder the wrong way (core depends on nothing above it)', () => {
  for (const file of sources(join(TOOL, 'core'))) {
    for (const target of importsOf(file)) assert.ok(!/tools\/rtc-load\/(http|webrtc|report)\//.test(target), `${relative(REPO_ROOT, file)} imports ${target}`);
  }
});
