/**
 * No import cycles in src/ nor tools/, counting type-only imports: a module's types live in a leaf
 * module that its consumers import, never in an implementation that imports them back. Folders too:
 * the top-level folders of src/ and of each tool (src/engine, tools/rtc-load/http, ...; a file
 * directly in src/ is a unit of its own) import each other in one direction only, so a leaf module
 * in the wrong folder shows up here even when no file cycle goes through it.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const REPO = fileURLToPath(new URL('../../', import.meta.url));
/** Where folder units start: src/ and each tool's own folder under tools/. */
const ROOTS = ['src', ...readdirSync(path.join(REPO, 'tools'), { withFileTypes: true }).filter((e) => e.isDirectory()).map((e) => `tools/${e.name}`)];

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const full = path.join(dir, e.name);
    if (e.isDirectory()) return sources(full);
    return /\.(ts|mts)$/.test(e.name) && !e.name.endsWith('.d.ts') ? [full] : [];
  });
}

/** Relative specifiers of `import … from`, `export … from`, `import '…'` and `import('…')`, type-only ones included. */
export function importsOf(text: string): string[] {
  const found: string[] = [];
  const patterns = [/\bfrom\s+['"](\.[^'"]+)['"]/g, /\bimport\s+['"](\.[^'"]+)['"]/g, /\bimport\(\s*['"](\.[^'"]+)['"]\s*\)/g];
  for (const re of patterns) for (const m of text.matchAll(re)) found.push(m[1]!);
  return found;
}

/** Strongly connected components with more than one module, or a module importing itself (Tarjan). */
export function cycles(graph: ReadonlyMap<string, readonly string[]>): string[][] {
  let next = 0;
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const out: string[][] = [];
  const visit = (v: string): void => {
    index.set(v, next);
    low.set(v, next++);
    stack.push(v);
    onStack.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v)!, index.get(w)!));
    }
    if (low.get(v) === index.get(v)) {
      const component: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        onStack.delete(w);
        component.push(w);
      } while (w !== v);
      if (component.length > 1 || (graph.get(v) ?? []).includes(v)) out.push(component.sort());
    }
  };
  for (const v of graph.keys()) if (!index.has(v)) visit(v);
  return out;
}

/** The folder unit of a repository path: the first folder below its root, or the file itself when it sits in the root. */
export function folderOf(file: string, roots: readonly string[]): string {
  const root = roots.find((r) => file.startsWith(`${r}/`));
  if (root === undefined) return file;
  const below = file.slice(root.length + 1).split('/');
  return below.length > 1 ? `${root}/${below[0]}` : file;
}

/** Every module of src/ and tools/ and the modules of src/ and tools/ it imports, by repository path. */
function fileGraph(): Map<string, string[]> {
  const graph = new Map<string, string[]>();
  for (const top of ['src', 'tools']) {
    for (const file of sources(path.join(REPO, top))) {
      const deps = importsOf(readFileSync(file, 'utf8'))
        .map((spec) => path.relative(REPO, path.resolve(path.dirname(file), spec)).split(path.sep).join('/'))
        .filter((target) => target.startsWith('src/') || target.startsWith('tools/'));
      graph.set(path.relative(REPO, file).split(path.sep).join('/'), deps);
    }
  }
  return graph;
}

/** The file graph folded onto folder units; each edge between two units keeps one import that makes it. */
function folderGraph(files: ReadonlyMap<string, readonly string[]>): { graph: Map<string, string[]>; why: Map<string, string> } {
  const edges = new Map<string, Set<string>>();
  const why = new Map<string, string>();
  for (const [file, deps] of files) {
    const from = folderOf(file, ROOTS);
    const out = edges.get(from) ?? new Set<string>();
    edges.set(from, out);
    for (const dep of deps) {
      const to = folderOf(dep, ROOTS);
      if (to === from) continue;
      out.add(to);
      if (!why.has(`${from} ${to}`)) why.set(`${from} ${to}`, `${file} imports ${dep}`);
    }
  }
  return { graph: new Map([...edges].map(([k, v]) => [k, [...v]])), why };
}

test('the cycle finder finds a cycle through type-only imports', () => {
  const a = "import type { B } from './b.ts';\nexport type A = B;";
  assert.deepEqual(importsOf(a), ['./b.ts']);
  assert.deepEqual(importsOf("export { x } from './x.ts'; type T = import('./t.ts').T;"), ['./x.ts', './t.ts']);
  const graph = new Map([
    ['a', ['b']],
    ['b', ['c']],
    ['c', ['a']],
    ['d', ['a']],
  ]);
  assert.deepEqual(cycles(graph), [['a', 'b', 'c']]);
  assert.deepEqual(cycles(new Map([['a', ['b']], ['b', []]])), []);
});

test('folder units: the first folder below a root, or a file of the root itself', () => {
  const roots = ['src', 'tools/rtc-load'];
  assert.equal(folderOf('src/engine/pool.ts', roots), 'src/engine');
  assert.equal(folderOf('src/http/routes/whip.ts', roots), 'src/http');
  assert.equal(folderOf('src/config.ts', roots), 'src/config.ts');
  assert.equal(folderOf('tools/rtc-load/plan/args.ts', roots), 'tools/rtc-load/plan');
  assert.equal(folderOf('tools/rtc-load/cli.ts', roots), 'tools/rtc-load/cli.ts');
});

test('src/ and tools/ have no file import cycles, type-only imports included', () => {
  const graph = fileGraph();
  assert.ok([...graph.keys()].filter((f) => f.startsWith('src/')).length > 30, 'found too few modules under src/');
  assert.ok([...graph.keys()].filter((f) => f.startsWith('tools/')).length > 30, 'found too few modules under tools/');
  const found = cycles(graph).map((c) => c.join(' -> '));
  assert.deepEqual(found, [], `import cycles:\n${found.join('\n')}`);
});

test('the folders of src/ and tools/ import each other in one direction only', () => {
  const { graph, why } = folderGraph(fileGraph());
  const found = cycles(graph).map((c) => {
    const edges = c.flatMap((from) => c.map((to) => why.get(`${from} ${to}`)).filter((w) => w !== undefined));
    return `${c.join(' <-> ')}\n    ${edges.join('\n    ')}`;
  });
  assert.deepEqual(found, [], `folder cycles:\n${found.join('\n')}`);
});
