/**
 * Policy for every workload (Deployment, DaemonSet) in every build and manifest file: the
 * restricted Pod Security profile, pinned images, requests and limits, differing probes, a
 * read-only root filesystem with emptyDir scratch, no service account token, plus the basics that
 * kube-score and kube-linter check (neither is installed; the rules are encoded here).
 *
 * Deviations are listed in EXCEPTIONS with their reason; an exception nothing uses fails too.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import YAML from 'yaml';
import type { IContainer } from 'kubernetes-models/v1/Container';
import type { INamespace } from 'kubernetes-models/v1/Namespace';
import type { IPodSpec } from 'kubernetes-models/v1/PodSpec';
import type { IProbe } from 'kubernetes-models/v1/Probe';
import type { IDeployment } from 'kubernetes-models/apps/v1/Deployment';
import type { INetworkPolicy } from 'kubernetes-models/networking.k8s.io/v1/NetworkPolicy';
import type { IPodDisruptionBudget } from 'kubernetes-models/policy/v1/PodDisruptionBudget';
import { haveTool } from '../tools.ts';
import { renderedBuild } from './renders.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string> };
  [field: string]: unknown;
}


function parseObjects(text: string): K8sObject[] {
  return YAML.parseAllDocuments(text)
    .map((d) => d.toJS() as unknown)
    .filter((v): v is K8sObject => typeof v === 'object' && v !== null && 'kind' in v && 'metadata' in v);
}

interface Build {
  readonly name: string;
  readonly objects: K8sObject[];
}

const OVERLAYS = ['gpu', 'cpu'] as const;
const WEBRTC = ['none', 'turn', 'hostport'] as const;

let buildsCache: Build[] | undefined;
function builds(): Build[] {
  if (buildsCache) return buildsCache;
  buildsCache = OVERLAYS.flatMap((overlay) =>
    WEBRTC.map((webrtc) => ({
      name: `overlay ${overlay}, webrtc ${webrtc}`,
      objects: parseObjects(renderedBuild(overlay, webrtc)),
    })),
  );
  return buildsCache;
}

function build(name: string): Build {
  const b = builds().find((x) => x.name === name);
  assert.ok(b, name);
  return b;
}

/** Workload manifests outside the builds (kustomize components are in the builds). */
function fileWorkloads(): Build {
  const files = ['observability/dcgm-exporter.yaml', 'observability/dcgm-exporter-gke.yaml', 'k8s/gpu-media-deployment.yaml', 'k8s/load/gpu-prewarm.yaml'];
  return { name: 'manifest files', objects: files.flatMap((f) => parseObjects(fs.readFileSync(path.join(ROOT, f), 'utf8'))) };
}

const WORKLOAD_KINDS = new Set(['Deployment', 'DaemonSet', 'StatefulSet', 'Pod']);

interface Workload {
  readonly build: string;
  readonly id: string;
  readonly object: K8sObject;
  readonly pod: IPodSpec;
  readonly podLabels: Record<string, string>;
}

function workloads(b: Build): Workload[] {
  return b.objects
    .filter((o) => WORKLOAD_KINDS.has(o.kind))
    .map((o) => {
      // A bare Pod (the demo's GPU placeholders) is its own template.
      if (o.kind === 'Pod') {
        const pod = o as unknown as { spec?: IPodSpec; metadata: { labels?: Record<string, string> } };
        assert.ok(pod.spec, `${b.name}: Pod/${o.metadata.name} has no spec`);
        return { build: b.name, id: `Pod/${o.metadata.namespace}/${o.metadata.name}`, object: o, pod: pod.spec, podLabels: pod.metadata.labels ?? {} };
      }
      const spec = (o as unknown as IDeployment).spec;
      assert.ok(spec?.template.spec, `${b.name}: ${o.kind}/${o.metadata.name} has no pod spec`);
      return {
        build: b.name,
        id: `${o.kind}/${o.metadata.namespace}/${o.metadata.name}`,
        object: o,
        pod: spec.template.spec,
        podLabels: spec.template.metadata?.labels ?? {},
      };
    });
}

// ---------------------------------------------------------------------------------------------
// The checks. Each returns the violations it finds as `check: message`.

type Violation = { readonly check: string; readonly message: string };

const RESTRICTED_VOLUME_TYPES = new Set(['configMap', 'csi', 'downwardAPI', 'emptyDir', 'ephemeral', 'persistentVolumeClaim', 'projected', 'secret']);
const SAFE_SYSCTLS = new Set([
  'kernel.shm_rmid_forced',
  'net.ipv4.ip_local_port_range',
  'net.ipv4.ip_unprivileged_port_start',
  'net.ipv4.tcp_syncookies',
  'net.ipv4.ping_group_range',
  'net.ipv4.ip_local_reserved_ports',
  'net.ipv4.tcp_keepalive_time',
  'net.ipv4.tcp_fin_timeout',
  'net.ipv4.tcp_keepalive_intvl',
  'net.ipv4.tcp_keepalive_probes',
]);

function allContainers(pod: IPodSpec): IContainer[] {
  return [...(pod.initContainers ?? []), ...pod.containers];
}

/** Pod Security Standards, restricted profile (v1.30+), field by field. */
function restricted(w: Workload): Violation[] {
  const out: Violation[] = [];
  const v = (check: string, message: string) => out.push({ check, message });
  const pod = w.pod;
  const psc = pod.securityContext ?? {};
  if (pod.hostNetwork || pod.hostPID || pod.hostIPC) v('hostNamespaces', 'hostNetwork/hostPID/hostIPC');
  for (const vol of pod.volumes ?? []) {
    const type = Object.keys(vol).find((k) => k !== 'name') ?? '?';
    if (type === 'hostPath') v('hostPath', `volume ${vol.name} is a hostPath`);
    else if (!RESTRICTED_VOLUME_TYPES.has(type)) v('volumeTypes', `volume ${vol.name} of type ${type}`);
  }
  for (const s of psc.sysctls ?? []) if (!SAFE_SYSCTLS.has(s.name)) v('sysctls', `unsafe sysctl ${s.name}`);
  const seLinuxTypes = new Set(['', 'container_t', 'container_init_t', 'container_kvm_t', 'container_engine_t']);
  if (psc.seLinuxOptions?.user || psc.seLinuxOptions?.role || !seLinuxTypes.has(psc.seLinuxOptions?.type ?? ''))
    v('seLinux', 'pod seLinuxOptions beyond the allowed types');
  if (psc.appArmorProfile?.type === 'Unconfined') v('appArmor', 'pod AppArmor unconfined');
  if (psc.runAsUser === 0) v('runAsNonRoot', 'pod runAsUser 0');
  for (const c of allContainers(pod)) {
    const sc = c.securityContext ?? {};
    const name = `container ${c.name}`;
    if (sc.privileged) v('privileged', `${name} is privileged`);
    if (sc.allowPrivilegeEscalation !== false) v('allowPrivilegeEscalation', `${name}: allowPrivilegeEscalation must be false`);
    if (!(sc.capabilities?.drop ?? []).includes('ALL')) v('capabilities', `${name}: capabilities must drop ALL`);
    for (const cap of sc.capabilities?.add ?? []) if (cap !== 'NET_BIND_SERVICE') v('capabilities', `${name} adds ${cap}`);
    if ((sc.runAsNonRoot ?? psc.runAsNonRoot) !== true) v('runAsNonRoot', `${name}: runAsNonRoot must be true`);
    if ((sc.runAsUser ?? psc.runAsUser) === 0) v('runAsNonRoot', `${name} runs as uid 0`);
    const seccomp = sc.seccompProfile?.type ?? psc.seccompProfile?.type;
    if (seccomp !== 'RuntimeDefault' && seccomp !== 'Localhost') v('seccomp', `${name}: seccompProfile RuntimeDefault or Localhost`);
    if (sc.procMount && sc.procMount !== 'Default') v('procMount', `${name}: procMount ${sc.procMount}`);
    if (sc.appArmorProfile?.type === 'Unconfined') v('appArmor', `${name}: AppArmor unconfined`);
    if (sc.seLinuxOptions?.user || sc.seLinuxOptions?.role || !seLinuxTypes.has(sc.seLinuxOptions?.type ?? ''))
      v('seLinux', `${name}: seLinuxOptions beyond the allowed types`);
    for (const p of c.ports ?? []) if (p.hostPort) v('hostPort', `${name} uses hostPort ${p.hostPort}`);
  }
  return out;
}

function probeKey(p: IProbe | undefined): string {
  return JSON.stringify(p ?? null);
}

/** The project's own hardening, and kube-score / kube-linter basics. */
function hardening(w: Workload, b: Build): Violation[] {
  const out: Violation[] = [];
  const v = (check: string, message: string) => out.push({ check, message });
  const pod = w.pod;
  const psc = pod.securityContext ?? {};
  if (pod.automountServiceAccountToken !== false) v('serviceAccountToken', 'automountServiceAccountToken must be false');
  if (!pod.serviceAccountName || pod.serviceAccountName === 'default') v('serviceAccount', 'a dedicated serviceAccountName');
  const sa = b.objects.find((o) => o.kind === 'ServiceAccount' && o.metadata.name === pod.serviceAccountName && o.metadata.namespace === w.object.metadata.namespace);
  if (b.name !== 'manifest files' && !sa) v('serviceAccount', `ServiceAccount ${pod.serviceAccountName} is not in the build`);
  const scratch = new Set((pod.volumes ?? []).filter((vol) => vol.emptyDir).map((vol) => vol.name));
  for (const c of allContainers(pod)) {
    const name = `container ${c.name}`;
    const image = c.image ?? '';
    const last = image.split('/').pop() ?? '';
    const tag = last.includes(':') ? last.split(':')[1] : undefined;
    if (!image.includes('@sha256:') && (!tag || tag === 'latest')) v('imagePinned', `${name}: image ${image} is not pinned`);
    if (c.imagePullPolicy === 'Always' && tag && tag !== 'latest') v('imagePullPolicy', `${name}: pinned images need not be pulled every time`);
    for (const kind of ['requests', 'limits'] as const) {
      for (const r of ['cpu', 'memory', 'ephemeral-storage']) if (c.resources?.[kind]?.[r] === undefined) v('resources', `${name}: ${kind}.${r} unset`);
    }
    for (const [r, lim] of Object.entries(c.resources?.limits ?? {})) {
      const req = c.resources?.requests?.[r];
      if (req !== undefined && quantity(req) > quantity(lim)) v('resources', `${name}: ${r} request above its limit`);
    }
    const sc = c.securityContext ?? {};
    if (sc.readOnlyRootFilesystem !== true) v('readOnlyRootFilesystem', `${name}: readOnlyRootFilesystem must be true`);
    if (!(c.volumeMounts ?? []).some((m) => scratch.has(m.name) && !m.readOnly)) v('scratch', `${name}: no writable emptyDir for scratch`);
    const uid = sc.runAsUser ?? psc.runAsUser;
    const gid = sc.runAsGroup ?? psc.runAsGroup;
    if (uid === undefined || uid <= 10000 || gid === undefined || gid <= 10000) v('highUid', `${name}: runAsUser and runAsGroup above 10000 (kube-score)`);
    // Init containers run to completion; probes are for the long-running ones.
    if ((pod.initContainers ?? []).includes(c)) continue;
    if (!c.readinessProbe || !c.livenessProbe) v('probes', `${name}: readiness and liveness probes`);
    else if (probeKey(c.readinessProbe) === probeKey(c.livenessProbe)) v('probes', `${name}: readiness and liveness probes must differ`);
    const portNames = new Set((c.ports ?? []).map((p) => p.name).filter(Boolean));
    for (const p of [c.readinessProbe, c.livenessProbe, c.startupProbe]) {
      const port = p?.httpGet?.port ?? p?.tcpSocket?.port;
      if (typeof port === 'string' && !portNames.has(port)) v('probes', `${name}: probe on undeclared port ${port}`);
    }
    for (const p of c.ports ?? []) if (!p.name && !p.hostPort) v('namedPorts', `${name}: port ${p.containerPort} has no name`);
    for (const e of c.env ?? [])
      if (/SECRET|PASSWORD|TOKEN|CREDENTIAL|_KEY$/.test(e.name) && e.value !== undefined) v('envSecret', `${name}: ${e.name} as a literal; use a secretKeyRef`);
  }
  const selector = (w.object as unknown as IDeployment).spec?.selector?.matchLabels ?? {};
  if (!Object.entries(selector).every(([k, val]) => w.podLabels[k] === val)) v('selector', 'selector does not match the template labels');
  if (w.object.kind === 'Deployment') {
    const pdb = b.objects.some(
      (o) =>
        o.kind === 'PodDisruptionBudget' &&
        o.metadata.namespace === w.object.metadata.namespace &&
        Object.entries((o as unknown as IPodDisruptionBudget).spec?.selector?.matchLabels ?? {}).every(([k, val]) => w.podLabels[k] === val),
    );
    if (b.name !== 'manifest files' && !pdb) v('pdb', 'no PodDisruptionBudget selects the pods (kube-score)');
    if (!pod.topologySpreadConstraints?.length && !pod.affinity?.podAntiAffinity) v('spread', 'no topology spread or pod anti-affinity (kube-score)');
  }
  if (w.object.metadata.namespace === 'rtc' && b.name !== 'manifest files') {
    const covered = b.objects.filter(
      (o) =>
        o.kind === 'NetworkPolicy' &&
        o.metadata.namespace === 'rtc' &&
        Object.entries((o as unknown as INetworkPolicy).spec?.podSelector?.matchLabels ?? {}).every(([k, val]) => w.podLabels[k] === val),
    );
    const types = new Set(covered.flatMap((o) => (o as unknown as INetworkPolicy).spec?.policyTypes ?? []));
    if (!types.has('Ingress') || !types.has('Egress')) v('networkPolicy', 'pods not isolated for ingress and egress (kube-linter non-isolated-pod)');
  }
  return out;
}

function quantity(q: string | number): number {
  if (typeof q === 'number') return q;
  const m = /^([0-9.]+)([a-zA-Z]*)$/.exec(q);
  assert.ok(m, `quantity ${q}`);
  const units: Record<string, number> = { '': 1, m: 1e-3, k: 1e3, M: 1e6, G: 1e9, Ki: 1024, Mi: 1024 ** 2, Gi: 1024 ** 3, Ti: 1024 ** 4 };
  const unit = units[m[2] ?? ''];
  assert.ok(unit !== undefined, `unit of ${q}`);
  return Number(m[1]) * unit;
}

/**
 * Deliberate deviations, each with its reason (repeated in the manifests' comments).
 * Keyed by workload id; `builds` narrows an exception to builds whose name matches.
 */
const EXCEPTIONS: { id: string; builds?: RegExp; checks: string[]; why: string }[] = [
  {
    id: 'DaemonSet/monitoring/dcgm-exporter',
    checks: ['runAsNonRoot', 'hostPath', 'highUid'],
    why: 'node agent: uid 0 to reach the kubelet pod-resources socket (root-owned), mounted read-only from the host',
  },
  {
    id: 'DaemonSet/monitoring/dcgm-exporter-gke',
    checks: ['runAsNonRoot', 'hostPath', 'highUid', 'privileged', 'allowPrivilegeEscalation', 'capabilities'],
    why:
      "GKE node agent: DCGM's host engine is privileged (every GPU's device node without requesting the GPUs) with the driver directory mounted read-only; " +
      'the exporter beside it runs as uid 0 without capabilities to read the pod-resources socket; the host engine listens on the pod loopback only',
  },
  {
    id: 'Deployment/rtc/gpu-media',
    builds: /webrtc hostport/,
    checks: ['hostPort'],
    why: 'WebRTC option (a): media on UDP hostPorts of the node; the namespace enforce level is lowered for it',
  },
];

function allowed(w: Workload, check: string, used: Set<string>): boolean {
  for (const [i, e] of EXCEPTIONS.entries()) {
    if (e.id === w.id && (!e.builds || e.builds.test(w.build)) && e.checks.includes(check)) {
      used.add(`${i}:${check}`);
      return true;
    }
  }
  return false;
}

test('every workload meets the restricted Pod Security profile and the hardening rules (exceptions listed, all used)', (t) => {
  if (!haveTool(t, 'kubectl')) return;
  const used = new Set<string>();
  const failures: string[] = [];
  let checked = 0;
  for (const b of [...builds(), fileWorkloads()]) {
    for (const w of workloads(b)) {
      checked++;
      for (const violation of [...restricted(w), ...hardening(w, b)])
        if (!allowed(w, violation.check, used)) failures.push(`${b.name}: ${w.id}: ${violation.check}: ${violation.message}`);
    }
  }
  assert.ok(checked >= 13, `only ${checked} workloads checked`);
  assert.deepEqual(failures, []);
  const declared = EXCEPTIONS.flatMap((e, i) => e.checks.map((c) => `${i}:${c}`));
  assert.deepEqual(declared.filter((d) => !used.has(d)), [], 'exceptions nothing needs any more');
});

test('the checks catch what they are for (a deliberately bad Deployment)', () => {
  const bad: Workload = {
    build: 'example',
    id: 'Deployment/rtc/bad',
    object: { apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'bad', namespace: 'rtc' }, spec: { selector: { matchLabels: { a: 'b' } } } },
    podLabels: { a: 'c' },
    pod: {
      hostNetwork: true,
      containers: [
        {
          name: 'c',
          image: 'nginx:latest',
          ports: [{ containerPort: 80, hostPort: 80 }, { containerPort: 9090 }],
          env: [{ name: 'DB_PASSWORD', value: 'hunter2' }],
          securityContext: { privileged: true, capabilities: { add: ['SYS_ADMIN'] } },
          readinessProbe: { httpGet: { path: '/', port: 80 } },
          livenessProbe: { httpGet: { path: '/', port: 80 } },
        },
      ],
      volumes: [{ name: 'h', hostPath: { path: '/' } }],
    },
  };
  const found = new Set([...restricted(bad), ...hardening(bad, { name: 'example', objects: [] })].map((v) => v.check));
  for (const check of [
    'hostNamespaces',
    'hostPath',
    'privileged',
    'allowPrivilegeEscalation',
    'capabilities',
    'runAsNonRoot',
    'seccomp',
    'hostPort',
    'serviceAccountToken',
    'serviceAccount',
    'imagePinned',
    'resources',
    'readOnlyRootFilesystem',
    'scratch',
    'highUid',
    'probes',
    'namedPorts',
    'envSecret',
    'selector',
    'pdb',
    'spread',
    'networkPolicy',
  ])
    assert.ok(found.has(check), `check ${check} did not fire`);
});

// ---------------------------------------------------------------------------------------------
// The media service itself

function mediaDeployment(b: Build): IDeployment {
  const d = b.objects.find((o) => o.kind === 'Deployment' && o.metadata.name === 'gpu-media');
  assert.ok(d, `${b.name}: no gpu-media Deployment`);
  return d as unknown as IDeployment;
}

function mediaContainer(d: IDeployment): IContainer {
  const c = d.spec?.template.spec?.containers.find((x) => x.name === 'gpu-media');
  assert.ok(c);
  return c;
}

function envValue(c: IContainer, name: string): string | undefined {
  return c.env?.find((e) => e.name === name)?.value;
}

test('gpu-media: readiness on /readyz, liveness on /healthz, a startup probe, and a grace period that covers the drain', (t) => {
  if (!haveTool(t, 'kubectl')) return;
  for (const b of builds()) {
    const d = mediaDeployment(b);
    const c = mediaContainer(d);
    assert.equal(c.readinessProbe?.httpGet?.path, '/readyz', b.name);
    assert.equal(c.livenessProbe?.httpGet?.path, '/healthz', b.name);
    assert.ok(c.startupProbe?.httpGet?.path, `${b.name}: startupProbe`);
    // Liveness must not give up before readiness has taken the pod out of the endpoints.
    const give = (p: IProbe | undefined) => (p?.periodSeconds ?? 10) * (p?.failureThreshold ?? 3);
    assert.ok(give(c.livenessProbe) > give(c.readinessProbe), `${b.name}: liveness gives up before readiness`);
    const preStop = c.lifecycle?.preStop?.sleep?.seconds ?? 0;
    const delay = Number(envValue(c, 'SHUTDOWN_DELAY_SECONDS'));
    const drain = Number(envValue(c, 'SESSION_DRAIN_SECONDS'));
    assert.ok(preStop > 0 && delay >= 0 && drain > 0, `${b.name}: preStop, SHUTDOWN_DELAY_SECONDS and SESSION_DRAIN_SECONDS set`);
    const grace = d.spec?.template.spec?.terminationGracePeriodSeconds ?? 30;
    assert.ok(grace >= preStop + delay + drain + 10, `${b.name}: grace ${grace}s < ${preStop}+${delay}+${drain}+10`);
    // The autoscaler owns replicas; re-applying the manifest must not reset them.
    assert.equal(d.spec?.replicas, undefined, `${b.name}: Deployment sets replicas`);
    // Workers follow the container's own CPU limit, not the node's core count.
    const workers = c.env?.find((e) => e.name === 'WORKERS')?.valueFrom?.resourceFieldRef;
    assert.deepEqual(workers, { containerName: 'gpu-media', resource: 'limits.cpu', divisor: '1' }, b.name);
    assert.equal(envValue(c, 'PORT'), '8080');
    assert.ok(c.ports?.some((p) => p.name === 'http' && p.containerPort === 8080));
  }
});

test('GPU builds request one GPU on GPU nodes; CPU builds request none', (t) => {
  if (!haveTool(t, 'kubectl')) return;
  for (const b of builds()) {
    const d = mediaDeployment(b);
    const c = mediaContainer(d);
    const pod = d.spec?.template.spec;
    const gpu = b.name.startsWith('overlay gpu');
    if (gpu) {
      assert.equal(String(c.resources?.limits?.['nvidia.com/gpu']), '1', `${b.name}: GPU limit`);
      assert.equal(String(c.resources?.requests?.['nvidia.com/gpu']), '1', `${b.name}: GPU request`);
      assert.ok(pod?.tolerations?.some((x) => x.key === 'nvidia.com/gpu' && x.effect === 'NoSchedule'), `${b.name}: GPU toleration`);
      const terms = pod?.affinity?.nodeAffinity?.requiredDuringSchedulingIgnoredDuringExecution?.nodeSelectorTerms ?? [];
      assert.ok(terms.some((term) => term.matchExpressions?.some((e) => e.key === 'cloud.google.com/gke-accelerator')), `${b.name}: GPU node affinity`);
      assert.equal(pod?.nodeSelector?.['kubernetes.io/arch'], 'amd64');
      assert.match(c.image ?? '', /:\d+\.\d+\.\d+-cuda$/);
      assert.equal(envValue(c, 'DEVICE'), 'cuda');
      // The JIT cache must be writable with a read-only root filesystem.
      const cache = envValue(c, 'CUDA_CACHE_PATH') ?? '';
      assert.ok(c.volumeMounts?.some((m) => cache.startsWith(`${m.mountPath}/`) && !m.readOnly), `${b.name}: CUDA_CACHE_PATH on a writable mount`);
    } else {
      assert.equal(c.resources?.limits?.['nvidia.com/gpu'], undefined, `${b.name}: CPU build requests a GPU`);
      assert.equal(c.resources?.requests?.['nvidia.com/gpu'], undefined);
      assert.ok(!pod?.tolerations?.some((x) => x.key === 'nvidia.com/gpu'), `${b.name}: CPU build tolerates GPU nodes`);
      assert.equal(pod?.affinity, undefined);
      assert.doesNotMatch(c.image ?? '', /cuda/);
      assert.equal(envValue(c, 'DEVICE'), 'cpu');
      assert.equal(envValue(c, 'CUDA_WANTED'), 'false');
    }
  }
});

test('the namespace enforces the restricted profile (only the hostPort option lowers enforce; audit and warn stay restricted)', (t) => {
  if (!haveTool(t, 'kubectl')) return;
  for (const b of builds()) {
    const ns = b.objects.find((o) => o.kind === 'Namespace') as unknown as INamespace | undefined;
    assert.equal(ns?.metadata?.name, 'rtc');
    const labels = ns?.metadata?.labels ?? {};
    assert.equal(labels['pod-security.kubernetes.io/enforce'], b.name.includes('hostport') ? 'privileged' : 'restricted', b.name);
    assert.equal(labels['pod-security.kubernetes.io/audit'], 'restricted', b.name);
    assert.equal(labels['pod-security.kubernetes.io/warn'], 'restricted', b.name);
  }
  const seed = parseObjects(fs.readFileSync(path.join(ROOT, 'k8s/namespace.yaml'), 'utf8'))[0];
  assert.equal(seed?.metadata.labels?.['pod-security.kubernetes.io/enforce'], 'restricted');
});

test('manifests use stable API versions for built-in kinds', (t) => {
  if (!haveTool(t, 'kubectl')) return;
  const builtIn = /^(v1|apps\/v1|autoscaling\/v2|policy\/v1|networking\.k8s\.io\/v1)$/;
  const crd = new Set(['keda.sh/v1alpha1', 'monitoring.coreos.com/v1']);
  for (const b of builds())
    for (const o of b.objects) assert.ok(builtIn.test(o.apiVersion) || crd.has(o.apiVersion), `${b.name}: ${o.kind} uses ${o.apiVersion}`);
});

test('the network policies admit HTTP only from the ingress namespace, Prometheus and the other replicas, and deny everything else by default', (t) => {
  if (!haveTool(t, 'kubectl')) return;
  const b = build('overlay gpu, webrtc none');
  const policies = b.objects.filter((o) => o.kind === 'NetworkPolicy') as unknown as INetworkPolicy[];
  const deny = policies.find((p) => p.metadata?.name === 'default-deny');
  assert.deepEqual(deny?.spec?.podSelector, {});
  assert.deepEqual(deny?.spec?.policyTypes, ['Ingress', 'Egress']);
  assert.equal(deny?.spec?.ingress, undefined);
  assert.equal(deny?.spec?.egress, undefined);
  const http = policies.find((p) => p.metadata?.name === 'gpu-media-http');
  const sources = (http?.spec?.ingress ?? []).map((r) => {
    const fromPrometheus = (r.from ?? []).some((f) => f.podSelector?.matchLabels?.['app.kubernetes.io/name'] === 'prometheus');
    // Prometheus reaches /metrics on METRICS_PORT only; the ingress and the peers the HTTP port only.
    assert.deepEqual(r.ports, [{ protocol: 'TCP', port: fromPrometheus ? 8081 : 8080 }], fromPrometheus ? 'metrics port only' : 'HTTP port only');
    return (r.from ?? []).map((f) => JSON.stringify([f.namespaceSelector?.matchLabels, f.podSelector?.matchLabels ?? null]));
  });
  assert.deepEqual(sources, [
    [JSON.stringify([{ 'kubernetes.io/metadata.name': 'ingress-nginx' }, null])],
    [JSON.stringify([{ 'kubernetes.io/metadata.name': 'monitoring' }, { 'app.kubernetes.io/name': 'prometheus' }])],
    // A replica forwards calls for a peer's session to that peer (src/fleet), on the HTTP port only.
    [JSON.stringify([undefined, { 'app.kubernetes.io/instance': 'gpu-media', 'app.kubernetes.io/name': 'gpu-media' }])],
  ]);
  // Without a WebRTC option the pods may only resolve names and reach each other's HTTP port.
  assert.deepEqual(
    (http?.spec?.egress ?? []).map((r) => [
      (r.to ?? []).map((to) => JSON.stringify(to.podSelector?.matchLabels ?? null)),
      (r.ports ?? []).map((p) => `${p.protocol}/${p.port}`),
    ]),
    [
      [[JSON.stringify({ 'app.kubernetes.io/instance': 'gpu-media', 'app.kubernetes.io/name': 'gpu-media' })], ['TCP/8080']],
      [[], ['UDP/53', 'TCP/53']],
    ],
  );
});
