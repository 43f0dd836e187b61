import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'node:test';
import { haveTool } from '../tools.ts';
import { REPO_ROOT } from './fixtures.ts';
import { kustomizeCachingKubectl } from './kustomize-cache.ts';

/** The real kubectl, with deploy.sh's renders of an unchanged overlay taken from the first (kustomize-cache.ts). */
const KUBECTL_BIN = kustomizeCachingKubectl();

function deploy(args: readonly string[]) {
  return spawnSync(join(REPO_ROOT, 'scripts/deploy.sh'), args, { cwd: REPO_ROOT, encoding: 'utf8', timeout: 60_000, env: { ...process.env, PATH: `${KUBECTL_BIN}:${process.env.PATH}` } });
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
  const real = join(KUBECTL_BIN, 'kubectl');
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
if [[ "$*" == "apply -f -" ]]; then cat >>"$FAKE_LOG"; fi
case "$*" in
  *"get service turn-udp"*) printf '%s' "\${FAKE_TURN_UDP:-}" ;;
  *"get service turn-tcp"*) printf '%s' "\${FAKE_TURN_TCP:-}" ;;
  *"get secret"*) exit 1 ;;
  *"status.podIP"*) printf '10.4.1.5' ;;
  *"get deployment gpu-media"*) printf 'us-central1-docker.pkg.dev/p/rtc/gpu-media:0.1.0-cuda' ;;
  *"get pods -l job-name="*) echo pod/rtc-load-1 ;;
  *"logs -f job/"*) echo "10.0s/2m  offered 20.0/s"; echo "\${FAKE_PLAN_JSON:-}" ;;
  *"get job/"*) printf 1 ;;
  *"get nodes -l cloud.google.com/gke-accelerator"*) printf '%s' "\${FAKE_NODE:-}" ;;
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
    const result = spawnSync(join(REPO_ROOT, 'scripts/deploy.sh'), ['--demo', '--demo-rate', '50', '--skip-helm', '--pod-cidr', '10.4.0.0/14'], {
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

  // The peak given (--demo-rate): no planner, and said so.
  assert.ok(!done.calls.some((c) => c.includes("- 'plan'")), 'no planner Job');
  assert.match(done.stdout, /Demo peak: 50 req\/s \(--demo-rate; not sized\)/);
});

test('deploy.sh --demo sizes the demo: the planner in the cluster against one pod, the peak a multiple of its knee, quota and warm GPU nodes', (t) => {
  if (!haveTool(t, 'kubectl')) return;
  const dir = mkdtempSync(join(tmpdir(), 'fake-kubectl-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const bin = fakeKubectl(dir);
  // gcloud: the region's L4 quota, 2 left.
  writeFileSync(join(bin, 'gcloud'), `#!/usr/bin/env bash\necho "gcloud $*" >>"$FAKE_LOG"\necho '{"quotas":[{"metric":"NVIDIA_L4_GPUS","limit":3,"usage":1}]}'\n`, { mode: 0o755 });
  const log = join(dir, 'calls.log');
  const deployWith = (args: string[], env: Record<string, string>) => {
    writeFileSync(log, '');
    const result = spawnSync(join(REPO_ROOT, 'scripts/deploy.sh'), ['--demo', '--skip-helm', '--pod-cidr', '10.4.0.0/14', '--turn-host', '203.0.113.10', ...args], {
      cwd: REPO_ROOT,
      encoding: 'utf8',
      timeout: 60_000,
      env: { ...process.env, PATH: `${bin}:${process.env.PATH}`, FAKE_LOG: log, FAKE_NODE: 'gce://p/us-central1-a/gke-rtc-gpu-1 nvidia-l4', ...env },
    });
    return { ...result, calls: readFileSync(log, 'utf8') };
  };

  const sized = deployWith([], { FAKE_PLAN_JSON: JSON.stringify({ podCapacityRps: 42.5, kneeIsLowerBound: false, steps: [] }) });
  assert.equal(sized.status, 0, sized.stderr);
  // The planner: a Job with gpu-media's image against the pod itself (not the Service), the demo's requests.
  assert.match(sized.calls, /- 'plan'\n\s+- 'http:\/\/10\.4\.1\.5:8080\/process\?pixels=1920x1080&iters=8'/);
  assert.match(sized.calls, /image: us-central1-docker\.pkg\.dev\/p\/rtc\/gpu-media:0\.1\.0-cuda/);
  // 3 x 42 req/s; at 80% of the knee a pod, 4 pods; kept for demo_load_gen.sh.
  assert.match(sized.stdout, /Demo peak: 126 req\/s = 3 x one pod's knee, 42 req\/s/);
  assert.match(sized.stdout, /About 4 pods at the peak/);
  assert.match(sized.calls, /peak-rate: "126"\n\s+pods-at-peak: "4"\nkind: ConfigMap\n[\s\S]*?name: rtc-demo/);
  // The demo's faster scale-down, at the drain's pace.
  assert.match(sized.calls, /patch scaledobjects\.keda\.sh gpu-media --type merge -p .*"stabilizationWindowSeconds":120.*"periodSeconds":60/);
  // Quota: 5 GPUs wanted (4 pods and a spare), 2 left: said plainly.
  assert.match(sized.calls, /gcloud compute regions describe us-central1 --project p --format=json/);
  assert.match(sized.stderr, /the peak needs 5 GPUs .* the project's quota leaves 2 more/);
  // Warm nodes: 4 placeholders with the pod's image.
  const placeholders = [...sized.calls.matchAll(/^ {2}name: (gpu-prewarm-\d+)$/gm)].map((m) => m[1]);
  assert.deepEqual(placeholders, ['gpu-prewarm-1', 'gpu-prewarm-2', 'gpu-prewarm-3', 'gpu-prewarm-4']);
  assert.match(sized.stdout, /Pre-warming 4 GPU nodes/);

  // No knee on the ramp: the ramp's top doubles, twice at most; then the knee is an "at least".
  const above = deployWith(['--demo-peak-multiple', '2', '--no-prewarm'], { FAKE_PLAN_JSON: JSON.stringify({ podCapacityRps: 190, kneeIsLowerBound: true }) });
  assert.equal(above.status, 0, above.stderr);
  assert.deepEqual([...above.calls.matchAll(/- '--max-rate'\n\s+- '(\d+)'/g)].map((m) => m[1]), ['200', '400', '800']);
  assert.match(above.stdout, /Demo peak: 380 req\/s = 2 x one pod's knee, 190 req\/s\. \(No knee up to 800 req\/s/);
  assert.match(above.stdout, /No pre-warm .* about 5-8 minutes/);
  assert.doesNotMatch(above.calls, /gpu-prewarm-1/);

  // The peak given (--demo-rate, no planner): the relay test's runs above.
  // A planner that finds nothing within the SLO: stop, say why.
  const none = deployWith([], { FAKE_PLAN_JSON: JSON.stringify({ podCapacityRps: 0, kneeIsLowerBound: false }) });
  assert.equal(none.status, 1);
  assert.match(none.stderr, /found no rate the pod serves within the SLO/);
  assert.equal(spawnSync(join(REPO_ROOT, 'scripts/deploy.sh'), ['--demo', '--demo-peak-multiple', 'lots'], { encoding: 'utf8' }).status, 2);
});
