import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
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
