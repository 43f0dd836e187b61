/**
 * A kubectl for the tests that run deploy.sh many times: `kubectl kustomize DIR` answered from a
 * cache keyed by all that kustomize reads there (DIR's place in its tree and the content of every
 * file under that tree's k8s/ and observability/, the only trees the kustomizations reach), every
 * other command run by the real kubectl. deploy.sh renders the same overlays again in a fresh copy
 * on each run; kustomize is deterministic, so the first render of an input is the real one and a
 * later one its output again, instead of about 0.4 CPU-s of kubectl each.
 */
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after } from 'node:test';
import { which } from '../tools.ts';

/** A directory holding that kubectl, for the front of PATH; removed after the file's tests. Call it at a file's top level. */
export function kustomizeCachingKubectl(): string {
  const dir = mkdtempSync(join(tmpdir(), 'kustomize-cache-'));
  after(() => rmSync(dir, { recursive: true, force: true }));
  const bin = join(dir, 'bin');
  const cache = join(dir, 'cache');
  mkdirSync(bin);
  mkdirSync(cache);
  // Without a kubectl (the tests that need one fail or skip) this one fails too, rather than call itself.
  const real = which('kubectl') ?? '/nonexistent/kubectl';
  writeFileSync(
    join(bin, 'kubectl'),
    `#!/usr/bin/env bash
real=${JSON.stringify(real)}
cache=${JSON.stringify(cache)}
if [[ $# -eq 2 && "$1" == kustomize && -d "$2" ]]; then
  target="$(cd "$2" && pwd -P)"
  top="$target"
  while [[ -n "$top" && "\${top##*/}" != k8s ]]; do top="\${top%/*}"; done
  if [[ -n "$top" ]]; then
    root="\${top%/*}"
    key="$(cd "$root/" && { printf '%s\\n' "\${target#"$root"/}"; find -L k8s observability -type f -print0 2>/dev/null | LC_ALL=C sort -z | xargs -0 sha256sum; } | sha256sum)"
    key="\${key%% *}"
    if [[ ! -f "$cache/$key" ]]; then
      "$real" kustomize "$2" >"$cache/$key.$$" || { status=$?; rm -f "$cache/$key.$$"; exit "$status"; }
      mv "$cache/$key.$$" "$cache/$key"
    fi
    exec cat "$cache/$key"
  fi
fi
exec "$real" "$@"
`,
  );
  chmodSync(join(bin, 'kubectl'), 0o755);
  return bin;
}
