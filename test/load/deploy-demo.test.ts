import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'node:test';
import { haveTool } from '../tools.ts';
import { REPO_ROOT } from './fixtures.ts';

function deploy(args: readonly string[]) {
  return spawnSync(join(REPO_ROOT, 'scripts/deploy.sh'), args, { cwd: REPO_ROOT, encoding: 'utf8', timeout: 60_000 });
}

test('deploy.sh --demo: KEDA latency autoscaling, a WebRTC path, the dashboard, the load policy, one replica, next commands', (t) => {
  if (!haveTool(t, 'kubectl')) return;
  const result = deploy(['--dry-run', '--demo', '--turn-host', 'turn.example.com', '--pod-cidr', '10.4.0.0/14']);
  assert.equal(result.status, 0, result.stderr);
  const steps = result.stdout.split('\n').filter((l) => l.startsWith('+ '));
  assert.ok(steps.some((l) => l.includes('helm upgrade --install keda kedacore/keda')));
  assert.ok(steps.some((l) => l.endsWith('k8s/hpa-keda-latency.yaml')));
  assert.ok(steps.some((l) => l.includes('gpu-media-ice.yaml')), 'the TURN media path');
  assert.ok(steps.some((l) => l.includes('dashboard-labelled.yaml')));
  assert.ok(steps.some((l) => l.endsWith('apply -k ' + join(REPO_ROOT, 'k8s/load'))));
  const scale = steps.findIndex((l) => l.includes('scale deployment/gpu-media --replicas=1'));
  assert.ok(scale > steps.findIndex((l) => l.endsWith('k8s/hpa-keda-latency.yaml')), 'one replica, after the autoscaler is in place');
  for (const next of ['port-forward svc/kube-prometheus-stack-grafana 3000:80', 'port-forward svc/kube-prometheus-stack-prometheus 9090:9090', 'scripts/demo_load_gen.sh demo --in-cluster']) {
    assert.ok(result.stdout.includes(next), `prints: ${next}`);
  }
  // An explicit choice wins over the demo's defaults.
  const hostport = deploy(['--dry-run', '--demo', '--webrtc', 'hostport', '--skip-helm']);
  assert.equal(hostport.status, 0, hostport.stderr);
  assert.ok(!hostport.stdout.includes('gpu-media-ice.yaml'));
});

test('deploy.sh --image/--tag: the images build_and_push.sh built (TAG-cuda on the GPU overlay)', (t) => {
  if (!haveTool(t, 'kubectl')) return;
  const images = (args: string[]) => {
    const result = deploy(['--render', ...args]);
    assert.equal(result.status, 0, result.stderr);
    return [...result.stdout.matchAll(/image: (\S*gpu-media\S*)/g)].map((m) => m[1]);
  };
  assert.deepEqual(images(['--overlay', 'gpu', '--image', 'gcr.io/p/gpu-media', '--tag', '0.2.0']), ['gcr.io/p/gpu-media:0.2.0-cuda']);
  assert.deepEqual(images(['--overlay', 'cpu', '--image', 'gcr.io/p/gpu-media', '--tag', '0.2.0']), ['gcr.io/p/gpu-media:0.2.0']);
  assert.equal(deploy(['--render', '--tag', 'latest']).status, 2);
});

/**
 * A kubectl that renders and builds with the real one (kustomize, --dry-run=client, --local) and,
 * for everything that would reach a cluster, logs the call and answers as FAKE_* say.
 */
function fakeKubectl(dir: string): string {
  const real = spawnSync('bash', ['-c', 'command -v kubectl'], { encoding: 'utf8' }).stdout.trim();
  const path = join(dir, 'kubectl');
  writeFileSync(
    path,
    `#!/usr/bin/env bash
case "$*" in
  kustomize*|*--dry-run=client*|*--local*) exec ${real} "$@" ;;
esac
echo "$*" >>"$FAKE_LOG"
# What is applied, for the test to read (the script's files go with it).
if [[ "$1" == apply && "$2" == -f && -f "$3" ]]; then cat "$3" >>"$FAKE_LOG"; fi
case "$*" in
  *"get service turn-udp"*) printf '%s' "\${FAKE_TURN_UDP:-}" ;;
  *"get service turn-tcp"*) printf '%s' "\${FAKE_TURN_TCP:-}" ;;
  *"get secret"*) exit 1 ;;
esac
exit 0
`,
    { mode: 0o755 },
  );
  return dir;
}

test('deploy.sh --webrtc turn: the relay\'s two addresses are waited for last, and without them everything else is still deployed', (t) => {
  if (!haveTool(t, 'kubectl')) return;
  const dir = mkdtempSync(join(tmpdir(), 'fake-kubectl-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const bin = fakeKubectl(dir);
  const log = join(dir, 'calls.log');
  const deployWith = (env: Record<string, string>) => {
    writeFileSync(log, '');
    const result = spawnSync(join(REPO_ROOT, 'scripts/deploy.sh'), ['--demo', '--skip-helm', '--pod-cidr', '10.4.0.0/14'], {
      cwd: REPO_ROOT,
      encoding: 'utf8',
      timeout: 60_000,
      env: { ...process.env, PATH: `${bin}:${process.env.PATH}`, FAKE_LOG: log, ...env },
    });
    return { ...result, calls: readFileSync(log, 'utf8').split('\n').filter(Boolean) };
  };

  // The load balancers never get an address: all the rest is applied, then a warning and exit 1.
  const late = deployWith({ TURN_WAIT_SECONDS: '0' });
  assert.equal(late.status, 1, late.stderr);
  assert.match(late.stderr, /no load balancer address for the relay after 0 s/);
  for (const step of ['hpa-keda-latency.yaml', 'dashboard-labelled.yaml', 'k8s/load', 'scale deployment/gpu-media --replicas=1', 'rollout status deployment/gpu-media']) {
    assert.ok(late.calls.some((c) => c.includes(step)), `applied without the relay: ${step}`);
  }
  assert.ok(!late.calls.some((c) => c.includes('rollout restart')), 'no restart for an ICE_SERVERS that did not change');
  assert.match(late.stdout, /Demo deployed/);

  // Both addresses: ICE_SERVERS names each for its protocol, and the pods restart to read it.
  const done = deployWith({ FAKE_TURN_UDP: '203.0.113.10', FAKE_TURN_TCP: '203.0.113.11' });
  assert.equal(done.status, 0, done.stderr);
  const restart = done.calls.findIndex((c) => c.includes('rollout restart deployment/turn deployment/gpu-media'));
  assert.ok(restart > done.calls.findIndex((c) => c.includes('hpa-keda-latency.yaml')), `the relay last: ${done.calls.join('\n')}`);
  const ice = done.calls.filter((c) => c.trim().startsWith('ICE_SERVERS: ')).map((c) => Buffer.from(c.trim().slice('ICE_SERVERS: '.length), 'base64').toString());
  assert.deepEqual(ice, ['[]', '[{"urls":["turn:203.0.113.10:3478?transport=udp","turn:203.0.113.11:3478?transport=tcp"]}]'], 'first without URLs (coturn starts), then both addresses');
});
