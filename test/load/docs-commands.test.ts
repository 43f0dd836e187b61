// The commands in README.md and DEMO_SCRIPT.md name only scripts, flags, npm scripts, settings
// and files that exist: a presenter who types them in order meets no "unknown option".
import assert from 'node:assert/strict';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import test from 'node:test';
import { HELP_TEXT } from '../../tools/rtc-load/http/help.ts';
import { PLAN_HELP_TEXT } from '../../tools/rtc-load/plan/args.ts';
import { WEBRTC_HELP_TEXT } from '../../tools/rtc-load/webrtc/args.ts';
import { REPO_ROOT } from './fixtures.ts';

const DOCS = ['README.md', 'DEMO_SCRIPT.md'];
const read = (path: string): string => readFileSync(join(REPO_ROOT, path), 'utf8');

/** Shell command lines: fenced bash blocks (continuations joined, comments dropped) and inline `code` that starts with a command. */
function commandsOf(markdown: string): string[] {
  const lines: string[] = [];
  for (const block of markdown.matchAll(/```(?:bash|sh|shell)\n([\s\S]*?)```/g)) {
    const text = (block[1] ?? '').replace(/\\\n\s*/g, ' ');
    for (const line of text.split('\n')) {
      const command = line.replace(/(^|\s)#.*$/, '').trim();
      if (command !== '') lines.push(command);
    }
  }
  const prose = markdown.replace(/```[\s\S]*?```/g, '');
  for (const inline of prose.matchAll(/`([^`\n]+)`/g)) {
    const text = inline[1] ?? '';
    if (/^(?:scripts\/|npx |npm |rtc-load |kubectl |helm |docker |curl |hey )/.test(text)) lines.push(text);
  }
  return lines;
}

const ALL = DOCS.flatMap((doc) => commandsOf(read(doc)).map((command) => ({ doc, command })));

/** The --flags of a command line, up to a `--` that passes the rest on. */
function flags(words: readonly string[]): { own: string[]; passed: string[] } {
  const separator = words.indexOf('--');
  const pick = (list: readonly string[]) => list.filter((w) => /^--[a-z]/.test(w)).map((w) => w.split('=')[0] ?? w);
  return separator < 0 ? { own: pick(words), passed: [] } : { own: pick(words.slice(0, separator)), passed: pick(words.slice(separator + 1)) };
}

function words(command: string): string[] {
  return command.split(/\s+/).map((w) => w.replace(/^["']|["';|&)]+$/g, ''));
}

test('the docs have commands to check (the extraction works)', () => {
  assert.ok(ALL.length > 40, `${ALL.length} commands`);
  assert.ok(ALL.some(({ command }) => command.startsWith('scripts/deploy.sh --demo')));
  assert.ok(ALL.some(({ command }) => command.startsWith('npx rtc-load plan')));
});

test('every script named exists, and every flag given to a script is one it handles', () => {
  for (const { doc, command } of ALL) {
    for (const match of command.matchAll(/(?:^|[\s(])(?:bash |\.\/)?(scripts\/[\w.-]+\.(?:sh|ts|mjs))((?:\s+[^|;&]*)?)/g)) {
      const script = match[1] ?? '';
      assert.ok(existsSync(join(REPO_ROOT, script)), `${doc}: ${script} does not exist (${command})`);
      const source = read(script) + (script.endsWith('.sh') ? read('scripts/lib/rtc-load.sh') : '');
      const { own, passed } = flags(words(match[2] ?? ''));
      for (const flag of own) assert.ok(source.includes(flag), `${doc}: ${script} has no ${flag} (${command})`);
      for (const flag of passed) assert.ok(HELP_TEXT.includes(flag), `${doc}: rtc-load has no ${flag} (passed on by ${script})`);
    }
  }
});

test('every rtc-load flag used is in the help of its command', () => {
  for (const { doc, command } of ALL) {
    const match = /(?:npx |^)rtc-load\s+(.*)$/.exec(command);
    if (!match) continue;
    const rest = words(match[1] ?? '');
    const help = rest[0] === 'webrtc' ? WEBRTC_HELP_TEXT : rest[0] === 'plan' ? PLAN_HELP_TEXT : HELP_TEXT;
    for (const flag of flags(rest).own) assert.ok(help.includes(flag), `${doc}: rtc-load ${rest[0] === 'webrtc' || rest[0] === 'plan' ? rest[0] : ''} has no ${flag} (${command})`);
  }
});

test('every npm script run exists in package.json', () => {
  const scripts = (JSON.parse(read('package.json')) as { scripts: Record<string, string> }).scripts;
  for (const { doc, command } of ALL) {
    for (const match of command.matchAll(/npm (?:run )?([\w:-]+)/g)) {
      const name = match[1] ?? '';
      if (['ci', 'install', 'run', 'audit'].includes(name)) continue;
      assert.ok(name in scripts, `${doc}: npm script ${name} does not exist (${command})`);
    }
  }
});

test('every repository file named in a command, and every image in the docs, exists', () => {
  for (const { doc, command } of ALL) {
    for (const match of command.matchAll(/(?:^|[\s="'(@])((?:k8s|observability|docs|scripts|tools|src|public|bench|test)\/[\w./-]*[\w/])/g)) {
      const path = match[1] ?? '';
      assert.ok(existsSync(join(REPO_ROOT, path)), `${doc}: ${path} does not exist (${command})`);
    }
  }
  for (const doc of DOCS) {
    for (const match of read(doc).matchAll(/!\[[^\]]*\]\(([^)]+)\)/g)) {
      assert.ok(existsSync(join(REPO_ROOT, match[1] ?? '')), `${doc}: image ${match[1]} is missing`);
    }
  }
});

test('every setting set in a command is one the service or a script reads, or one the doc uses itself', () => {
  const config = read('src/config.ts');
  const scripts = readdirSync(join(REPO_ROOT, 'scripts')).filter((f) => f.endsWith('.sh')).map((f) => read(`scripts/${f}`)).join('\n') + read('scripts/lib/rtc-load.sh');
  for (const doc of DOCS) {
    const text = read(doc);
    for (const { command } of ALL.filter((c) => c.doc === doc)) {
      const assignments = /^(?:export\s+)?((?:[A-Z][A-Z0-9_]*=\S*\s*)+)/.exec(command)?.[1] ?? '';
      for (const match of assignments.matchAll(/([A-Z][A-Z0-9_]*)=/g)) {
        const name = match[1] ?? '';
        const known = config.includes(`'${name}'`) || new RegExp(`\\$\\{?${name}\\b`).test(scripts) || new RegExp(`\\$\\{?${name}\\b`).test(text);
        assert.ok(known, `${doc}: ${name} is read by nothing (${command})`);
      }
    }
  }
});

test('the demo script deploys with --demo, loads from inside the cluster, and never sends load through a port-forward', () => {
  const demo = read('DEMO_SCRIPT.md');
  assert.match(demo, /scripts\/deploy\.sh --demo --image "\$REGISTRY\/gpu-media" --tag 0\.1\.0/);
  assert.match(demo, /port-forward svc\/kube-prometheus-stack-prometheus 9090:9090/);
  const loads = commandsOf(demo).filter((c) => /^scripts\/(?:demo_)?load_gen\.sh/.test(c));
  assert.ok(loads.length > 0);
  // In the cluster part (before the laptop variant), every load script runs as a Job.
  const cluster = commandsOf(demo.slice(0, demo.indexOf('## Local variant'))).filter((c) => /^scripts\/(?:demo_)?load_gen\.sh/.test(c));
  for (const command of cluster) assert.match(command, /--in-cluster/, command);
  assert.doesNotMatch(demo, /\$SVC\b/, 'no unset $SVC');
  assert.doesNotMatch(demo, /TAG=v1/);
});

test("docs/load-generator.md's scenario table is demo_load_gen.sh's: every scenario, its load, frame, iterations and duration", () => {
  const script = read('scripts/demo_load_gen.sh');
  const scenarios = [...script.matchAll(/^ {2}(\w+)\) CONCURRENCY=(\S*) SECONDS_PLANNED=(\d+) PIXELS=(\S+) ITERS=(\d+) ;;$/gm)].map((m) => ({
    name: m[1] ?? '',
    concurrency: m[2] === "''" ? undefined : m[2],
    seconds: Number(m[3]),
    pixels: m[4],
    iters: m[5],
  }));
  assert.ok(scenarios.length >= 5, 'the script lists its scenarios');
  const rate = /^\s*RATE=(\d+)$/m.exec(script)?.[1];
  const rows = new Map(
    [...read('docs/load-generator.md').matchAll(/^\| (\w+) \| (.+?) \| (\d+x\d+) \| (\d+) \| (\d+)(m|s) \|$/gm)].map((m) => [m[1], { load: m[2] ?? '', pixels: m[3], iters: m[4], seconds: Number(m[5]) * (m[6] === 'm' ? 60 : 1) }]),
  );
  assert.deepEqual([...rows.keys()], scenarios.map((s) => s.name), 'the same scenarios, in the same order');
  for (const s of scenarios) {
    const row = rows.get(s.name);
    assert.ok(row);
    assert.deepEqual([row.pixels, row.iters, row.seconds], [s.pixels, s.iters, s.seconds], s.name);
    if (s.concurrency === undefined) assert.ok(row.load.includes(`\`--rate\` (${rate})`), `${s.name}: the demo's default rate ${rate}`);
    else assert.ok(row.load.includes(`c=${s.concurrency}`), `${s.name}: c=${s.concurrency}`);
  }
});
