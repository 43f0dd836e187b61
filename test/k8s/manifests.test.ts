/**
 * Every Kubernetes manifest and every kustomize build parses and validates against the API
 * schemas (kubernetes-models and its KEDA / Prometheus Operator packages), carries no field the
 * schema does not know (TypeScript's excess-property check against the same models), hangs
 * together (selectors, ports, names, namespaces), and the seed-path files generated from
 * k8s/overlays/gpu are current.
 *
 * UPDATE_GENERATED=1 rewrites the generated seed-path files before checking them.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import YAML from 'yaml';
import { ConfigMap } from 'kubernetes-models/v1/ConfigMap';
import { Namespace } from 'kubernetes-models/v1/Namespace';
import { Secret } from 'kubernetes-models/v1/Secret';
import { Service, type IService } from 'kubernetes-models/v1/Service';
import { ServiceAccount } from 'kubernetes-models/v1/ServiceAccount';
import { DaemonSet, type IDaemonSet } from 'kubernetes-models/apps/v1/DaemonSet';
import { Deployment, type IDeployment } from 'kubernetes-models/apps/v1/Deployment';
import { HorizontalPodAutoscaler } from 'kubernetes-models/autoscaling/v2/HorizontalPodAutoscaler';
import { Job } from 'kubernetes-models/batch/v1/Job';
import { PriorityClass } from 'kubernetes-models/scheduling.k8s.io/v1/PriorityClass';
import { Pod } from 'kubernetes-models/v1/Pod';
import { NetworkPolicy, type INetworkPolicy } from 'kubernetes-models/networking.k8s.io/v1/NetworkPolicy';
import { PodDisruptionBudget, type IPodDisruptionBudget } from 'kubernetes-models/policy/v1/PodDisruptionBudget';
import { Role } from 'kubernetes-models/rbac.authorization.k8s.io/v1/Role';
import { RoleBinding } from 'kubernetes-models/rbac.authorization.k8s.io/v1/RoleBinding';
import { ValidatingAdmissionPolicy } from 'kubernetes-models/admissionregistration.k8s.io/v1/ValidatingAdmissionPolicy';
import { ValidatingAdmissionPolicyBinding } from 'kubernetes-models/admissionregistration.k8s.io/v1/ValidatingAdmissionPolicyBinding';
import { ScaledObject } from '@kubernetes-models/keda/keda.sh/v1alpha1/ScaledObject';
import { PodMonitor } from '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/PodMonitor';
import { PrometheusRule } from '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/PrometheusRule';
import { ServiceMonitor, type IServiceMonitor } from '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/ServiceMonitor';
import { haveTool } from '../tools.ts';
import { renderedBuild } from './renders.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  [field: string]: unknown;
}

interface Located {
  readonly source: string;
  readonly object: K8sObject;
}

// ---------------------------------------------------------------------------------------------
// Tools and files



function yamlFiles(dir: string): string[] {
  const out: string[] = [];
  for (const entry of fs.readdirSync(path.join(ROOT, dir), { withFileTypes: true })) {
    const p = path.join(dir, entry.name);
    if (entry.isDirectory()) out.push(...yamlFiles(p));
    else if (/\.ya?ml$/.test(entry.name)) out.push(p);
  }
  return out.sort();
}

function parseDocuments(text: string, source: string): unknown[] {
  const docs = YAML.parseAllDocuments(text);
  const out: unknown[] = [];
  for (const doc of docs) {
    if (doc.errors.length > 0) assert.fail(`${source}: ${doc.errors.map((e) => e.message).join('; ')}`);
    const value: unknown = doc.toJS();
    if (value !== null && value !== undefined) out.push(value);
  }
  return out;
}

function isK8sObject(value: unknown): value is K8sObject {
  if (typeof value !== 'object' || value === null) return false;
  const v = value as Record<string, unknown>;
  const meta = v.metadata as Record<string, unknown> | undefined;
  return typeof v.apiVersion === 'string' && typeof v.kind === 'string' && typeof meta?.name === 'string';
}

function objectsOf(text: string, source: string): Located[] {
  return parseDocuments(text, source).map((value, i) => {
    assert.ok(isK8sObject(value), `${source} document ${i + 1} is not a Kubernetes object`);
    return { source: `${source}#${i + 1}`, object: value };
  });
}

/** Files a kustomization applies as patches: partial objects, checked through the builds. */
function patchFiles(): Set<string> {
  const out = new Set<string>();
  for (const file of yamlFiles('k8s')) {
    if (path.basename(file) !== 'kustomization.yaml') continue;
    const k = YAML.parse(fs.readFileSync(path.join(ROOT, file), 'utf8')) as { patches?: { path?: string }[] };
    for (const p of k.patches ?? []) if (p.path) out.add(path.join(path.dirname(file), p.path));
  }
  return out;
}

const KUSTOMIZE_KINDS = new Set(['Kustomization', 'Component']);
/** The GPU telemetry: GPU Operator nodes, and GKE nodes with Google's driver. */
const DCGM_FILES = ['observability/dcgm-exporter.yaml', 'observability/dcgm-exporter-gke.yaml'];

function manifestFiles(): string[] {
  const patches = patchFiles();
  return [...yamlFiles('k8s'), ...DCGM_FILES].filter(
    (f) => !patches.has(f) && path.basename(f) !== 'kustomization.yaml',
  );
}

function fileObjects(): Located[] {
  return manifestFiles().flatMap((f) => objectsOf(fs.readFileSync(path.join(ROOT, f), 'utf8'), f));
}

// ---------------------------------------------------------------------------------------------
// Builds: the kustomizations, and every overlay x WebRTC option as scripts/deploy.sh composes it

interface Variant {
  readonly name: string;
  readonly objects: Located[];
}

const OVERLAYS = ['gpu', 'cpu'] as const;
const WEBRTC = ['none', 'turn', 'hostport'] as const;

let variantsCache: Variant[] | undefined;
function variants(): Variant[] {
  if (variantsCache) return variantsCache;
  const build = (name: string, args: [string, ...string[]]): Variant => {
    const [cmd, ...rest] = args;
    const text = execFileSync(cmd, rest, { cwd: ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    return { name, objects: objectsOf(text, name) };
  };
  variantsCache = [
    build('kustomize k8s', ['kubectl', 'kustomize', 'k8s']),
    build('kustomize k8s/base', ['kubectl', 'kustomize', 'k8s/base']),
    ...OVERLAYS.flatMap((overlay) =>
      WEBRTC.map((webrtc) =>
        ({ name: `overlay ${overlay}, webrtc ${webrtc}`, objects: objectsOf(renderedBuild(overlay, webrtc), `overlay ${overlay}, webrtc ${webrtc}`) }),
      ),
    ),
  ];
  return variantsCache;
}

function variant(name: string): Variant {
  const v = variants().find((x) => x.name === name);
  assert.ok(v, `no build named ${name}`);
  return v;
}

// ---------------------------------------------------------------------------------------------
// Schemas

interface Model {
  readonly validate: (object: K8sObject) => void;
  /** The model's interface, for the unknown-field check. */
  readonly typeImport: { readonly module: string; readonly name: string };
}

function model<T extends { validate(): void }>(make: (o: never) => T, module: string, name: string): Model {
  return { validate: (o) => make(o as never).validate(), typeImport: { module, name } };
}

const MODELS: Record<string, Model> = {
  'v1/Namespace': model((o) => new Namespace(o), 'kubernetes-models/v1/Namespace', 'INamespace'),
  'v1/Service': model((o) => new Service(o), 'kubernetes-models/v1/Service', 'IService'),
  'v1/ServiceAccount': model((o) => new ServiceAccount(o), 'kubernetes-models/v1/ServiceAccount', 'IServiceAccount'),
  'v1/ConfigMap': model((o) => new ConfigMap(o), 'kubernetes-models/v1/ConfigMap', 'IConfigMap'),
  'v1/Secret': model((o) => new Secret(o), 'kubernetes-models/v1/Secret', 'ISecret'),
  'v1/Pod': model((o) => new Pod(o), 'kubernetes-models/v1/Pod', 'IPod'),
  'apps/v1/Deployment': model((o) => new Deployment(o), 'kubernetes-models/apps/v1/Deployment', 'IDeployment'),
  'apps/v1/DaemonSet': model((o) => new DaemonSet(o), 'kubernetes-models/apps/v1/DaemonSet', 'IDaemonSet'),
  'autoscaling/v2/HorizontalPodAutoscaler': model(
    (o) => new HorizontalPodAutoscaler(o),
    'kubernetes-models/autoscaling/v2/HorizontalPodAutoscaler',
    'IHorizontalPodAutoscaler',
  ),
  'policy/v1/PodDisruptionBudget': model((o) => new PodDisruptionBudget(o), 'kubernetes-models/policy/v1/PodDisruptionBudget', 'IPodDisruptionBudget'),
  'batch/v1/Job': model((o) => new Job(o), 'kubernetes-models/batch/v1/Job', 'IJob'),
  'scheduling.k8s.io/v1/PriorityClass': model((o) => new PriorityClass(o), 'kubernetes-models/scheduling.k8s.io/v1/PriorityClass', 'IPriorityClass'),
  'networking.k8s.io/v1/NetworkPolicy': model((o) => new NetworkPolicy(o), 'kubernetes-models/networking.k8s.io/v1/NetworkPolicy', 'INetworkPolicy'),
  // components/pod-deletion-cost
  'rbac.authorization.k8s.io/v1/Role': model((o) => new Role(o), 'kubernetes-models/rbac.authorization.k8s.io/v1/Role', 'IRole'),
  'rbac.authorization.k8s.io/v1/RoleBinding': model((o) => new RoleBinding(o), 'kubernetes-models/rbac.authorization.k8s.io/v1/RoleBinding', 'IRoleBinding'),
  'admissionregistration.k8s.io/v1/ValidatingAdmissionPolicy': model(
    (o) => new ValidatingAdmissionPolicy(o),
    'kubernetes-models/admissionregistration.k8s.io/v1/ValidatingAdmissionPolicy',
    'IValidatingAdmissionPolicy',
  ),
  'admissionregistration.k8s.io/v1/ValidatingAdmissionPolicyBinding': model(
    (o) => new ValidatingAdmissionPolicyBinding(o),
    'kubernetes-models/admissionregistration.k8s.io/v1/ValidatingAdmissionPolicyBinding',
    'IValidatingAdmissionPolicyBinding',
  ),
  'keda.sh/v1alpha1/ScaledObject': model((o) => new ScaledObject(o), '@kubernetes-models/keda/keda.sh/v1alpha1/ScaledObject', 'IScaledObject'),
  'monitoring.coreos.com/v1/ServiceMonitor': model(
    (o) => new ServiceMonitor(o),
    '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/ServiceMonitor',
    'IServiceMonitor',
  ),
  'monitoring.coreos.com/v1/PodMonitor': model(
    (o) => new PodMonitor(o),
    '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/PodMonitor',
    'IPodMonitor',
  ),
  'monitoring.coreos.com/v1/PrometheusRule': model(
    (o) => new PrometheusRule(o),
    '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/PrometheusRule',
    'IPrometheusRule',
  ),
};

/** Kinds without a model: checked structurally (gatekeeper.test below). */
const STRUCTURAL = new Set(['templates.gatekeeper.sh/v1/ConstraintTemplate', 'constraints.gatekeeper.sh/v1beta1/K8sAllowedReposPinned']);

const typeKey = (o: K8sObject): string => `${o.apiVersion}/${o.kind}`;

// ---------------------------------------------------------------------------------------------

const SEED_PATHS = [
  'k8s/namespace.yaml',
  'k8s/gpu-media-deployment.yaml',
  'k8s/gpu-media-service.yaml',
  'k8s/hpa-cpu.yaml',
  'k8s/hpa-keda-latency.yaml',
  'k8s/hpa-latency-custom.yaml',
  'k8s/servicemonitor.yaml',
  'k8s/policy/networkpolicy.yaml',
  'k8s/policy/gatekeeper-sample-constraint.yaml',
  'k8s/kustomization.yaml',
  'k8s/overlays/cpu/kustomization.yaml',
  'k8s/overlays/gpu/kustomization.yaml',
  'observability/grafana-dashboard.json',
  'observability/prometheus-adapter-values.yaml',
  'observability/dcgm-exporter.yaml',
];

test('the seed paths and the kustomize layout exist', () => {
  for (const p of SEED_PATHS) assert.ok(fs.existsSync(path.join(ROOT, p)), `${p} is missing`);
});

test('every YAML file under k8s/ and observability/ parses (no duplicate keys, no syntax errors)', () => {
  const files = [...yamlFiles('k8s'), ...yamlFiles('observability'), 'docker-compose.yml'];
  assert.ok(files.length > 20, `only ${files.length} YAML files found`);
  for (const f of files) parseDocuments(fs.readFileSync(path.join(ROOT, f), 'utf8'), f);
});

test('every manifest file validates against its API schema', () => {
  const objects = fileObjects();
  assert.ok(objects.length >= 15);
  for (const { source, object } of objects) {
    const m = MODELS[typeKey(object)];
    if (m) assert.doesNotThrow(() => m.validate(object), `${source} (${typeKey(object)})`);
    else assert.ok(STRUCTURAL.has(typeKey(object)) || KUSTOMIZE_KINDS.has(object.kind), `${source}: no schema for ${typeKey(object)}`);
  }
});

test('every kustomize build succeeds and validates against the API schemas', (t) => {
  if (!haveTool(t, 'kubectl')) return;
  for (const v of variants()) {
    assert.ok(v.objects.length >= 9, `${v.name}: only ${v.objects.length} objects`);
    for (const { source, object } of v.objects) {
      const m = MODELS[typeKey(object)];
      assert.ok(m, `${source}: ${typeKey(object)} has no schema; builds must only contain modelled kinds`);
      assert.doesNotThrow(() => m.validate(object), `${source} (${typeKey(object)})`);
    }
  }
});

test('no manifest carries a field its schema does not know (typo check)', (t) => {
  if (!haveTool(t, 'kubectl')) return;
  const seen = new Set<string>();
  const items: Located[] = [];
  for (const item of [...fileObjects(), ...variants().flatMap((v) => v.objects)]) {
    if (!MODELS[typeKey(item.object)]) continue;
    const key = JSON.stringify(item.object);
    if (seen.has(key)) continue;
    seen.add(key);
    items.push(item);
  }
  // One virtual module assigns each object, as a literal, to its model's interface; TypeScript
  // reports any property the interface does not declare, at any depth.
  const imports = new Map<string, string>();
  const lines: string[] = [];
  for (const { object } of items) {
    const m = MODELS[typeKey(object)];
    assert.ok(m);
    imports.set(m.typeImport.name, m.typeImport.module);
  }
  for (const [name, module] of imports) lines.push(`import type { ${name} } from '${module}';`);
  const firstObjectLine = lines.length;
  items.forEach(({ object }, i) => {
    const m = MODELS[typeKey(object)];
    assert.ok(m);
    lines.push(`export const o${i}: ${m.typeImport.name} = ${JSON.stringify(object)};`);
  });
  const virtualFile = path.join(ROOT, 'test/k8s/__manifest_fields__.ts');
  const options: ts.CompilerOptions = {
    strict: true,
    noEmit: true,
    skipLibCheck: true,
    target: ts.ScriptTarget.ES2022,
    module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext,
    types: [],
  };
  const host = ts.createCompilerHost(options);
  const source = lines.join('\n');
  const getSourceFile = host.getSourceFile.bind(host);
  host.getSourceFile = (file, language, ...rest) =>
    file === virtualFile ? ts.createSourceFile(file, source, language) : getSourceFile(file, language, ...rest);
  const fileExists = host.fileExists.bind(host);
  host.fileExists = (file) => file === virtualFile || fileExists(file);
  const program = ts.createProgram([virtualFile], options, host);
  const problems = ts.getPreEmitDiagnostics(program).map((d) => {
    const where =
      d.file?.fileName === virtualFile && d.start !== undefined
        ? items[d.file.getLineAndCharacterOfPosition(d.start).line - firstObjectLine]?.source
        : d.file?.fileName;
    return `${where ?? '?'}: ${ts.flattenDiagnosticMessageText(d.messageText, ' ')}`;
  });
  assert.deepEqual(problems, []);
});

test('kubectl apply -k k8s deploys exactly the GPU overlay (the seed deploys the GPU variant)', (t) => {
  if (!haveTool(t, 'kubectl')) return;
  assert.deepEqual(
    variant('kustomize k8s').objects.map((o) => o.object),
    variant('overlay gpu, webrtc none').objects.map((o) => o.object),
  );
});

function objectId(o: K8sObject): string {
  return `${o.kind}/${o.metadata.namespace ?? ''}/${o.metadata.name}`;
}

function matches(selector: Record<string, string> | undefined, labels: Record<string, string> | undefined): boolean {
  if (!selector || Object.keys(selector).length === 0) return false;
  return Object.entries(selector).every(([k, v]) => labels?.[k] === v);
}

function podTemplates(objects: K8sObject[]): { owner: K8sObject; labels: Record<string, string>; spec: IDeployment['spec'] }[] {
  return objects
    .filter((o) => o.kind === 'Deployment' || o.kind === 'DaemonSet')
    .map((o) => {
      const d = o as unknown as IDeployment | IDaemonSet;
      return { owner: o, labels: d.spec?.template.metadata?.labels ?? {}, spec: d.spec as IDeployment['spec'] };
    });
}

test('builds hang together: names, namespaces, labels, selectors and ports', (t) => {
  if (!haveTool(t, 'kubectl')) return;
  for (const v of variants()) {
    const objects = v.objects.map((o) => o.object);
    const ids = objects.map(objectId);
    assert.equal(new Set(ids).size, ids.length, `${v.name}: duplicate objects`);
    for (const o of objects) {
      const where = `${v.name}: ${objectId(o)}`;
      if (o.kind !== 'Namespace') {
        const expected = o.metadata.name.startsWith('dcgm-exporter') ? 'monitoring' : 'rtc';
        assert.equal(o.metadata.namespace, expected, `${where}: namespace`);
      }
      const labels = o.metadata.labels ?? {};
      for (const key of ['app.kubernetes.io/name', 'app.kubernetes.io/part-of']) assert.ok(labels[key], `${where}: label ${key}`);
      if (o.kind !== 'Namespace') {
        for (const key of ['app.kubernetes.io/instance', 'app.kubernetes.io/component', 'app.kubernetes.io/version'])
          if (!o.metadata.name.startsWith('default-deny')) assert.ok(labels[key], `${where}: label ${key}`);
      }
    }
    const templates = podTemplates(objects);
    for (const { owner, labels, spec } of templates) {
      assert.ok(matches(spec?.selector.matchLabels, labels), `${v.name}: ${objectId(owner)} selector does not match its template`);
      // The version label must agree with the image tag it describes.
      const version = owner.metadata.labels?.['app.kubernetes.io/version'];
      const image = spec?.template.spec?.containers[0]?.image ?? '';
      assert.ok(version && (image.split(':').pop() ?? '').includes(version), `${v.name}: ${objectId(owner)} version ${version} vs image ${image}`);
    }
    for (const o of objects.filter((x) => x.kind === 'Service')) {
      const svc = o as unknown as IService;
      const target = templates.find((tp) => matches(svc.spec?.selector, tp.labels));
      assert.ok(target, `${v.name}: Service ${o.metadata.name} selects no pod template`);
      const portNames = new Set((target.spec?.template.spec?.containers ?? []).flatMap((c) => (c.ports ?? []).map((p) => p.name)));
      for (const port of svc.spec?.ports ?? []) {
        if (typeof port.targetPort === 'string') assert.ok(portNames.has(port.targetPort), `${v.name}: Service ${o.metadata.name} targets unknown port ${port.targetPort}`);
      }
    }
    for (const o of objects.filter((x) => x.kind === 'ServiceMonitor')) {
      const sm = o as unknown as IServiceMonitor;
      const services = objects.filter(
        (s) => s.kind === 'Service' && sm.spec.namespaceSelector?.matchNames?.includes(s.metadata.namespace ?? '') && matches(sm.spec.selector.matchLabels, s.metadata.labels),
      );
      assert.equal(services.length, 1, `${v.name}: ServiceMonitor ${o.metadata.name} selects ${services.length} services`);
      const svcPorts = new Set(((services[0] as unknown as IService).spec?.ports ?? []).map((p) => p.name));
      for (const ep of sm.spec.endpoints ?? []) assert.ok(ep.port && svcPorts.has(ep.port), `${v.name}: ServiceMonitor ${o.metadata.name} port ${ep.port}`);
    }
    for (const o of objects.filter((x) => x.kind === 'PodDisruptionBudget')) {
      const pdb = o as unknown as IPodDisruptionBudget;
      assert.ok(templates.some((tp) => matches(pdb.spec?.selector?.matchLabels, tp.labels)), `${v.name}: PDB ${o.metadata.name} selects nothing`);
    }
    for (const o of objects.filter((x) => x.kind === 'NetworkPolicy')) {
      const np = o as unknown as INetworkPolicy;
      const sel = np.spec?.podSelector?.matchLabels;
      if (sel && Object.keys(sel).length > 0)
        assert.ok(templates.some((tp) => matches(sel, tp.labels)), `${v.name}: NetworkPolicy ${o.metadata.name} selects no pod`);
    }
  }
});

// ---------------------------------------------------------------------------------------------
// Generated seed-path files

const GENERATED_HEADER = (file: string) =>
  [
    `# ${file}: the seed's path for \`kubectl apply -f\`, generated from \`kubectl kustomize k8s/overlays/gpu\`.`,
    '# Do not edit: change k8s/base/ or k8s/overlays/gpu/, then regenerate with',
    '#   UPDATE_GENERATED=1 node --import tsx --test test/k8s/manifests.test.ts',
    '# (the comments explaining each setting are in k8s/base/).',
  ].join('\n');

function seedFileFor(o: K8sObject): string | undefined {
  if (o.metadata.namespace === 'monitoring') return undefined; // observability/dcgm-exporter.yaml is its own source
  switch (o.kind) {
    case 'Namespace':
      return 'k8s/namespace.yaml';
    case 'ServiceAccount':
    case 'Deployment':
    case 'PodDisruptionBudget':
      return 'k8s/gpu-media-deployment.yaml';
    case 'Service':
      return 'k8s/gpu-media-service.yaml';
    case 'ServiceMonitor':
    case 'PrometheusRule':
      return 'k8s/servicemonitor.yaml';
    case 'NetworkPolicy':
      return 'k8s/policy/networkpolicy.yaml';
    default:
      return undefined;
  }
}

test('the seed-path files are current (generated from k8s/overlays/gpu)', (t) => {
  if (!haveTool(t, 'kubectl')) return;
  const rendered = variant('overlay gpu, webrtc none').objects.map((o) => o.object);
  const expected = new Map<string, K8sObject[]>();
  for (const o of rendered) {
    const file = seedFileFor(o);
    if (o.metadata.namespace === 'monitoring') continue;
    assert.ok(file, `no seed file for ${objectId(o)}`);
    expected.set(file, [...(expected.get(file) ?? []), o]);
  }
  if (process.env.UPDATE_GENERATED === '1') {
    for (const [file, objects] of expected) {
      const body = objects.map((o) => YAML.stringify(o, { lineWidth: 0 })).join('---\n');
      fs.writeFileSync(path.join(ROOT, file), `${GENERATED_HEADER(file)}\n${body}`);
    }
  }
  for (const [file, objects] of expected) {
    const text = fs.readFileSync(path.join(ROOT, file), 'utf8');
    assert.ok(text.startsWith(GENERATED_HEADER(file)), `${file}: header missing (regenerate with UPDATE_GENERATED=1)`);
    assert.deepEqual(
      objectsOf(text, file).map((o) => o.object),
      objects,
      `${file} is stale: regenerate with UPDATE_GENERATED=1 node --import tsx --test test/k8s/manifests.test.ts`,
    );
  }
  // The GPU telemetry objects are the DCGM files', unchanged.
  const byId = (a: K8sObject, b: K8sObject) => objectId(a).localeCompare(objectId(b));
  assert.deepEqual(
    rendered.filter((o) => o.metadata.namespace === 'monitoring').sort(byId),
    DCGM_FILES.flatMap((f) => objectsOf(fs.readFileSync(path.join(ROOT, f), 'utf8'), f))
      .map((o) => o.object)
      .sort(byId),
  );
});

// ---------------------------------------------------------------------------------------------
// WebRTC options

function envOf(d: IDeployment, container = 'gpu-media'): Map<string, string | undefined> {
  const c = d.spec?.template.spec?.containers.find((x) => x.name === container);
  assert.ok(c, `container ${container}`);
  return new Map((c.env ?? []).map((e) => [e.name, e.value]));
}

function deploymentIn(v: Variant, name: string): IDeployment {
  const d = v.objects.find((o) => o.object.kind === 'Deployment' && o.object.metadata.name === name);
  assert.ok(d, `${v.name}: no Deployment ${name}`);
  return d.object as unknown as IDeployment;
}

function policyIn(v: Variant, name: string): INetworkPolicy {
  const p = v.objects.find((o) => o.object.kind === 'NetworkPolicy' && o.object.metadata.name === name);
  assert.ok(p, `${v.name}: no NetworkPolicy ${name}`);
  return p.object as unknown as INetworkPolicy;
}

function udpRanges(np: INetworkPolicy, direction: 'ingress' | 'egress'): [number, number][] {
  const rules = (direction === 'ingress' ? np.spec?.ingress : np.spec?.egress) ?? [];
  return rules.flatMap((r) =>
    (r.ports ?? []).filter((p) => p.protocol === 'UDP' && typeof p.port === 'number').map((p): [number, number] => [p.port as number, p.endPort ?? (p.port as number)]),
  );
}

test('WebRTC hostPort option: the UDP hostPorts, RTC_PORT_MIN/MAX, the announced node IP and the policy agree', (t) => {
  if (!haveTool(t, 'kubectl')) return;
  for (const overlay of OVERLAYS) {
    const v = variant(`overlay ${overlay}, webrtc hostport`);
    const d = deploymentIn(v, 'gpu-media');
    const env = envOf(d);
    const min = Number(env.get('RTC_PORT_MIN'));
    const max = Number(env.get('RTC_PORT_MAX'));
    assert.ok(min >= 1024 && max >= min, `${v.name}: RTC_PORT range ${min}-${max}`);
    const c = d.spec?.template.spec?.containers.find((x) => x.name === 'gpu-media');
    const hostPorts = (c?.ports ?? []).filter((p) => p.protocol === 'UDP').map((p) => {
      assert.equal(p.hostPort, p.containerPort, `${v.name}: hostPort must equal containerPort (the announced port)`);
      return p.containerPort;
    });
    assert.deepEqual(hostPorts, Array.from({ length: max - min + 1 }, (_, i) => min + i), `${v.name}: one UDP hostPort per RTC port`);
    const announced = c?.env?.find((e) => e.name === 'ANNOUNCED_IP');
    assert.equal(announced?.valueFrom?.fieldRef?.fieldPath, 'status.hostIP', `${v.name}: ANNOUNCED_IP from the downward API`);
    assert.deepEqual(udpRanges(policyIn(v, 'gpu-media-media-udp'), 'ingress'), [[min, max]], `${v.name}: policy admits the RTC range`);
    // ICE checks go out to the internet, never into the cluster's or the cloud's own ranges.
    const blocks = (policyIn(v, 'gpu-media-media-udp').spec?.egress ?? []).flatMap((rule) => rule.to ?? []).map((peer) => peer.ipBlock);
    const except = new Set(blocks.flatMap((b) => b?.except ?? []));
    for (const range of ['10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16', '100.64.0.0/10', '169.254.0.0/16', 'fc00::/7', 'fe80::/10']) {
      assert.ok(except.has(range), `${v.name}: media egress excludes ${range}`);
    }
    assert.ok(blocks.every((b) => b !== undefined), `${v.name}: media egress only to address blocks`);
  }
});

test('WebRTC TURN option: coturn, the media pods and both policies agree on ports; ICE servers come from a Secret', (t) => {
  if (!haveTool(t, 'kubectl')) return;
  for (const overlay of OVERLAYS) {
    const v = variant(`overlay ${overlay}, webrtc turn`);
    const media = deploymentIn(v, 'gpu-media');
    const env = envOf(media);
    const rtc: [number, number] = [Number(env.get('RTC_PORT_MIN')), Number(env.get('RTC_PORT_MAX'))];
    const turn = deploymentIn(v, 'turn');
    const args = turn.spec?.template.spec?.containers[0]?.args ?? [];
    const arg = (name: string): number => {
      const a = args.find((x) => x.startsWith(`--${name}=`));
      assert.ok(a, `coturn ${name}`);
      return Number(a.split('=')[1]);
    };
    const relay: [number, number] = [arg('min-port'), arg('max-port')];
    const listening = arg('listening-port');
    // Ephemeral credentials (TURN REST API): coturn and the service share one secret from the Secret.
    assert.ok(args.includes('--use-auth-secret') && args.includes('--static-auth-secret=$(TURN_SECRET)'), 'coturn use-auth-secret');
    assert.ok(!args.some((x) => /^--(user|lt-cred-mech|userdb)(=|$)/.test(x)), 'no static long-term users');
    const turnEnv = new Map((turn.spec?.template.spec?.containers[0]?.env ?? []).map((e) => [e.name, e]));
    const mediaEnv = new Map((media.spec?.template.spec?.containers[0]?.env ?? []).map((e) => [e.name, e]));
    const ref = (e: typeof turnEnv) => JSON.stringify([e.get('TURN_SECRET')?.valueFrom?.secretKeyRef?.name, e.get('TURN_SECRET')?.valueFrom?.secretKeyRef?.key]);
    assert.equal(ref(turnEnv), ref(mediaEnv), 'one secret for both');
    assert.equal(turnEnv.get('TURN_SECRET')?.valueFrom?.secretKeyRef?.name, 'gpu-media-ice');
    assert.equal(mediaEnv.get('ICE_SERVERS')?.valueFrom?.secretKeyRef?.name, 'gpu-media-ice', 'ICE_SERVERS from the Secret');
    // Every peer denied, then the media pods' range allowed again (test/adversarial/turn.test.ts runs these arguments).
    assert.ok(args.includes('--denied-peer-ip=0.0.0.0-255.255.255.255') && args.includes('--denied-peer-ip=::-ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff'));
    assert.deepEqual(args.filter((x) => x.startsWith('--allowed-peer-ip=')), ['--allowed-peer-ip=$(TURN_ALLOWED_PEER_RANGE)']);
    assert.equal(turnEnv.get('TURN_ALLOWED_PEER_RANGE')?.valueFrom?.secretKeyRef?.name, 'gpu-media-ice');
    assert.ok(args.includes('--no-tcp-relay') && args.some((x) => x.startsWith('--user-quota=')) && args.some((x) => x.startsWith('--total-quota=')));

    const turnPolicy = policyIn(v, 'turn');
    assert.deepEqual(udpRanges(turnPolicy, 'ingress').sort(), [[listening, listening], relay].sort());
    assert.deepEqual(udpRanges(turnPolicy, 'egress').filter(([a]) => a !== 53), [rtc]);
    // DNS only to the cluster's resolver, never port 53 to any address.
    const dns = (turnPolicy.spec?.egress ?? []).filter((r) => (r.ports ?? []).some((p) => p.port === 53));
    assert.equal(dns.length, 1);
    assert.deepEqual(dns[0]?.to, [
      { namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'kube-system' } }, podSelector: { matchLabels: { 'k8s-app': 'kube-dns' } } },
    ]);
    assert.ok((turnPolicy.spec?.egress ?? []).every((r) => (r.to ?? []).length > 0), 'no egress rule open to every address');
    const mediaPolicy = policyIn(v, 'gpu-media-turn');
    assert.deepEqual(udpRanges(mediaPolicy, 'ingress'), [rtc]);
    assert.deepEqual(udpRanges(mediaPolicy, 'egress'), [relay], "the pods reach the clients' relayed addresses, and allocate nothing themselves");
    // One LoadBalancer per protocol: a mixed-protocol one gets no address on most GKE clusters.
    const services = v.objects.map((o) => o.object).filter((o) => o.kind === 'Service' && o.metadata.name.startsWith('turn')) as unknown as IService[];
    assert.deepEqual(
      services.map((svc) => [svc.metadata?.name, svc.spec?.type, (svc.spec?.ports ?? []).map((p) => `${p.protocol}/${p.port}`)]).sort(),
      [
        ['turn-tcp', 'LoadBalancer', [`TCP/${listening}`]],
        ['turn-udp', 'LoadBalancer', [`UDP/${listening}`]],
      ],
      'the relay exposes only its listening port, one protocol per load balancer',
    );
    for (const svc of services) assert.equal(svc.metadata?.annotations?.['cloud.google.com/l4-rbs'], 'enabled', `${svc.metadata?.name}: GKE's backend service-based load balancer`);
  }
});

// ---------------------------------------------------------------------------------------------
// Gatekeeper (no model: structural checks, and our own images must pass our own policy)

interface ConstraintTemplate {
  metadata: { name: string };
  spec: {
    crd: { spec: { names: { kind: string }; validation: { openAPIV3Schema: { properties: Record<string, { type: string; items?: { type: string } }> } } } };
    targets: { target: string; rego: string }[];
  };
}

interface Constraint {
  kind: string;
  spec: { enforcementAction?: string; match: { kinds: { apiGroups: string[]; kinds: string[] }[]; namespaces?: string[] }; parameters: { repos: string[] } };
}

/** The template's rule, in TypeScript: an allowed prefix, and a tag other than latest or a digest. */
function allowedByConstraint(image: string, repos: string[]): boolean {
  if (!repos.some((r) => image.startsWith(r))) return false;
  if (image.includes('@sha256:')) return true;
  if (image.includes('@')) return false;
  const last = image.split('/').pop() ?? '';
  const tag = last.includes(':') ? last.split(':')[1] : undefined;
  return tag !== undefined && tag !== '' && tag !== 'latest';
}

test('the Gatekeeper template and constraint are consistent, and every image in namespace rtc passes them', (t) => {
  const docs = objectsOf(fs.readFileSync(path.join(ROOT, 'k8s/policy/gatekeeper-sample-constraint.yaml'), 'utf8'), 'gatekeeper');
  const template = docs.find((d) => d.object.kind === 'ConstraintTemplate')?.object as unknown as ConstraintTemplate | undefined;
  const constraint = docs.find((d) => d.object.kind !== 'ConstraintTemplate')?.object as unknown as Constraint | undefined;
  assert.ok(template && constraint);
  assert.equal(template.metadata.name, template.spec.crd.spec.names.kind.toLowerCase(), 'template name is the lower-cased kind');
  assert.equal(constraint.kind, template.spec.crd.spec.names.kind);
  const target = template.spec.targets[0];
  assert.equal(target?.target, 'admission.k8s.gatekeeper.sh');
  assert.match(target?.rego ?? '', new RegExp(`^package ${template.metadata.name}$`, 'm'));
  assert.match(target?.rego ?? '', /^violation\[\{"msg": msg\}\] \{$/m);
  assert.equal(target?.rego.split('{').length, target?.rego.split('}').length, 'rego braces balance');
  const schema = template.spec.crd.spec.validation.openAPIV3Schema.properties;
  for (const [key, value] of Object.entries(constraint.spec.parameters)) {
    assert.ok(schema[key], `parameter ${key} is not in the template's schema`);
    assert.equal(schema[key]?.type, 'array');
    assert.ok(Array.isArray(value) && value.every((x) => typeof x === 'string'), `parameter ${key} must be a list of strings`);
  }
  assert.equal(constraint.spec.enforcementAction, 'deny');
  assert.deepEqual(constraint.spec.match.namespaces, ['rtc']);
  assert.ok(constraint.spec.match.kinds.some((k) => k.kinds.includes('Pod')));

  // The rule itself, on examples.
  const repos = constraint.spec.parameters.repos;
  const examples: [string, boolean][] = [
    ['ghcr.io/rtc-scale/gpu-media:0.1.0', true],
    ['ghcr.io/rtc-scale/gpu-media@sha256:0123456789abcdef', true],
    ['ghcr.io/rtc-scale/gpu-media:latest', false],
    ['ghcr.io/rtc-scale/gpu-media', false],
    ['docker.io/library/nginx:1.27', false],
  ];
  for (const [image, allowed] of examples) assert.equal(allowedByConstraint(image, repos), allowed, image);

  if (!haveTool(t, 'kubectl')) return;
  for (const v of variants()) {
    for (const { owner, spec } of podTemplates(v.objects.map((o) => o.object))) {
      if (owner.metadata.namespace !== 'rtc') continue;
      for (const c of [...(spec?.template.spec?.initContainers ?? []), ...(spec?.template.spec?.containers ?? [])])
        assert.ok(allowedByConstraint(c.image ?? '', repos), `${v.name}: ${objectId(owner)} image ${c.image} would be denied`);
    }
  }
});
