import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { test } from 'node:test';
import { REPO_ROOT, refusedPort, runCommand, startServer } from './fixtures.ts';

const SCRIPTS = ['scripts/load_gen.sh', 'scripts/demo_load_gen.sh'];

function shellcheckAvailable(): boolean {
  const probe = spawnSync('shellcheck', ['--version'], { stdio: 'ignore' });
  return probe.status === 0;
}

test('shellcheck passes on the load scripts', (t) => {
  if (!shellcheckAvailable()) {
    if (process.env.CI === 'true') assert.fail('shellcheck not installed (CI must install it: apt-get install shellcheck)');
    t.skip('shellcheck not installed');
    return;
  }
  const result = spawnSync('shellcheck', ['--shell=bash', '--severity=style', '--external-sources', ...SCRIPTS, 'scripts/lib/rtc-load.sh'], { cwd: REPO_ROOT, encoding: 'utf8' });
  assert.equal(result.status, 0, result.stdout + result.stderr);
});

test('load_gen.sh runs the seed arguments through rtc-load and prints the summary', async (t) => {
  const methods: string[] = [];
  const server = await startServer((request, response) => {
    methods.push(request.method ?? '');
    response.end('ok');
  });
  t.after(() => server.close());
  const result = await runCommand(join(REPO_ROOT, 'scripts/load_gen.sh'), [`${server.baseUrl}/process?pixels=64x64&iters=1`, '3', '30']);
  assert.deepEqual(new Set(methods), new Set(['POST']), 'the seed sent POST');
  assert.equal(result.code, 0, result.stderr);
  assert.match(result.stdout, /30 requests/);
  assert.match(result.stdout, /concurrency 3/);
  assert.match(result.stdout, /Status codes\s+200: 30/);
  assert.equal(server.requestCount(), 30);

  const help = await runCommand(join(REPO_ROOT, 'scripts/load_gen.sh'), ['--help']);
  assert.equal(help.code, 0);
  assert.match(help.stdout, /CONCURRENCY/);
  const bad = await runCommand(join(REPO_ROOT, 'scripts/load_gen.sh'), ['http://127.0.0.1:9/', 'many']);
  assert.equal(bad.code, 2);
});

test('demo_load_gen.sh: scenarios, connectivity check, no colour off a TTY', async (t) => {
  const paths: string[] = [];
  const server = await startServer((request, response) => {
    paths.push(request.url ?? '');
    response.end('ok');
  });
  t.after(() => server.close());
  const script = join(REPO_ROOT, 'scripts/demo_load_gen.sh');

  const baseline = await runCommand(script, ['baseline', server.baseUrl]);
  assert.equal(baseline.code, 0, baseline.stderr);
  assert.equal(paths[0], '/healthz');
  assert.equal(paths.filter((p) => p === '/process?pixels=1280x720&iters=3').length, 50);
  assert.match(baseline.stdout, /kubectl -n rtc get hpa -w/);
  assert.match(baseline.stdout, /Grafana/);
  assert.doesNotMatch(baseline.stdout, /\x1b\[/, 'no escape codes when stdout is not a TTY');

  const port = await refusedPort();
  const unreachable = await runCommand(script, ['heavy', `http://127.0.0.1:${port}`]);
  assert.equal(unreachable.code, 1);
  assert.match(unreachable.stderr, /does not answer \/healthz/);

  const unknown = await runCommand(script, ['extreme']);
  assert.equal(unknown.code, 2);
  assert.match(unknown.stderr, /unknown scenario/);
  const help = await runCommand(script, ['--help']);
  assert.equal(help.code, 0);
  for (const scenario of ['baseline', 'moderate', 'heavy', 'sustained']) assert.match(help.stdout, new RegExp(scenario));
});
