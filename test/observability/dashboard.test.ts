/**
 * The Grafana dashboard imports into current Grafana (schema, variables, data sources, layout)
 * and covers what the issue asks to see; the laptop stack (docker-compose.yml, Grafana
 * provisioning, prometheus.yml) points at files that exist and agrees with itself.
 * That every query returns data is test/observability/prometheus-integration.test.ts.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import YAML from 'yaml';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

interface Target {
  refId: string;
  expr: string;
  legendFormat?: string;
  datasource?: { type: string; uid: string };
}
interface Panel {
  id: number;
  type: string;
  title: string;
  description?: string;
  datasource?: { type: string; uid: string };
  gridPos: { x: number; y: number; w: number; h: number };
  targets?: Target[];
  fieldConfig?: { defaults?: { unit?: string } };
}
interface Variable {
  name: string;
  type: string;
  query: unknown;
  datasource?: { type: string; uid: string };
  current?: { value?: string };
  hide?: number;
}
interface Dashboard {
  uid: string;
  title: string;
  schemaVersion: number;
  id: unknown;
  panels: Panel[];
  templating: { list: Variable[] };
  time: { from: string; to: string };
}

const dashboard = JSON.parse(fs.readFileSync(path.join(ROOT, 'observability/grafana-dashboard.json'), 'utf8')) as Dashboard;
const exprs = dashboard.panels.flatMap((p) => (p.targets ?? []).map((t) => ({ panel: p, target: t })));

test('the dashboard is current Grafana JSON: schemaVersion >= 39, a uid, no instance id', () => {
  assert.ok(dashboard.schemaVersion >= 39, `schemaVersion ${dashboard.schemaVersion}`);
  assert.match(dashboard.uid, /^[a-zA-Z0-9_-]{1,40}$/);
  assert.equal(dashboard.id, null, 'an exported id ties the file to one Grafana instance');
  assert.ok(dashboard.title);
});

test('variables: a Prometheus data source, namespace and service (defaulting to rtc / gpu-media), hidden SLO and autoscaler constants', () => {
  const vars = new Map(dashboard.templating.list.map((v) => [v.name, v]));
  const ds = vars.get('datasource');
  assert.equal(ds?.type, 'datasource');
  assert.equal(ds?.query, 'prometheus');
  for (const [name, def] of [
    ['namespace', 'rtc'],
    ['service', 'gpu-media'],
  ] as const) {
    const v = vars.get(name);
    assert.equal(v?.type, 'query', name);
    assert.deepEqual(v?.datasource, { type: 'prometheus', uid: '${datasource}' }, name);
    assert.equal(v?.current?.value, def, name);
    const q = v?.query as { query?: string } | undefined;
    assert.match(q?.query ?? '', /^label_values\(app_[a-z_]+(\{[^}]*\})?, [a-z_]+\)$/, `${name}: label_values query`);
  }
  assert.match(String((vars.get('service')?.query as { query?: string }).query), /namespace="\$namespace"/, 'service depends on namespace');
  for (const name of ['slo_p95_seconds', 'slo_frame_p95_seconds', 'slo_availability', 'demand_ratio_threshold']) {
    const v = vars.get(name);
    assert.equal(v?.type, 'constant', name);
    assert.equal(v?.hide, 2, `${name} is hidden`);
    assert.ok(Number.isFinite(Number(v?.query)), name);
  }
});

test('every panel and query uses the $datasource variable; ids are unique; the layout has no overlaps', () => {
  const ids = dashboard.panels.map((p) => p.id);
  assert.equal(new Set(ids).size, ids.length, 'unique panel ids');
  const cells = new Set<string>();
  for (const p of dashboard.panels) {
    assert.deepEqual(p.datasource, { type: 'prometheus', uid: '${datasource}' }, p.title);
    for (const t of p.targets ?? []) assert.deepEqual(t.datasource, { type: 'prometheus', uid: '${datasource}' }, `${p.title} ${t.refId}`);
    const refIds = (p.targets ?? []).map((t) => t.refId);
    assert.equal(new Set(refIds).size, refIds.length, `${p.title}: unique refIds`);
    const { x, y, w, h } = p.gridPos;
    assert.ok(x >= 0 && w > 0 && x + w <= 24 && h > 0, `${p.title}: inside the 24-column grid`);
    for (let i = x; i < x + w; i++)
      for (let j = y; j < y + h; j++) {
        assert.ok(!cells.has(`${i},${j}`), `${p.title} overlaps another panel`);
        cells.add(`${i},${j}`);
      }
    assert.ok(p.description, `${p.title}: a description`);
  }
});

test('the dashboard shows what the issue asks for', () => {
  const has = (title: RegExp, expr: RegExp) =>
    assert.ok(
      exprs.some(({ panel, target }) => title.test(panel.title) && expr.test(target.expr)),
      `no panel ${title} with a query ${expr}`,
    );
  has(/latency/, /histogram_quantile\(0\.50, .*app_request_latency_seconds_bucket/);
  has(/latency/, /histogram_quantile\(0\.95, .*app_request_latency_seconds_bucket/);
  has(/latency/, /histogram_quantile\(0\.99, .*app_request_latency_seconds_bucket/);
  has(/latency/, /^vector\(\$slo_p95_seconds\)$/);
  has(/by status/, /sum by \(status\) \(rate\(app_requests_total/);
  has(/error ratio/, /status=~"5\.\."/);
  has(/[Ii]n-flight/, /app_inflight_requests/);
  has(/queue/, /app_queue_depth/);
  has(/Replicas/, /kube_deployment_status_replicas_available/);
  has(/Replicas/, /kube_horizontalpodautoscaler_status_desired_replicas/);
  has(/CPU/, /process_cpu_seconds_total/);
  has(/GPU utilisation/, /DCGM_FI_DEV_GPU_UTIL/);
  has(/GPU memory/, /DCGM_FI_DEV_FB_USED/);
  has(/WebRTC sessions/, /app_webrtc_sessions_active/);
  has(/frame latency/, /histogram_quantile\(0\.95, .*app_frame_latency_seconds_bucket/);
  has(/frame latency/, /^vector\(\$slo_frame_p95_seconds\)$/);
  has(/dropped/, /app_frames_dropped_total/);
  has(/GPU fallbacks/, /app_gpu_fallback_total/);
  // Surge: demand against capacity, which the latency panels do not show once the pods shed load.
  has(/offered vs served vs refused/, /^sum\(rate\(app_requests_total\{[^}]*endpoint="\/process"\}\[\$__rate_interval\]\)\) or on\(\) vector\(0\)$/);
  has(/offered vs served vs refused/, /^sum\(rate\(app_requests_total\{[^}]*endpoint="\/process", status=~"2\.\."\}/);
  has(/offered vs served vs refused/, /^sum\(rate\(app_requests_total\{[^}]*endpoint="\/process", status="503"\}/);
  has(/refusal ratio/, /status="503".*\/ clamp_min\(sum\(rate\(app_requests_total\{[^}]*endpoint="\/process"\}/);
  has(/refusal ratio/, /^max\(app_request_refusal_ratio\{/);
  has(/refusal ratio/, /^vector\(1 - 1 \/ \$demand_ratio_threshold\)$/);
  has(/[Ee]vent loop utilisation/, /rate\(app_event_loop_busy_seconds_total\{/);
});

test('the surge panels: offered, served and refused side by side in req/s, and the refusal ratio as a share', () => {
  const panel = (title: RegExp) => {
    const p = dashboard.panels.find((x) => title.test(x.title));
    assert.ok(p, `panel ${title}`);
    return p;
  };
  const rates = panel(/offered vs served vs refused/);
  assert.equal(rates.fieldConfig?.defaults?.unit, 'reqps');
  // The three series of one panel: served and refused are parts of offered, so one unit, one axis.
  assert.deepEqual(
    (rates.targets ?? []).map((t) => t.legendFormat),
    ['offered', 'served (2xx)', 'refused (503)'],
  );
  const ratio = panel(/refusal ratio/);
  assert.equal(ratio.fieldConfig?.defaults?.unit, 'percentunit');
  // Where the two panels sit: beside each other, right under the latency row, where a surge is seen first.
  assert.equal(rates.gridPos.y, ratio.gridPos.y);
  assert.equal(rates.gridPos.y, Math.max(...dashboard.panels.filter((p) => /latency p50/.test(p.title)).map((p) => p.gridPos.y + p.gridPos.h)));
  assert.equal(panel(/[Ee]vent loop utilisation/).fieldConfig?.defaults?.unit, 'percentunit');
});

test('every query is scoped to the selected namespace (and service), and service queries read 0 rather than nothing', () => {
  for (const { panel, target } of exprs) {
    const where = `${panel.title} ${target.refId}`;
    if (/^vector\(/.test(target.expr)) continue;
    for (const m of target.expr.matchAll(/\b([a-zA-Z_:][a-zA-Z0-9_:]*)\{([^}]*)\}/g)) {
      assert.match(m[2] ?? '', /namespace="\$namespace"/, `${where}: ${m[1]} not scoped to $namespace`);
      if ((m[1] ?? '').startsWith('app_')) assert.match(m[2] ?? '', /service="\$service"/, `${where}: ${m[1]} not scoped to $service`);
    }
    if (/\bapp_/.test(target.expr)) assert.match(target.expr, /or on\(\) vector\(0\)$/, `${where}: must read 0 when idle`);
  }
});

// ---------------------------------------------------------------------------------------------
// The laptop stack

interface Compose {
  services: Record<
    string,
    {
      image?: string;
      build?: { context: string; dockerfile: string };
      volumes?: string[];
      ports?: string[];
      command?: string[];
      environment?: Record<string, string>;
      read_only?: boolean;
      cap_drop?: string[];
      user?: string;
    }
  >;
}

test('docker-compose.yml: the service, Prometheus and Grafana, pinned images, existing mounts, loopback ports', () => {
  const compose = YAML.parse(fs.readFileSync(path.join(ROOT, 'docker-compose.yml'), 'utf8')) as Compose;
  assert.deepEqual(Object.keys(compose.services).sort(), ['balancer', 'gpu-media', 'grafana', 'prometheus']);
  for (const [name, svc] of Object.entries(compose.services)) {
    assert.ok(svc.image, `${name}: image`);
    const tag = svc.image.split('/').pop()?.split(':')[1];
    assert.ok(tag && tag !== 'latest', `${name}: image ${svc.image} must be pinned`);
    for (const v of svc.volumes ?? []) {
      const [src] = v.split(':');
      if (src?.startsWith('./')) assert.ok(fs.existsSync(path.join(ROOT, src)), `${name}: mounts missing ${src}`);
    }
    for (const p of svc.ports ?? []) assert.match(p, /^127\.0\.0\.1:/, `${name}: port ${p} must bind to loopback`);
  }
  const media = compose.services['gpu-media'];
  assert.ok(media?.build && fs.existsSync(path.join(ROOT, 'k8s')), 'gpu-media builds from the repository');
  assert.equal(media.build.dockerfile, 'Dockerfile');
  assert.equal(media.read_only, true);
  assert.deepEqual(media.cap_drop, ['ALL']);
  assert.equal(media.user, '10001:10001');
  assert.equal(media.environment?.PORT, '8080');
  // Prometheus gets the config and the generated rules where prometheus.yml expects them.
  const prom = compose.services.prometheus;
  assert.ok(prom?.volumes);
  assert.ok(prom.volumes.includes('./observability/prometheus.yml:/etc/prometheus/prometheus.yml:ro'));
  assert.ok(prom.volumes.includes('./observability/rules:/etc/prometheus/rules:ro'));
  assert.ok(prom.command?.includes('--config.file=/etc/prometheus/prometheus.yml'));
  // Grafana: the provisioned dashboard path is where the provider looks.
  const grafana = compose.services.grafana;
  assert.ok(grafana?.volumes);
  const dashMount = grafana.volumes.find((v) => v.startsWith('./observability/grafana-dashboard.json:'));
  assert.ok(dashMount, 'the dashboard is mounted');
  const inContainer = dashMount.split(':')[1] ?? '';
  interface Providers {
    providers: { type: string; options: { path: string } }[];
  }
  const providers = YAML.parse(fs.readFileSync(path.join(ROOT, 'observability/grafana/provisioning/dashboards/rtc-scale.yaml'), 'utf8')) as Providers;
  assert.ok(providers.providers.some((p) => p.type === 'file' && inContainer.startsWith(`${p.options.path}/`)), 'provider path holds the dashboard');
  assert.ok(grafana.volumes?.includes('./observability/grafana/provisioning:/etc/grafana/provisioning:ro'));
  interface Datasources {
    datasources: { type: string; url: string; isDefault?: boolean }[];
  }
  const ds = YAML.parse(fs.readFileSync(path.join(ROOT, 'observability/grafana/provisioning/datasources/prometheus.yaml'), 'utf8')) as Datasources;
  assert.deepEqual(
    ds.datasources.map((d) => [d.type, d.url, d.isDefault]),
    [['prometheus', 'http://prometheus:9090', true]],
  );
});

test('observability/prometheus.yml scrapes the service with the labels a ServiceMonitor would add', () => {
  interface PromConfig {
    rule_files: string[];
    scrape_configs: { job_name: string; static_configs: { targets: string[]; labels?: Record<string, string> }[] }[];
  }
  const cfg = YAML.parse(fs.readFileSync(path.join(ROOT, 'observability/prometheus.yml'), 'utf8')) as PromConfig;
  const job = cfg.scrape_configs.find((j) => j.job_name === 'gpu-media');
  assert.ok(job, 'job gpu-media (the rules select job="gpu-media")');
  // One target per replica of docker-compose.yml (test/fleet/haproxy-fleet.test.ts checks they agree).
  assert.ok(job.static_configs.length >= 1);
  const pods = new Set<string>();
  for (const sc of job.static_configs) {
    assert.equal(sc.targets.length, 1);
    assert.match(sc.targets[0] ?? '', /^rtc-scale-gpu-media-\d+:8080$/);
    for (const label of ['namespace', 'service', 'pod']) assert.ok(sc.labels?.[label], `target label ${label}`);
    assert.equal(sc.labels?.namespace, 'rtc');
    assert.equal(sc.labels?.service, 'gpu-media');
    pods.add(sc.labels?.pod ?? '');
  }
  assert.equal(pods.size, job.static_configs.length, 'each replica its own pod label');
  assert.deepEqual(cfg.rule_files, ['rules/*.yaml']);
});
