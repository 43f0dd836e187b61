/**
 * Every command the docs give, run as written. Each doc's shell (its bash blocks and the commands in
 * its prose, in order) runs in bash with every outside tool replaced by a recorder, so quoting,
 * variables, `$(…)` and pipes are bash's own; then each recorded call is checked by the real
 * tool's own rules where it can run here, and by a lint rule where it cannot:
 *
 *   kubectl   the real kubectl against an API server that is not there: a usage error (unknown
 *             flag, `get a,b -w`, a bad path for -k or -f) fails; "connection refused" passes
 *   gcloud    the real gcloud, logged out: its argument parser's refusals (exit 2) fail
 *   scripts   the real script with its own --dry-run (deploy, build, GPU pool) or
 *             RTC_LOAD_DRY_RUN=1 (load scripts): exit 0, and the rtc-load command line it would
 *             run (or the Job's args) accepted by rtc-load's parser
 *   rtc-load  rtc-load's own parser (http, webrtc, plan)
 *   curl/hey  every /process URL accepted by the service's own query parser
 *   helm      (not installed here) a chart's repository added before it is installed, known flags
 *   npm, node, docker compose, kind: the scripts, files, services and images they name exist
 *
 * Variables a reader sets themselves (PROJECT_ID, LOCATION, CLUSTER, REGISTRY, NODE_TAG) get
 * example values; any other variable must be set by the doc before it is used (bash -u).
 */
import assert from 'node:assert/strict';
import { execFile, spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, realpathSync, rmSync, symlinkSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import test from 'node:test';
import { parseAllDocuments, parse as parseYaml } from 'yaml';
import { parseProcessQuery } from '../../src/http/process-query.ts';
import { isSegmentationEffect } from '../../src/effects/catalog.ts';
import { haveTool, which } from '../tools.ts';
import { mapLimited, REPO_ROOT, rtcLoadRefusal } from './fixtures.ts';
import { kustomizeCachingKubectl } from './kustomize-cache.ts';

const DOCS = ['README.md', 'DEMO_SCRIPT.md', 'ARCHITECTURE.md', ...readdirSync(join(REPO_ROOT, 'docs')).filter((f) => f.endsWith('.md')).map((f) => `docs/${f}`)];
const read = (path: string): string => readFileSync(join(REPO_ROOT, path), 'utf8');

/** What a reader of the docs is told to set for their own project. */
const READER_SETS = { PROJECT_ID: 'my-project', LOCATION: 'us-central1', CLUSTER: 'rtc-demo', REGISTRY: 'us-central1-docker.pkg.dev/my-project/rtc', NODE_TAG: 'gke-rtc-demo-gpu' };
/** Recorded, for the scripts re-run with the doc's environment. */
const PASSED_ENV = ['PROJECT_ID', 'LOCATION', 'CLUSTER', 'REGISTRY', 'IMAGE', 'TAG', 'MIN_NODES', 'MAX_NODES', 'GPU_COUNT', 'POOL', 'RTC_LOAD_IMAGE', 'PROMETHEUS_URL', 'UPDATE_GENERATED'];
/** Recorded instead of run. */
const RECORDED = ['kubectl', 'gcloud', 'helm', 'docker', 'npm', 'npx', 'node', 'rtc-load', 'curl', 'hey', 'kind', 'open', 'xdg-open', 'jq', 'watch'];
/** Run for real: they only compute text. */
const REAL = ['bash', 'grep', 'openssl', 'head', 'base64', 'sed', 'cat', 'seq', 'date', 'tr', 'printf', 'dirname', 'echo'];
const SCRIPTS = new Set(['build_and_push.sh', 'gke_create_gpu_pool.sh', 'deploy.sh', 'load_gen.sh', 'demo_load_gen.sh', 'local_fleet.sh']);

interface Call {
  readonly at: string;
  readonly argv: readonly string[];
  readonly env: Readonly<Record<string, string>>;
}

/** A doc's shell, in reading order: its bash blocks, and the commands quoted in its prose. */
function shellOf(doc: string): string {
  const text = read(doc);
  const lineAt = (index: number): number => text.slice(0, index).split('\n').length;
  const pieces: { index: number; code: string }[] = [];
  for (const block of text.matchAll(/```(?:bash|sh|shell)\n([\s\S]*?)```/g)) pieces.push({ index: block.index, code: block[1] ?? '' });
  const prose = text.replace(/```[\s\S]*?```/g, (m) => ' '.repeat(m.length));
  for (const inline of prose.matchAll(/`([^`\n]+)`/g)) {
    const code = inline[1] ?? '';
    // A tool named in passing (`npx rtc-load`, `kubectl kustomize`) is no command line.
    if (code.trim().split(/\s+/).length < 3) continue;
    // A usage line (`load_gen.sh [URL] [CONCURRENCY]`, `deploy.sh --trust-proxy LIST`, `… --in-cluster`) neither.
    if (/\[[^\]]*\]|…|\.\.\.|(?:^|\s)[A-Z][A-Z_]+(?:\s|$)/.test(code)) continue;
    if (/^(?:scripts\/\S+\.sh|npx |npm |rtc-load |kubectl |helm |docker |curl |hey |gcloud |kind )/.test(code)) pieces.push({ index: inline.index, code: `${code}\n` });
  }
  pieces.sort((a, b) => a.index - b.index);
  return pieces.map((p) => `export DOC_AT=${JSON.stringify(`${doc}:${lineAt(p.index)}`)}\n${p.code}`).join('');
}

/** A recorder for each outside tool and each script, in a directory that stands in for the checkout. */
function sandbox(): { dir: string; bin: string; log: string } {
  const dir = mkdtempSync(join(tmpdir(), 'docs-run-'));
  const bin = join(dir, 'bin');
  const log = join(dir, 'calls.log');
  mkdirSync(bin);
  mkdirSync(join(dir, 'work', 'scripts'), { recursive: true });
  const env = PASSED_ENV.map((name) => `"${name}=\${${name}-}"`).join(' ');
  // Fields end in \x1f, calls in \x1e; the output is what the docs' $(…) need to go on.
  const recorder = `#!/bin/bash
name="\${0##*/}"
{ printf '%s\\x1f' "$DOC_AT" "$name" "$#" "$@" ${env}; printf '\\x1e'; } >>"${log}"
case "$name $*" in
  *"clusterIpv4Cidr"*) echo 10.4.0.0/14 ;;
  *"get-value project"*) echo my-project ;;
  kubectl*"-o name"*) echo pod/gpu-media-7d9f8-abcde ;;
  kubectl*jsonpath*) echo 10.0.0.10 ;;
  curl*) echo '{}' ;;
esac
exit 0
`;
  writeFileSync(join(bin, 'recorder'), recorder);
  chmodSync(join(bin, 'recorder'), 0o755);
  for (const tool of RECORDED) symlinkSync(join(bin, 'recorder'), join(bin, tool));
  for (const script of SCRIPTS) symlinkSync(join(bin, 'recorder'), join(dir, 'work', 'scripts', script));
  for (const tool of REAL) {
    const path = which(tool);
    if (path) symlinkSync(path, join(bin, tool));
  }
  for (const entry of ['k8s', 'observability', 'docs', 'test', 'tools', 'src', 'public', 'bench', 'package.json', 'docker-compose.yml', 'compose']) {
    if (existsSync(join(REPO_ROOT, entry))) symlinkSync(join(REPO_ROOT, entry), join(dir, 'work', entry));
  }
  return { dir, bin, log };
}

/** Runs every doc's shell; the calls it made, and bash's own complaints per doc. */
function runDocs(): { calls: Call[]; errors: string[] } {
  const { dir, bin, log } = sandbox();
  try {
    const errors: string[] = [];
    for (const doc of DOCS) {
      const script = `set -u\n${Object.entries(READER_SETS).map(([k, v]) => `export ${k}=${v}`).join('\n')}\n${shellOf(doc)}`;
      const syntax = spawnSync('/bin/bash', ['-n'], { input: script, encoding: 'utf8' });
      if (syntax.status !== 0) {
        errors.push(`${doc}: not valid bash: ${syntax.stderr}`);
        continue;
      }
      const result = spawnSync('/bin/bash', ['-s'], { input: script, cwd: join(dir, 'work'), encoding: 'utf8', timeout: 30_000, env: { PATH: bin, HOME: dir, DOC_AT: doc } });
      if (result.status !== 0 || result.stderr.trim() !== '') errors.push(`${doc}: ${result.stderr.trim() || `exit ${result.status}`}`);
    }
    const text = existsSync(log) ? readFileSync(log, 'utf8') : '';
    const calls = text
      .split('\x1e')
      .filter((record) => record !== '')
      .map((record) => {
        const fields = record.split('\x1f');
        const count = Number(fields[2]);
        const env = Object.fromEntries(
          fields
            .slice(3 + count, -1)
            .map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)])
            .filter(([, v]) => v !== ''),
        );
        return { at: fields[0] ?? '', argv: [fields[1] ?? '', ...fields.slice(3, 3 + count)], env };
      });
    return { calls, errors };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const { calls: CALLS, errors: SHELL_ERRORS } = runDocs();
const KUBECTL_BIN = kustomizeCachingKubectl();
const callsOf = (tool: string): Call[] => CALLS.filter((c) => c.argv[0] === tool);
const shown = (call: Call): string => `${call.at}: ${call.argv.join(' ')}`;

function run(file: string, args: readonly string[], options: { env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(file, [...args], { cwd: REPO_ROOT, timeout: options.timeoutMs ?? 60_000, env: options.env ?? process.env, maxBuffer: 16 << 20 }, (error, stdout, stderr) => {
      resolve({ code: error === null ? 0 : typeof error.code === 'number' ? error.code : null, stdout, stderr });
    });
  });
}

/** At most `limit` at a time. */
/** One call per distinct command line (the docs repeat some). */
function distinct(calls: readonly Call[]): Call[] {
  const seen = new Map<string, Call>();
  for (const call of calls) {
    const key = JSON.stringify([call.argv, call.env]);
    if (!seen.has(key)) seen.set(key, call);
  }
  return [...seen.values()];
}

test('every doc is valid bash that runs to its end, with every variable set before it is used', () => {
  assert.deepEqual(SHELL_ERRORS, []);
  assert.ok(CALLS.length > 80, `${CALLS.length} calls recorded`);
  for (const tool of ['kubectl', 'gcloud', 'helm', 'npx', 'curl']) assert.ok(callsOf(tool).length > 0, `the docs call ${tool}`);
});

test('kubectl: every call is one kubectl accepts (run against an API server that is not there)', async (t) => {
  if (!haveTool(t, 'kubectl')) return;
  const dir = mkdtempSync(join(tmpdir(), 'docs-kubectl-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const config = join(dir, 'config');
  // Port 1 on loopback: nothing listens, so every request is refused at once.
  writeFileSync(
    config,
    'apiVersion: v1\nkind: Config\nclusters: [{name: none, cluster: {server: "https://127.0.0.1:1"}}]\nusers: [{name: none, user: {token: none}}]\ncontexts: [{name: none, context: {cluster: none, user: none}}]\ncurrent-context: none\n',
  );
  const problems: string[] = [];
  await mapLimited(distinct(callsOf('kubectl')), 4, async (call) => {
    // `kubectl proxy` serves until stopped: on a port of its own here, and it passes once it serves.
    const serves = call.argv[1] === 'proxy';
    const args = serves ? call.argv.slice(1).map((w, i, all) => (all[i - 1] === '--port' || all[i - 1] === '-p' ? '0' : w)) : call.argv.slice(1);
    const result = await run('kubectl', args, { env: { PATH: process.env.PATH, HOME: dir, KUBECONFIG: config }, timeoutMs: serves ? 5_000 : 30_000 });
    if (serves && /Starting to serve on/.test(result.stdout)) return;
    // No network here either: a manifest by URL fails to download, after kubectl took the command line.
    const unreachable = /connect: connection refused|The connection to the server .* was refused|Unable to connect to the server/.test(result.stderr);
    if (result.code !== 0 && !unreachable) problems.push(`${shown(call)}\n    ${result.stderr.trim().split('\n').filter((l) => !l.includes('memcache.go')).join('\n    ')}`);
  });
  assert.deepEqual(problems, []);
});

test('gcloud: every call passes gcloud\'s own argument checks (logged out, nothing reaches Google)', async (t) => {
  // gcloud comes from Google's apt repository, not Debian's, so CI (npm and Debian packages only)
  // cannot install it: without it this check is skipped, said, under CI too.
  if (which('gcloud') === undefined) {
    process.stderr.write('SKIPPED: gcloud is not installed (google-cloud-cli); the docs\' gcloud calls are not checked\n');
    t.skip('gcloud is not installed (google-cloud-cli, from Google\'s apt repository)');
    return;
  }
  const dir = mkdtempSync(join(tmpdir(), 'docs-gcloud-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  // One interpreter for every call (gcloud-lines.py): gcloud's CLI object, built once, runs each
  // command line as `gcloud ARGS` would (a second of CPU saved a call), with the Python gcloud
  // itself prefers (its bundled one).
  const root = dirname(dirname(realpathSync(which('gcloud') ?? 'gcloud')));
  const bundled = join(root, 'platform/bundledpythonunix/bin/python3');
  const calls = distinct(callsOf('gcloud'));
  const env = { PATH: process.env.PATH, HOME: dir, CLOUDSDK_CONFIG: join(dir, 'gcloud'), CLOUDSDK_CORE_DISABLE_PROMPTS: '1', CLOUDSDK_CORE_DISABLE_USAGE_REPORTING: 'true', CLOUDSDK_COMPONENT_MANAGER_DISABLE_UPDATE_CHECK: 'true' };
  // A line gcloud must refuse goes last: the runner still reports a refusal as gcloud would (exit 2).
  const refused = ['container', 'clusters', 'list', '--no-such-flag'];
  const batch = spawnSync(existsSync(bundled) ? bundled : 'python3', ['-S', join(REPO_ROOT, 'test/load/gcloud-lines.py'), root], {
    input: JSON.stringify([...calls.map((call) => call.argv.slice(1)), refused]),
    encoding: 'utf8',
    env,
    timeout: 120_000,
    maxBuffer: 16 << 20,
  });
  assert.equal(batch.status, 0, batch.stderr);
  const results = JSON.parse(batch.stdout) as { code: number; stderr: string }[];
  assert.equal(results.length, calls.length + 1);
  assert.equal(results.pop()?.code, 2, `gcloud ${refused.join(' ')} is refused`);
  const problems: string[] = [];
  calls.forEach((call, i) => {
    const result = results[i] ?? { code: null, stderr: '' };
    // 2 is gcloud's exit status for a command line it refuses (unknown flag, bad value, missing argument).
    if (result.code === 2 || /unrecognized arguments|Invalid choice|argument .*: (?:expected|Bad value|Invalid)/.test(result.stderr)) {
      problems.push(`${shown(call)}\n    ${result.stderr.trim().split('\n').slice(0, 4).join('\n    ')}`);
    }
  });
  assert.deepEqual(problems, []);
});

/** The rtc-load command lines a load script's dry run prints: `+ rtc-load ARGS` (shell-quoted), or the Job's args. */
function rtcLoadRunsOf(stdout: string): string[][] {
  const runs: string[][] = [];
  for (const line of stdout.split('\n')) {
    if (!line.startsWith('+ rtc-load ')) continue;
    const words = spawnSync('/bin/bash', ['-c', `eval "set -- $1"; printf '%s\\0' "$@"`, '_', line.slice('+ rtc-load '.length)], { encoding: 'utf8' }).stdout;
    runs.push(words.split('\0').slice(0, -1));
  }
  if (stdout.includes('kind: Job')) {
    const manifest = stdout.slice(stdout.indexOf('apiVersion: batch/v1')).split('\n\n')[0] ?? '';
    const job = parseYaml(manifest) as { spec: { template: { spec: { containers: { args: string[] }[] } } } };
    runs.push(job.spec.template.spec.containers[0]?.args ?? []);
  }
  return runs;
}

test('scripts: each call runs as written in the script\'s own dry run, and what it would run rtc-load accepts', async (t) => {
  if (!haveTool(t, 'kubectl')) return;
  const problems: string[] = [];
  const scriptCalls = distinct(CALLS.filter((c) => SCRIPTS.has(c.argv[0] ?? '')));
  assert.ok(scriptCalls.some((c) => c.argv[0] === 'deploy.sh' && c.argv.includes('--demo')));
  await mapLimited(scriptCalls, 3, async (call) => {
    const script = join(REPO_ROOT, 'scripts', call.argv[0] ?? '');
    const loads = call.argv[0] === 'load_gen.sh' || call.argv[0] === 'demo_load_gen.sh';
    if (call.argv[0] === 'local_fleet.sh') return;
    const args = loads ? call.argv.slice(1) : [...call.argv.slice(1), '--dry-run'];
    // deploy.sh's renders of an overlay already rendered come from the first (kustomize-cache.ts).
    const env = { ...process.env, ...call.env, PATH: `${KUBECTL_BIN}:${process.env.PATH}`, RTC_LOAD_DRY_RUN: '1', RTC_LOAD_IMAGE: 'us-central1-docker.pkg.dev/my-project/rtc/gpu-media:0.1.0-cuda', NO_COLOR: '1' };
    const result = await run(script, args, { env });
    if (result.code !== 0) {
      problems.push(`${shown(call)}: exit ${result.code}\n    ${result.stderr.trim()}`);
      return;
    }
    if (loads) {
      const runs = rtcLoadRunsOf(result.stdout);
      if (runs.length === 0) problems.push(`${shown(call)}: runs no rtc-load`);
      for (const words of runs) {
        const refusal = rtcLoadRefusal(words);
        if (refusal) problems.push(`${shown(call)}: rtc-load refuses ${words.join(' ')}: ${refusal}`);
      }
    }
  });
  assert.deepEqual(problems, []);
});

test('rtc-load: every call is one its parser accepts', () => {
  const problems: string[] = [];
  const rtcLoadArgs = (call: Call): string[] | undefined => {
    const [tool, ...rest] = call.argv;
    if (tool === 'rtc-load') return rest;
    if (tool === 'npx' && rest[0] === 'rtc-load') return rest.slice(1);
    if (tool === 'node') {
      const entry = rest.findIndex((w) => /(?:tools\/rtc-load\/main\.(?:ts|js)|bin\/rtc-load\.js)$/.test(w));
      return entry < 0 ? undefined : rest.slice(entry + 1);
    }
    return undefined;
  };
  let checked = 0;
  for (const call of CALLS) {
    const args = rtcLoadArgs(call);
    if (args === undefined) continue;
    checked++;
    const refusal = rtcLoadRefusal(args);
    // `plan --from FILE` reads the reader's own saved run at parse time.
    if (refusal && !/^--from: cannot read /.test(refusal)) problems.push(`${shown(call)}: ${refusal}`);
  }
  assert.ok(checked > 10, `${checked} rtc-load calls`);
  assert.deepEqual(problems, []);
});

test('curl and hey: every /process URL is one the service accepts, and one that sets an effect\'s parameter says how many passes', () => {
  const problems: string[] = [];
  const limits = { maxPixels: 3840 * 2160, maxIters: 100 };
  let checked = 0;
  for (const call of [...callsOf('curl'), ...callsOf('hey')]) {
    for (const word of call.argv.slice(1)) {
      const match = /^(?:https?:\/\/)?[\w.-]+(?::\d+)?\/process(?:\?(.*))?$/.exec(word);
      if (!match) continue;
      checked++;
      const query = Object.fromEntries(new URLSearchParams(match[1] ?? ''));
      try {
        const parsed = parseProcessQuery(query, limits);
        const extra = Object.keys(query).filter((key) => !['pixels', 'iters', 'effect', 'format', ...Object.keys(parsed.job.params)].includes(key));
        if (extra.length > 0) problems.push(`${shown(call)}: ${extra.join(', ')} is no parameter of ${parsed.job.effect}`);
        // iters defaults to 5 passes: a doc that tunes one pass of an effect must not run five.
        const tunesFilter = !isSegmentationEffect(parsed.job.effect) && Object.keys(query).some((key) => key in parsed.job.params);
        if (tunesFilter && query.iters === undefined) problems.push(`${shown(call)}: sets ${parsed.job.effect}'s parameters but not iters (5 passes by default)`);
      } catch (error) {
        problems.push(`${shown(call)}: ${error instanceof Error ? error.message : String(error)}`);
      }
    }
  }
  assert.ok(checked > 3, `${checked} URLs`);
  assert.deepEqual(problems, []);
});

test('helm (not run here): a chart\'s repository is added before the chart is installed, and every flag is one helm has', () => {
  const FLAGS = new Set(['-n', '--namespace', '--create-namespace', '--version', '--set', '-f', '--values', '--wait', '--timeout', '--install', '--force-update', '--kube-context', '--atomic']);
  const problems: string[] = [];
  const added = new Map<string, Set<string>>();
  for (const call of callsOf('helm')) {
    const doc = call.at.split(':')[0] ?? '';
    const repos = added.get(doc) ?? new Set<string>();
    added.set(doc, repos);
    const [, verb, ...rest] = call.argv;
    for (const flag of rest.filter((w) => w.startsWith('-'))) if (!FLAGS.has(flag.split('=')[0] ?? flag)) problems.push(`${shown(call)}: helm has no ${flag} here`);
    const positional = rest.filter((w, i) => !w.startsWith('-') && !(i > 0 && /^(?:-n|--namespace|--version|--set|-f|--values|--timeout|--kube-context)$/.test(rest[i - 1] ?? '')));
    if (verb === 'repo' && positional[0] === 'add') repos.add(positional[1] ?? '');
    else if (verb === 'repo' && positional[0] === 'update') continue;
    else if (verb === 'install' || verb === 'upgrade') {
      const chart = positional[1] ?? '';
      const repo = chart.split('/')[0] ?? '';
      if (!chart.includes('/')) problems.push(`${shown(call)}: no chart`);
      else if (!repos.has(repo)) problems.push(`${shown(call)}: Error: repo ${repo} not found (no 'helm repo add ${repo} …' before it in ${doc})`);
    } else if (verb !== 'uninstall' && verb !== 'list') problems.push(`${shown(call)}: unexpected helm ${verb}`);
  }
  assert.deepEqual(problems, []);
});

test('npm, node, docker compose and kind: the scripts, files, services and images they name exist', () => {
  const scripts = (JSON.parse(read('package.json')) as { scripts: Record<string, string> }).scripts;
  const compose = parseYaml(read('docker-compose.yml')) as { services: Record<string, unknown> };
  const images = new Set([...read('k8s/gpu-media-deployment.yaml').matchAll(/image: (\S+)/g)].map((m) => m[1]?.replace(/-cuda$/, '')));
  for (const document of parseAllDocuments(read('docker-compose.yml'))) assert.ok(document.errors.length === 0);
  const problems: string[] = [];
  for (const call of CALLS) {
    const [tool, ...rest] = call.argv;
    if (tool === 'npm') {
      const name = rest[0] === 'run' ? rest[1] : rest[0];
      if (!['ci', 'install', 'audit'].includes(name ?? '') && !(name !== undefined && name in scripts)) problems.push(`${shown(call)}: no npm script ${name}`);
    } else if (tool === 'npx' && rest[0] !== 'rtc-load') {
      problems.push(`${shown(call)}: npx runs only rtc-load in these docs`);
    } else if (tool === 'node') {
      for (const word of rest.filter((w) => /^(?:test|tools|bench|scripts|dist|bin|src)\//.test(w))) {
        if (!word.startsWith('dist/') && !existsSync(join(REPO_ROOT, word))) problems.push(`${shown(call)}: ${word} does not exist`);
      }
    } else if (tool === 'docker') {
      if (rest[0] !== 'compose') continue;
      const verb = rest[1] ?? '';
      if (!['up', 'down', 'stop', 'start', 'restart', 'logs', 'ps', 'kill'].includes(verb)) problems.push(`${shown(call)}: docker compose ${verb}?`);
      for (const word of rest.slice(2).filter((w) => !w.startsWith('-'))) if (!(word in compose.services)) problems.push(`${shown(call)}: no service ${word} in docker-compose.yml`);
    } else if (tool === 'kind') {
      if (rest[0] === 'load' && !images.has(rest[2]?.replace(/-cuda$/, ''))) problems.push(`${shown(call)}: the manifests run no image ${rest[2]}`);
    }
  }
  assert.deepEqual(problems, []);
});
