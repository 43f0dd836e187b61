/**
 * The images' build stages hold what `npm run build` reads (no Docker engine here to build them):
 * the kernels' sources and build scripts, and g++ for the native kernels before the build runs.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { packageUrl } from '../../src/paths.ts';

/** The build stage's instructions, up to and including `RUN npm run build`. */
function buildStage(file: string): string[] {
  const lines = readFileSync(packageUrl(file), 'utf8').split('\n');
  const from = lines.findIndex((l) => /^FROM .* AS build$/.test(l));
  const build = lines.findIndex((l, i) => i > from && /^RUN npm run build\b/.test(l));
  assert.ok(from >= 0 && build > from, `${file}: a build stage that runs npm run build`);
  return lines.slice(from, build + 1);
}

for (const file of ['Dockerfile', 'Dockerfile.gpu']) {
  test(`${file}: the build stage copies the kernels' sources and build scripts and installs g++ before building`, () => {
    const stage = buildStage(file);
    const copied = stage.filter((l) => l.startsWith('COPY ')).flatMap((l) => l.split(/\s+/).slice(1, -1));
    for (const needed of ['assembly', 'native', 'scripts/build-wasm.mjs', 'scripts/build-native.mjs', 'src', 'package.json']) {
      assert.ok(copied.includes(needed), `${file} copies ${needed} (copied: ${copied.join(' ')})`);
    }
    const pkg = JSON.parse(readFileSync(packageUrl('package.json'), 'utf8')) as { scripts: Record<string, string> };
    for (const script of ['build:wasm', 'build:native']) {
      const source = /node (scripts\/\S+)/.exec(pkg.scripts[script] ?? '')?.[1];
      assert.ok(source && copied.includes(source), `${file}: npm run ${script} runs ${source}, which the stage copies`);
    }
    assert.ok(stage.some((l) => /^RUN .*apt-get install .*\bg\+\+/.test(l)), `${file}: g++ installed in the build stage`);
  });
}
