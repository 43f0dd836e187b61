/**
 * The deployment scripts: clean under shellcheck, strict mode, --help, argument errors, and the
 * commands they would run (--dry-run), without docker, gcloud, helm or a cluster.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { haveTool } from '../tools.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const MINE = ['scripts/build_and_push.sh', 'scripts/gke_create_gpu_pool.sh', 'scripts/deploy.sh'];


function run(script: string, args: string[], env: Record<string, string> = {}) {
  const r = spawnSync('bash', [script, ...args], {
    cwd: ROOT,
    encoding: 'utf8',
    timeout: 30_000,
    env: { ...process.env, ...env },
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

test('every script in scripts/ and scripts/lib/ is clean under shellcheck', (t) => {
  if (!haveTool(t, 'shellcheck')) return;
  const scripts = ['scripts', 'scripts/lib'].flatMap((dir) =>
    fs
      .readdirSync(path.join(ROOT, dir))
      .filter((f) => f.endsWith('.sh'))
      .map((f) => `${dir}/${f}`),
  );
  for (const s of MINE) assert.ok(scripts.includes(s), `${s} is missing`);
  const r = spawnSync('shellcheck', ['--shell=bash', '--severity=style', '--external-sources', ...scripts], { cwd: ROOT, encoding: 'utf8' });
  assert.equal(r.status, 0, `shellcheck:\n${r.stdout}${r.stderr}`);
});

test('the scripts run in strict mode, answer --help and reject unknown options', () => {
  for (const s of MINE) {
    const text = fs.readFileSync(path.join(ROOT, s), 'utf8');
    assert.ok(text.startsWith('#!/usr/bin/env bash\n'), `${s}: shebang`);
    assert.match(text, /^set -euo pipefail$/m, `${s}: set -euo pipefail`);
    const help = run(s, ['--help']);
    assert.equal(help.status, 0, `${s} --help: ${help.stderr}`);
    assert.match(help.stdout, /^Usage: scripts\//m, `${s} --help prints usage`);
    const bad = run(s, ['--no-such-option']);
    assert.equal(bad.status, 2, `${s}: unknown option exits 2`);
    assert.match(bad.stderr, /unknown option/);
  }
});

test('build_and_push.sh builds REGISTRY/IMAGE:TAG (CPU) and :TAG-cuda (GPU), and refuses latest', () => {
  const env = { REGISTRY: 'gcr.io/example-project', IMAGE: 'gpu-media', TAG: 'v1' };
  const r = run('scripts/build_and_push.sh', ['--dry-run'], env);
  assert.equal(r.status, 0, r.stderr);
  const lines = r.stdout.split('\n').filter((l) => l.startsWith('+ docker buildx build'));
  assert.equal(lines.length, 2);
  assert.match(lines[0] ?? '', /--file \S+\/Dockerfile --tag gcr\.io\/example-project\/gpu-media:v1 --platform linux\/amd64\\,linux\/arm64 .* --push /);
  assert.match(lines[1] ?? '', /--file \S+\/Dockerfile\.gpu --tag gcr\.io\/example-project\/gpu-media:v1-cuda --platform linux\/amd64 .* --push /);
  // Defaults: the manifests' image and the package version.
  const version = (JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;
  const d = run('scripts/build_and_push.sh', ['--dry-run', '--cpu-only'], { REGISTRY: '', IMAGE: '', TAG: '' });
  assert.match(d.stdout, new RegExp(`--tag ghcr\\.io/rtc-scale/gpu-media:${version.replaceAll('.', '\\.')} `));
  assert.doesNotMatch(d.stdout, /Dockerfile\.gpu/);
  const latest = run('scripts/build_and_push.sh', ['--dry-run'], { ...env, TAG: 'latest' });
  assert.equal(latest.status, 2);
  assert.match(latest.stderr, /latest/);
});

test('gke_create_gpu_pool.sh creates an autoscaling GPU pool with GKE driver installation', () => {
  const r = run('scripts/gke_create_gpu_pool.sh', ['--dry-run'], { PROJECT_ID: 'example-project', MAX_NODES: '3' });
  assert.equal(r.status, 0, r.stderr);
  const create = r.stdout.split('\n').find((l) => l.startsWith('+ gcloud container node-pools create'));
  assert.ok(create, r.stdout);
  for (const expected of [
    '--accelerator type=nvidia-l4\\,count=1\\,gpu-driver-version=latest',
    '--enable-autoscaling',
    '--min-nodes 0',
    '--max-nodes 3',
    '--cluster rtc-scale',
    '--project example-project',
  ])
    assert.ok(create.includes(expected), `missing ${expected} in: ${create}`);
  assert.ok(r.stdout.includes('+ gcloud container clusters get-credentials'));
  const bad = run('scripts/gke_create_gpu_pool.sh', ['--dry-run'], { PROJECT_ID: 'p', MIN_NODES: '5', MAX_NODES: '2' });
  assert.equal(bad.status, 2);
  const driver = run('scripts/gke_create_gpu_pool.sh', ['--dry-run'], { PROJECT_ID: 'p', GPU_DRIVER_VERSION: '535' });
  assert.equal(driver.status, 2);
});

test('deploy.sh installs the charts, applies the chosen overlay and exactly one autoscaler', (t) => {
  if (!haveTool(t, 'kubectl')) return;
  const steps = (args: string[]) => {
    const r = run('scripts/deploy.sh', ['--dry-run', ...args]);
    assert.equal(r.status, 0, r.stderr);
    return r.stdout.split('\n').filter((l) => l.startsWith('+ '));
  };
  const keda = steps(['--overlay', 'gpu', '--autoscaler', 'keda']);
  assert.ok(keda.some((l) => l.includes('helm upgrade --install kube-prometheus-stack')));
  assert.ok(keda.some((l) => l.includes('helm upgrade --install keda kedacore/keda')));
  assert.ok(!keda.some((l) => l.includes('prometheus-adapter')));
  assert.ok(keda.some((l) => l.endsWith('k8s/hpa-keda-latency.yaml')));
  assert.ok(keda.some((l) => l.includes('delete horizontalpodautoscaler gpu-media-cpu')));
  const applyManifests = keda.findIndex((l) => /kubectl apply -f \S+manifests\.yaml$/.test(l));
  const installKeda = keda.findIndex((l) => l.includes('kedacore/keda'));
  assert.ok(applyManifests > installKeda, 'CRDs are installed before the manifests that use them');
  const fleetSecret = keda.findIndex((l) => /kubectl apply -f \S+gpu-media-fleet\.yaml$/.test(l));
  assert.ok(fleetSecret > applyManifests, 'the fleet secret is created once the namespace exists');

  const adapter = steps(['--overlay', 'cpu', '--autoscaler', 'adapter', '--skip-helm']);
  assert.ok(!adapter.some((l) => l.includes('helm ')), '--skip-helm');
  assert.ok(adapter.some((l) => l.endsWith('k8s/hpa-latency-custom.yaml')));
  assert.ok(adapter.some((l) => l.includes('delete scaledobjects.keda.sh gpu-media')));

  const turn = steps(['--webrtc', 'turn', '--turn-host', 'turn.example.com', '--pod-cidr', '10.4.0.0/14', '--skip-helm']);
  assert.ok(turn.some((l) => /kubectl apply -f \S+gpu-media-ice\.yaml$/.test(l)), 'creates the ICE servers Secret');
  assert.ok(turn.some((l) => l.includes('rollout restart deployment/turn deployment/gpu-media')));

  // The relay may only reach the media pods: without their range nothing is applied.
  const noRange = run('scripts/deploy.sh', ['--dry-run', '--webrtc', 'turn', '--turn-host', 'turn.example.com', '--skip-helm']);
  assert.equal(noRange.status, 2);
  assert.match(noRange.stderr, /--webrtc turn needs --pod-cidr/);
  assert.ok(!noRange.stdout.includes('+ kubectl apply'), 'refused before anything is applied');
  assert.equal(run('scripts/deploy.sh', ['--dry-run', '--webrtc', 'turn', '--pod-cidr', '10.4.0.0/2']).status, 2);

  // --trust-proxy replaces the manifests' empty TRUST_PROXY; without it the script says what that means.
  const trusted = run('scripts/deploy.sh', ['--render', '--overlay', 'cpu', '--trust-proxy', '10.8.0.0/14,fd00:10::/64']);
  assert.match(trusted.stdout, /- name: TRUST_PROXY\n\s+value: "10\.8\.0\.0\/14,fd00:10::\/64"/);
  assert.match(run('scripts/deploy.sh', ['--dry-run', '--skip-helm']).stderr, /TRUST_PROXY is empty/);
  assert.equal(run('scripts/deploy.sh', ['--dry-run', '--trust-proxy', 'everyone']).status, 2);

  const bad = run('scripts/deploy.sh', ['--dry-run', '--overlay', 'tpu']);
  assert.equal(bad.status, 2);
});

test('deploy.sh --pod-deletion-cost refuses clusters older than Kubernetes 1.30, and adds the component on newer ones', (t) => {
  if (!haveTool(t, 'kubectl')) return;
  // A kubectl that answers the server version and passes everything else to the real one.
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fake-kubectl-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const real = spawnSync('bash', ['-c', 'command -v kubectl'], { encoding: 'utf8' }).stdout.trim();
  fs.writeFileSync(
    path.join(dir, 'kubectl'),
    `#!/usr/bin/env bash\nif [[ "$*" == "get --raw /version" ]]; then echo "{\\"major\\": \\"1\\", \\"minor\\": \\"$FAKE_MINOR\\"}"; exit 0; fi\nexec ${real} "$@"\n`,
    { mode: 0o755 },
  );
  const withMinor = (minor: string) => run('scripts/deploy.sh', ['--dry-run', '--skip-helm', '--pod-deletion-cost'], { PATH: `${dir}:${process.env.PATH}`, FAKE_MINOR: minor });
  const old = withMinor('29+');
  assert.equal(old.status, 1);
  assert.match(old.stderr, /needs Kubernetes 1\.30 or newer.*this cluster is 1\.29/);
  assert.ok(!old.stdout.includes('+ kubectl apply'), 'nothing applied');
  const current = withMinor('31');
  assert.equal(current.status, 0, current.stderr);
  const rendered = run('scripts/deploy.sh', ['--render', '--pod-deletion-cost']);
  assert.match(rendered.stdout, /kind: ValidatingAdmissionPolicy\n/);
});

test('gke_create_gpu_pool.sh checks the GPU quota before it creates anything, and says what to request', () => {
  // A gcloud that answers the quota queries (limit and usage) and logs every other call.
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fake-gcloud-'));
  try {
    const log = path.join(dir, 'calls.log');
    fs.writeFileSync(
      path.join(dir, 'gcloud'),
      `#!/usr/bin/env bash
echo "$*" >>"${log}"
case "$*" in
  "compute regions describe"*) echo '{"quotas":[{"metric":"NVIDIA_L4_GPUS","limit":4,"usage":1},{"metric":"CPUS","limit":24,"usage":0}]}' ;;
  "compute project-info describe"*) echo '{"quotas":[{"metric":"GPUS_ALL_REGIONS","limit":'"$FAKE_GLOBAL"',"usage":1}]}' ;;
esac
exit 0
`,
      { mode: 0o755 },
    );
    const pool = (env: Record<string, string>) => {
      fs.writeFileSync(log, '');
      const r = run('scripts/gke_create_gpu_pool.sh', [], { PATH: `${dir}:${process.env.PATH}`, PROJECT_ID: 'p', LOCATION: 'us-central1', ...env });
      return { ...r, calls: fs.readFileSync(log, 'utf8') };
    };
    // 2 nodes in each of a region's 3 zones: 6 L4s, 3 left.
    const short = pool({ MAX_NODES: '2', FAKE_GLOBAL: '8' });
    assert.equal(short.status, 1, short.stderr);
    assert.match(short.stderr, /may grow to 6 GPUs .*NVIDIA_L4_GPUS in us-central1: 3 left/);
    assert.match(short.stderr, /IAM & Admin > Quotas/);
    assert.doesNotMatch(short.calls, /node-pools create/, 'nothing created');
    // One zone, 3 nodes: fits the region, but not the project's GPUS_ALL_REGIONS.
    const global = pool({ MAX_NODES: '3', NODE_LOCATIONS: 'us-central1-a', FAKE_GLOBAL: '2' });
    assert.equal(global.status, 1);
    assert.match(global.stderr, /GPUS_ALL_REGIONS: 1 left/);
    const fits = pool({ MAX_NODES: '1', FAKE_GLOBAL: '8' });
    assert.equal(fits.status, 0, fits.stderr);
    assert.match(fits.stdout, /GPU quota: 3 NVIDIA_L4_GPUS left in us-central1, 7 GPUS_ALL_REGIONS; the pool needs at most 3/);
    assert.match(fits.calls, /container node-pools create gpu-pool/);
    assert.equal(pool({ MAX_NODES: '2', FAKE_GLOBAL: '8', SPOT: 'true' }).status, 0, 'Spot VMs have their own quota (not listed here: not checked)');
    assert.equal(run('scripts/gke_create_gpu_pool.sh', ['--skip-quota-check', '--dry-run'], { PROJECT_ID: 'p' }).stdout.includes('quota check'), false);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
