/**
 * The environment the manifests and docker-compose.yml give the service is a configuration the
 * service accepts: every variable is one it reads (a misspelt name would be silently ignored),
 * and loadConfig, the service's own validation, takes the values as they arrive in the pod.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import YAML from 'yaml';
import type { IContainer } from 'kubernetes-models/v1/Container';
import type { IDeployment } from 'kubernetes-models/apps/v1/Deployment';
import { SETTINGS, loadConfig } from '../../src/config.ts';
import { haveTool } from '../tools.ts';
import { renderedBuild } from './renders.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** Read by libraries in the container, not by the service's configuration. */
const NOT_SERVICE_SETTINGS = new Set(['CUDA_CACHE_PATH']);


function ceilCpu(q: string | number | undefined): string {
  assert.ok(q !== undefined, 'limits.cpu');
  const n = typeof q === 'number' ? q : q.endsWith('m') ? Number(q.slice(0, -1)) / 1000 : Number(q);
  return String(Math.ceil(n));
}

/** The variables as the kubelet would set them (downward API and Secrets resolved). */
function podEnvironment(c: IContainer): Record<string, string> {
  const env: Record<string, string> = {};
  for (const e of c.env ?? []) {
    if (e.value !== undefined) env[e.name] = e.value;
    else if (e.valueFrom?.resourceFieldRef?.resource === 'limits.cpu') env[e.name] = ceilCpu(c.resources?.limits?.cpu);
    else if (e.valueFrom?.fieldRef?.fieldPath === 'status.hostIP') env[e.name] = '10.128.0.7';
    else if (e.valueFrom?.fieldRef?.fieldPath === 'status.podIP') env[e.name] = '10.4.2.17';
    else if (e.valueFrom?.fieldRef?.fieldPath === 'metadata.name') env[e.name] = 'gpu-media-7d9f8c6b5-x2x9q';
    else if (e.valueFrom?.fieldRef?.fieldPath === 'metadata.namespace') env[e.name] = 'rtc';
    else if (e.valueFrom?.secretKeyRef?.name === 'gpu-media-fleet' && e.name === 'FLEET_SECRET')
      // What scripts/deploy.sh writes: openssl rand -base64 32.
      env[e.name] = 'q3v2pX0d8kVfJm1yYc4Hn7tRzW5eLsAoBgUiNxQ6Ek8=';
    else if (e.valueFrom?.secretKeyRef?.name === 'gpu-media-ice' && e.name === 'ICE_SERVERS')
      // The shape scripts/deploy.sh and docs/kubernetes.md write into the Secret.
      env[e.name] = '[{"urls":["turn:203.0.113.7:3478?transport=udp","turn:203.0.113.7:3478?transport=tcp"]}]';
    else if (e.valueFrom?.secretKeyRef?.name === 'gpu-media-ice' && e.name === 'TURN_SECRET') env[e.name] = 'Zm9yIHRoZSB0ZXN0IG9ubHksIDMyIGJ5dGVzIGxvbmc=';
    else assert.fail(`${e.name}: no rule to resolve ${JSON.stringify(e.valueFrom)}`);
  }
  return env;
}

const KNOWN = new Set<string>(Object.values(SETTINGS).map((s) => s.env));

function check(where: string, env: Record<string, string>): void {
  for (const name of Object.keys(env)) assert.ok(KNOWN.has(name) || NOT_SERVICE_SETTINGS.has(name), `${where}: ${name} is not a setting the service reads`);
  const config = loadConfig(env);
  // Enough media ports for every session the pod admits.
  if (config.rtcPortMin !== undefined && config.rtcPortMax !== undefined)
    assert.ok(config.rtcPortMax - config.rtcPortMin + 1 >= config.maxSessions, `${where}: fewer RTC ports than MAX_SESSIONS`);
}

test('every build gives the service a configuration it accepts, with only variables it reads', (t) => {
  if (!haveTool(t, 'kubectl')) return;
  for (const overlay of ['gpu', 'cpu'])
    for (const webrtc of ['none', 'turn', 'hostport']) {
      const text = renderedBuild(overlay, webrtc);
      const deployment = YAML.parseAllDocuments(text)
        .map((d) => d.toJS() as { kind?: string; metadata?: { name?: string } })
        .find((o) => o.kind === 'Deployment' && o.metadata?.name === 'gpu-media') as IDeployment | undefined;
      const c = deployment?.spec?.template.spec?.containers.find((x) => x.name === 'gpu-media');
      assert.ok(c, `overlay ${overlay}, webrtc ${webrtc}: gpu-media container`);
      const where = `overlay ${overlay}, webrtc ${webrtc}`;
      const env = podEnvironment(c);
      assert.doesNotThrow(() => check(where, env), where);
      const config = loadConfig(env);
      assert.equal(config.port, 8080);
      assert.equal(config.metricsPort, 8081, '/metrics on its own port, not the public one');
      assert.ok(c.ports?.some((p) => p.name === 'metrics' && p.containerPort === config.metricsPort), 'the metrics port is declared');
      assert.equal(config.device, overlay === 'gpu' ? 'cuda' : 'cpu');
    }
});

test('docker-compose.yml gives the service a configuration it accepts', () => {
  const compose = YAML.parse(fs.readFileSync(path.join(ROOT, 'docker-compose.yml'), 'utf8')) as {
    services: Record<string, { environment?: Record<string, string> }>;
  };
  const raw = compose.services['gpu-media']?.environment;
  assert.ok(raw);
  // Compose's own interpolation, for the `${NAME:-default}` form the file uses.
  const env = Object.fromEntries(Object.entries(raw).map(([k, v]) => [k, String(v).replace(/^\$\{[A-Z_]+:-(.*)\}$/, '$1')]));
  check('docker-compose.yml', env);
  assert.equal(loadConfig(env).device, 'cpu');
});
