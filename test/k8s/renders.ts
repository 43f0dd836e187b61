/**
 * `scripts/deploy.sh --render --overlay O --webrtc W`, as the k8s tests read it. Its output depends
 * on k8s/, observability/, the script, the scripts/lib/ it sources and the kubectl it runs, nothing else (no environment, no
 * cluster), so it is kept in the temporary folder under a hash of all of those: the test files that
 * read the six builds (run at the same time by the suite) render each once, not once per file, and
 * a changed manifest, script or kubectl renders afresh. A build is ~0.6 CPU-seconds of kubectl.
 */
import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { which } from '../tools.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const INPUTS = ['k8s', 'observability', 'scripts/deploy.sh', 'scripts/lib'];

function hashTree(hash: ReturnType<typeof createHash>, relative: string): void {
  const full = path.join(ROOT, relative);
  if (fs.statSync(full).isDirectory()) {
    for (const name of fs.readdirSync(full).sort()) hashTree(hash, path.join(relative, name));
    return;
  }
  hash.update(`${relative}\0`);
  hash.update(fs.readFileSync(full));
}

let cacheDir: string | undefined;
function dir(): string {
  if (cacheDir) return cacheDir;
  const hash = createHash('sha256');
  for (const input of INPUTS) hashTree(hash, input);
  const kubectl = which('kubectl');
  const stat = kubectl ? fs.statSync(fs.realpathSync(kubectl)) : undefined;
  hash.update(`kubectl ${kubectl} ${stat?.size} ${stat?.mtimeMs}`);
  const parent = path.join(os.tmpdir(), 'rtc-scale-renders');
  cacheDir = path.join(parent, hash.digest('hex').slice(0, 32));
  // Bounded: renders of inputs that changed over an hour ago go (a run beside this one may still
  // read its own, younger ones).
  for (const old of fs.existsSync(parent) ? fs.readdirSync(parent) : []) {
    const oldDir = path.join(parent, old);
    if (oldDir !== cacheDir && Date.now() - fs.statSync(oldDir).mtimeMs > 3_600_000) fs.rmSync(oldDir, { recursive: true, force: true });
  }
  return cacheDir;
}

/** The manifests deploy.sh renders for `overlay` and `webrtc` (throws as execFileSync does when it fails). */
export function renderedBuild(overlay: string, webrtc: string): string {
  const file = path.join(dir(), `${overlay}-${webrtc}.yaml`);
  const kept = (): string | undefined => {
    try {
      return fs.readFileSync(file, 'utf8');
    } catch {
      return undefined; // not rendered yet with these inputs
    }
  };
  // Files beside this one (the suite runs several at once) may render the same build: each writes
  // whole and renames, so the last one wins and every reader sees one whole render.
  return kept() ?? render(overlay, webrtc, file);
}

function render(overlay: string, webrtc: string, file: string): string {
  const text = execFileSync('bash', ['scripts/deploy.sh', '--render', '--overlay', overlay, '--webrtc', webrtc], { cwd: ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  // Written whole, then renamed: a file running beside this one reads all of it or nothing. A
  // render that cannot be kept is still this file's answer.
  try {
    fs.mkdirSync(path.dirname(file), { recursive: true });
    const partial = `${file}.${process.pid}`;
    fs.writeFileSync(partial, text);
    fs.renameSync(partial, file);
  } catch {
    // the temporary folder is full or read-only: render again next time
  }
  return text;
}
