/**
 * The Kubernetes side of the fleet: the headless Service that is the membership list, the settings
 * that make each pod a member, the pod-to-pod rule, and the optional pod-deletion-cost component
 * (built on top of the GPU overlay, as an operator's overlay would) with the narrowest grant.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import YAML from 'yaml';
import type { IDeployment } from 'kubernetes-models/apps/v1/Deployment';
import type { INetworkPolicy } from 'kubernetes-models/networking.k8s.io/v1/NetworkPolicy';
import type { IService } from 'kubernetes-models/v1/Service';
import { Role, type IRole } from 'kubernetes-models/rbac.authorization.k8s.io/v1/Role';
import { RoleBinding, type IRoleBinding } from 'kubernetes-models/rbac.authorization.k8s.io/v1/RoleBinding';
import { ValidatingAdmissionPolicy } from 'kubernetes-models/admissionregistration.k8s.io/v1/ValidatingAdmissionPolicy';
import { loadConfig } from '../../src/config.ts';
import { haveTool } from '../tools.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

type Obj = { kind: string; metadata: { name: string; namespace?: string; labels?: Record<string, string> } } & Record<string, unknown>;

function render(...components: string[]): Obj[] {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kz-'));
  try {
    // kustomize takes only relative paths; the build lives outside the repository like an operator's overlay.
    const rel = (p: string) => path.relative(dir, path.join(ROOT, p));
    fs.writeFileSync(
      path.join(dir, 'kustomization.yaml'),
      YAML.stringify({ apiVersion: 'kustomize.config.k8s.io/v1beta1', kind: 'Kustomization', resources: [rel('k8s/overlays/gpu')], components: components.map(rel) }),
    );
    const text = execFileSync('kubectl', ['kustomize', dir], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    return YAML.parseAllDocuments(text).map((d) => d.toJS() as Obj);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

const find = <T>(objects: Obj[], kind: string, name: string): T => {
  const o = objects.find((x) => x.kind === kind && x.metadata.name === name);
  assert.ok(o, `no ${kind} ${name}`);
  return o as unknown as T;
};

const GPU_MEDIA = { 'app.kubernetes.io/instance': 'gpu-media', 'app.kubernetes.io/name': 'gpu-media' };

test('the headless Service lists every gpu-media pod, draining ones too, and the pods find each other through it', (t) => {
  if (!haveTool(t, 'kubectl')) return;
  const objects = render();
  const peers = find<IService>(objects, 'Service', 'gpu-media-peers');
  assert.equal(peers.spec?.clusterIP, 'None');
  assert.equal(peers.spec?.publishNotReadyAddresses, true, 'a draining pod stays reachable for its sessions');
  assert.deepEqual(peers.spec?.selector, GPU_MEDIA);
  const monitor = objects.find((o) => o.kind === 'ServiceMonitor' && o.metadata.name === 'gpu-media') as unknown as { spec: { selector: { matchLabels: Record<string, string> } } };
  assert.ok(Object.entries(monitor.spec.selector.matchLabels).some(([k, v]) => peers.metadata?.labels?.[k] !== v), 'the ServiceMonitor does not scrape the pods twice');

  const deployment = find<IDeployment>(objects, 'Deployment', 'gpu-media');
  const container = deployment.spec?.template.spec?.containers.find((c) => c.name === 'gpu-media');
  const env = new Map((container?.env ?? []).map((e) => [e.name, e]));
  assert.equal(env.get('POD_IP')?.valueFrom?.fieldRef?.fieldPath, 'status.podIP');
  const peerDns = env.get('PEER_DNS')?.value ?? '';
  assert.equal(peerDns, `${peers.metadata?.name}.${peers.metadata?.namespace}.svc.cluster.local.`, 'the full name, absolute');
  const port = Number(env.get('PORT')?.value);
  assert.equal(peers.spec?.ports?.[0]?.port, port, "peers are reached on the pods' own HTTP port");
  const secret = env.get('FLEET_SECRET')?.valueFrom?.secretKeyRef;
  assert.equal(secret?.name, 'gpu-media-fleet', 'the fleet secret from a Secret');
  assert.notEqual(secret?.optional, true, 'a pod without it does not start (a fleet that cannot sign would fail every forwarded call)');
  const config = loadConfig({ PORT: String(port), POD_IP: '10.4.2.17', PEER_DNS: peerDns, FLEET_SECRET: 'x'.repeat(44) });
  assert.equal(config.peerDns, peerDns);

  // Pod to pod on the HTTP port, both ways, and nothing more.
  const http = find<INetworkPolicy>(objects, 'NetworkPolicy', 'gpu-media-http');
  const fromPeers = http.spec?.ingress?.find((r) => r.from?.some((f) => JSON.stringify(f.podSelector?.matchLabels) === JSON.stringify(GPU_MEDIA)));
  assert.deepEqual(fromPeers?.ports, [{ protocol: 'TCP', port }]);
  assert.equal(fromPeers?.from?.length, 1);
  assert.equal(fromPeers?.from?.[0]?.namespaceSelector, undefined, 'same namespace only');
  const toPeers = http.spec?.egress?.find((r) => r.to?.some((to) => JSON.stringify(to.podSelector?.matchLabels) === JSON.stringify(GPU_MEDIA)));
  assert.deepEqual(toPeers?.ports, [{ protocol: 'TCP', port }]);
});

test('components/pod-deletion-cost: PATCH on pods and nothing else, its own token, the settings the updater needs', (t) => {
  if (!haveTool(t, 'kubectl')) return;
  const objects = render('k8s/components/pod-deletion-cost');
  const role = find<IRole>(objects, 'Role', 'gpu-media-pod-deletion-cost');
  assert.doesNotThrow(() => new Role(role as never).validate());
  assert.equal(role.metadata?.namespace, 'rtc', 'a Role, not a ClusterRole');
  assert.deepEqual(role.rules, [{ apiGroups: [''], resources: ['pods'], verbs: ['patch'] }]);
  const binding = find<IRoleBinding>(objects, 'RoleBinding', 'gpu-media-pod-deletion-cost');
  assert.doesNotThrow(() => new RoleBinding(binding as never).validate());
  assert.deepEqual(binding.roleRef, { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'gpu-media-pod-deletion-cost' });
  assert.deepEqual(binding.subjects, [{ kind: 'ServiceAccount', name: 'gpu-media', namespace: 'rtc' }]);
  assert.ok(objects.some((o) => o.kind === 'ServiceAccount' && o.metadata.name === 'gpu-media'));
  const policy = objects.find((o) => o.kind === 'ValidatingAdmissionPolicy');
  assert.ok(policy);
  assert.doesNotThrow(() => new ValidatingAdmissionPolicy(policy as never).validate());
  assert.match(JSON.stringify(policy), /system:serviceaccount:rtc:gpu-media/);
  // Nothing but the annotation may change, and it holds a count.
  const rules = ((policy.spec as { validations: { expression: string; message: string }[] }).validations ?? []).map((v) => v.expression.replace(/\s+/g, ' '));
  for (const field of ['object.spec == oldObject.spec', 'object.metadata.labels', 'object.metadata.ownerReferences', 'object.metadata.finalizers', 'variables.newAnnotations.all(']) {
    assert.ok(rules.some((r) => r.includes(field)), `the policy checks ${field}`);
  }
  assert.ok(rules.some((r) => r.includes("matches('^[0-9]{1,6}$')")), 'the annotation must be a count');
  assert.equal((policy.spec as { failurePolicy?: string }).failurePolicy, 'Fail', 'no admission without the check');
  assert.ok(objects.some((o) => o.kind === 'ValidatingAdmissionPolicyBinding' && (o.spec as { policyName?: string }).policyName === policy.metadata.name));

  const deployment = find<IDeployment>(objects, 'Deployment', 'gpu-media');
  const pod = deployment.spec?.template.spec;
  assert.equal(pod?.automountServiceAccountToken, false, 'no long-lived token: a projected one instead');
  const container = pod?.containers.find((c) => c.name === 'gpu-media');
  const env = new Map((container?.env ?? []).map((e) => [e.name, e]));
  assert.equal(env.get('POD_DELETION_COST')?.value, 'true');
  assert.equal(env.get('POD_NAME')?.valueFrom?.fieldRef?.fieldPath, 'metadata.name');
  assert.equal(env.get('POD_NAMESPACE')?.valueFrom?.fieldRef?.fieldPath, 'metadata.namespace');
  const dir = env.get('SERVICE_ACCOUNT_DIR')?.value;
  const mount = container?.volumeMounts?.find((m) => m.mountPath === dir);
  assert.ok(mount?.readOnly, 'the token directory is mounted read-only');
  const volume = pod?.volumes?.find((v) => v.name === mount.name);
  const token = volume?.projected?.sources?.find((s) => s.serviceAccountToken)?.serviceAccountToken;
  assert.equal(token?.path, 'token');
  assert.ok((token?.expirationSeconds ?? Infinity) <= 3600, 'a short-lived token');
  assert.ok(volume?.projected?.sources?.some((s) => s.configMap?.items?.some((i) => i.path === 'ca.crt')), 'the API server CA');
  const egress = find<INetworkPolicy>(objects, 'NetworkPolicy', 'gpu-media-kube-api');
  assert.deepEqual(egress.spec?.policyTypes, ['Egress']);
  assert.deepEqual(egress.spec?.egress?.flatMap((r) => (r.ports ?? []).map((p) => `${p.protocol}/${p.port}`)), ['TCP/443', 'TCP/6443']);
});
