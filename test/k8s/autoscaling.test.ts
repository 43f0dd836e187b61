/**
 * The three autoscaling options (CPU HPA, KEDA, Prometheus Adapter + HPA) and the SLO numbers
 * they share with the alerts and the dashboard. Static: what each controller would do with these
 * objects is encoded from its documented rules (KEDA's fallback validation, the HPA's formulas).
 * That the queries return defined values on real data is test/observability/prometheus-integration.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import YAML from 'yaml';
import type { IHorizontalPodAutoscaler } from 'kubernetes-models/autoscaling/v2/HorizontalPodAutoscaler';
import type { IHPAScalingRules } from 'kubernetes-models/autoscaling/v2/HPAScalingRules';
import type { IDeployment } from 'kubernetes-models/apps/v1/Deployment';
import type { IScaledObject } from '@kubernetes-models/keda/keda.sh/v1alpha1/ScaledObject';
import type { IPrometheusRule } from '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/PrometheusRule';
import { haveTool } from '../tools.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

function load<T>(file: string): T {
  return YAML.parse(fs.readFileSync(path.join(ROOT, file), 'utf8')) as T;
}

const cpuHpa = load<IHorizontalPodAutoscaler>('k8s/hpa-cpu.yaml');
const customHpa = load<IHorizontalPodAutoscaler>('k8s/hpa-latency-custom.yaml');
const keda = load<IScaledObject>('k8s/hpa-keda-latency.yaml');
const rule = load<IPrometheusRule>('k8s/base/gpu-media-prometheusrule.yaml');
const deployment = load<IDeployment>('k8s/base/gpu-media-deployment.yaml');

interface AdapterValues {
  prometheus: { url: string; port: number };
  rules: {
    default: boolean;
    custom: {
      seriesQuery: string;
      resources: { overrides: Record<string, { resource: string }> };
      name: { matches: string; as: string };
      metricsQuery: string;
    }[];
  };
}
const adapter = load<AdapterValues>('observability/prometheus-adapter-values.yaml');

interface Dashboard {
  templating: { list: { name: string; type: string; query: unknown }[] };
}
const dashboard = JSON.parse(fs.readFileSync(path.join(ROOT, 'observability/grafana-dashboard.json'), 'utf8')) as Dashboard;

/** The SLOs, as docs/kubernetes.md states them; every file must agree. */
const SLO = { processP95Seconds: 0.25, frameP95Seconds: 0.02, processLatencyObjective: 0.95, availabilityObjective: 0.995 };

const SEED_QUERY = 'histogram_quantile(0.95, sum(rate(app_request_latency_seconds_bucket[2m])) by (le))';
const PROMETHEUS = 'http://kube-prometheus-stack-prometheus.monitoring.svc:9090';

function quantity(q: string | number | undefined): number {
  if (typeof q === 'number') return q;
  assert.ok(q !== undefined);
  return q.endsWith('m') ? Number(q.slice(0, -1)) / 1000 : Number(q);
}

function triggers() {
  return keda.spec.triggers.map((tr) => {
    const md = tr.metadata;
    assert.ok(md.query && md.threshold && md.serverAddress, `trigger ${tr.name}: query, threshold, serverAddress`);
    return { ...tr, query: md.query, threshold: Number(md.threshold), activation: Number(md.activationThreshold), md };
  });
}

function trigger(name: string) {
  const tr = triggers().find((x) => x.name === name);
  assert.ok(tr, `KEDA trigger ${name}`);
  return tr;
}

test('every autoscaler targets the gpu-media Deployment in rtc with the same bounds', () => {
  const target = { apiVersion: 'apps/v1', kind: 'Deployment', name: 'gpu-media' };
  for (const hpa of [cpuHpa, customHpa]) {
    assert.equal(hpa.metadata?.namespace, 'rtc');
    assert.deepEqual(hpa.spec?.scaleTargetRef, target);
  }
  assert.equal(keda.metadata?.namespace, 'rtc');
  assert.deepEqual(keda.spec.scaleTargetRef, target);
  const bounds = [
    [cpuHpa.spec?.minReplicas, cpuHpa.spec?.maxReplicas],
    [customHpa.spec?.minReplicas, customHpa.spec?.maxReplicas],
    [keda.spec.minReplicaCount, keda.spec.maxReplicaCount],
  ];
  for (const b of bounds) assert.deepEqual(b, bounds[0]);
  // A warm pod is kept: WebRTC sessions cannot wait for a cold start.
  assert.ok((keda.spec.minReplicaCount ?? 0) >= 1);
  const names = [cpuHpa.metadata?.name, customHpa.metadata?.name, `keda-hpa-${keda.metadata?.name}`];
  assert.equal(new Set(names).size, 3, 'distinct HPA names, so scripts/deploy.sh can remove the ones not chosen');
  const deploy = fs.readFileSync(path.join(ROOT, 'scripts/deploy.sh'), 'utf8');
  for (const n of [cpuHpa.metadata?.name, customHpa.metadata?.name, keda.metadata?.name]) assert.ok(deploy.includes(` ${n} --ignore-not-found`), `deploy.sh removes ${n}`);
});

test('scaling behaviour: up at once, down slowly, for all three options', () => {
  const behaviours = [cpuHpa.spec?.behavior, customHpa.spec?.behavior, keda.spec.advanced?.horizontalPodAutoscalerConfig?.behavior];
  for (const b of behaviours) {
    assert.ok(b?.scaleUp && b.scaleDown);
    const up: IHPAScalingRules = b.scaleUp;
    const down: IHPAScalingRules = b.scaleDown;
    assert.equal(up.stabilizationWindowSeconds, 0, 'scale up without waiting');
    assert.ok((up.policies ?? []).some((p) => p.periodSeconds <= 15 && ((p.type === 'Percent' && p.value >= 100) || p.value >= 2)), 'scale up fast');
    assert.ok((down.stabilizationWindowSeconds ?? 0) >= 300, 'scale down after 5 min of lower demand');
    // Each removed pod drains live sessions: at most one pod per SESSION_DRAIN_SECONDS.
    const drain = Number(deployment.spec?.template.spec?.containers[0]?.env?.find((e) => e.name === 'SESSION_DRAIN_SECONDS')?.value);
    assert.ok((down.policies ?? []).length > 0);
    for (const p of down.policies ?? []) {
      assert.equal(p.type, 'Pods');
      assert.ok(p.value / p.periodSeconds <= 1 / drain, `scale down ${p.value} pod(s) per ${p.periodSeconds}s is faster than the drain (${drain}s)`);
    }
  }
});

test('CPU HPA scales on CPU utilisation of the request', () => {
  const [metric] = cpuHpa.spec?.metrics ?? [];
  assert.equal(metric?.type, 'Resource');
  assert.equal(metric?.resource?.name, 'cpu');
  assert.equal(metric?.resource?.target.type, 'Utilization');
  assert.ok((metric?.resource?.target.averageUtilization ?? 0) > 0);
});

test("KEDA: the seed's p95 query, scoped to the namespace and service, plus the WebRTC session load", () => {
  const latency = trigger('process-latency-p95');
  const scoped = SEED_QUERY.replace('_bucket[2m]', '_bucket{namespace="rtc", service="gpu-media"}[2m]');
  assert.ok(latency.query.includes(scoped), `the latency trigger must contain ${scoped}`);
  assert.ok(trigger('webrtc-session-load').query.includes('app_webrtc_sessions_active'));
  assert.ok(trigger('webrtc-session-load').query.includes('app_frame_latency_seconds_bucket'));
  assert.ok(!triggers().some((tr) => tr.name === 'frame-latency-p95'), 'no frame p95 x pods trigger: it runs away (test/k8s/control-loop.test.ts)');
  assert.ok(trigger('process-demand-ratio').query.includes('app_requests_total{namespace="rtc", service="gpu-media", endpoint="/process"}'));
  for (const tr of triggers()) {
    assert.equal(tr.type, 'prometheus');
    assert.equal(tr.md.serverAddress, PROMETHEUS);
    // Every series the query reads is scoped; a bare app_* name would read every namespace.
    for (const m of tr.query.matchAll(/\b(app_[a-z_]+|up)\b(\{[^}]*\})?/g)) {
      assert.ok(m[2]?.includes('namespace="rtc"') && m[2].includes('service="gpu-media"'), `${tr.name}: ${m[0]} is not scoped`);
    }
    // Idle traffic reads 0: no NaN (dropped by `> 0`), no empty vector (filled by vector(0)).
    assert.match(tr.query.trim(), /or on\(\) vector\(0\)$/, `${tr.name}: must read 0 when idle`);
    assert.equal(tr.md.ignoreNullValues, 'true');
    assert.ok(tr.activation > 0 && tr.activation < tr.threshold, `${tr.name}: activationThreshold below threshold`);
  }
});

test("KEDA: fallback is valid under KEDA's own rule (every trigger AverageValue, no cpu/memory trigger)", () => {
  // keda apis/keda/v1alpha1 CheckFallbackValid: fallback only with AverageValue metrics.
  const fb = keda.spec.fallback;
  assert.ok(fb, 'fallback is configured');
  assert.ok(fb.failureThreshold >= 1);
  assert.ok(fb.replicas >= (keda.spec.minReplicaCount ?? 0) && fb.replicas <= (keda.spec.maxReplicaCount ?? 100));
  assert.equal(fb.behavior, 'currentReplicasIfHigher', 'a Prometheus outage must not shrink the service');
  for (const tr of triggers()) {
    assert.notEqual(tr.type, 'cpu');
    assert.notEqual(tr.type, 'memory');
    assert.equal(tr.metricType, 'AverageValue', `${tr.name}: fallback needs AverageValue`);
  }
});

test('KEDA: the /process latency trigger scales proportionally (value = p95 x scraped pods, so desired = ceil(pods x p95 / SLO))', () => {
  // With AverageValue the HPA computes desired = ceil(value / threshold). A plain p95 would ask
  // for ceil(p95 / SLO) pods whatever the current count; multiplying by the pod count gives the
  // proportional rule. Simulate both on numbers.
  const desired = (value: number, threshold: number) => Math.ceil(value / threshold);
  for (const name of ['process-latency-p95']) {
    const tr = trigger(name);
    assert.match(tr.query, /\* on\(\) count\(up\{namespace="rtc", service="gpu-media"\} == 1\)/, `${name}: multiplied by the scraped pod count`);
    const pods = 4;
    // At the SLO with 4 pods: stay at 4. At twice the SLO: double.
    assert.equal(desired(tr.threshold * pods, tr.threshold), 4);
    assert.equal(desired(2 * tr.threshold * pods, tr.threshold), 8);
  }
  // Sessions add up across pods: their sum is already per-pod average material.
  const sessions = trigger('webrtc-session-load');
  const maxSessions = Number(deployment.spec?.template.spec?.containers[0]?.env?.find((e) => e.name === 'MAX_SESSIONS')?.value);
  assert.ok(sessions.threshold < maxSessions, `scale at ${sessions.threshold} sessions per pod, before MAX_SESSIONS (${maxSessions}) refuses new ones`);
  assert.match(sessions.query, new RegExp(`\\b${maxSessions} \\+ 0 \\* \\(`), 'a saturated pod reads MAX_SESSIONS');
});

/**
 * The HPA's rule for one AverageValue metric (kube-controller-manager, replica_calculator.go):
 * inside the 10% tolerance of the target it keeps the current count, else ceil(total / target).
 * It then follows the largest count over its metrics, clamped to min/max.
 */
const HPA_TOLERANCE = 0.1;
function hpaDesired(total: number, target: number, current: number): number {
  const usage = total / (target * current);
  return Math.abs(usage - 1) <= HPA_TOLERANCE ? current : Math.ceil(total / target);
}

/** Evaluates PromQL over synthetic series with promtool (Prometheus's own engine); fails with promtool's diff. */
function promtoolExpect(cases: { name: string; series: Record<string, string>; expr: string; expect: Record<string, number> }[]): void {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rtc-autoscaling-'));
  try {
    fs.writeFileSync(path.join(dir, 'rules.yaml'), 'groups: []\n');
    const tests = cases.map((c) => ({
      name: c.name,
      interval: '1m',
      input_series: Object.entries(c.series).map(([series, values]) => ({ series, values })),
      promql_expr_test: [{ expr: c.expr, eval_time: '4m', exp_samples: Object.entries(c.expect).map(([labels, value]) => ({ labels, value })) }],
    }));
    fs.writeFileSync(path.join(dir, 'test.yaml'), YAML.stringify({ rule_files: ['rules.yaml'], evaluation_interval: '1m', tests }));
    const r = spawnSync('promtool', ['test', 'rules', path.join(dir, 'test.yaml')], { encoding: 'utf8', timeout: 60_000 });
    assert.equal(r.status, 0, `${r.stdout}${r.stderr}`);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

test('KEDA: the refusal trigger asks for pods x offered / (offered - refused) above its threshold, and 0 otherwise (promtool)', (t) => {
  const tr = trigger('process-demand-ratio');
  assert.equal(tr.metricType, 'AverageValue');
  // The trigger speaks only above its own threshold: below it, it must not hold pods (see below).
  const filter = /\)\s*>\s*([0-9.]+)\s*\)\s*\*\s*on\(\) count\(up\{namespace="rtc", service="gpu-media"\} == 1\)/.exec(tr.query);
  assert.ok(filter, `${tr.name}: (ratio > threshold) x scraped pods`);
  assert.equal(Number(filter[1]), tr.threshold, 'the filter is the threshold');
  const cap = Number(/clamp_max\([\s\S]*,\s*([0-9.]+)\s*\)\s*>/.exec(tr.query)?.[1]);
  assert.ok(cap >= 2 && cap <= 20, `ratio capped (${cap})`);
  if (!haveTool(t, 'promtool')) return;

  // Four pods scraped; per-minute increments of /process answers by status.
  const pods = 4;
  const up = Object.fromEntries(Array.from({ length: pods }, (_, i) => [`up{namespace="rtc", service="gpu-media", pod="gpu-media-${i}"}`, '1x5']));
  const answers = (perMinute: Record<string, number>) =>
    Object.fromEntries(
      Object.entries(perMinute).map(([status, n]) => [`app_requests_total{namespace="rtc", service="gpu-media", pod="gpu-media-0", endpoint="/process", status="${status}"}`, `0+${n}x5`]),
    );
  const expected = {
    idle: 0,
    'no /process series yet': 0,
    'client errors only, nothing refused': 0,
    '5% refused: below the threshold': 0,
    'half refused': pods * 2,
    'all refused: capped': pods * cap,
  };
  promtoolExpect(
    (
      [
        ['idle', answers({ 200: 0 })],
        ['no /process series yet', {}],
        ['client errors only, nothing refused', answers({ 200: 480, 422: 120 })],
        ['5% refused: below the threshold', answers({ 200: 570, 503: 30 })],
        // Another namespace's refusals do not count.
        ['half refused', { ...answers({ 200: 300, 503: 300 }), 'app_requests_total{namespace="other", service="gpu-media", endpoint="/process", status="503"}': '0+6000x5' }],
        ['all refused: capped', answers({ 503: 600 })],
      ] as const
    ).map(([name, series]) => ({ name, series: { ...up, ...series }, expr: tr.query, expect: { '{}': expected[name] } })),
  );

  // What the HPA makes of those values with 4 pods: nothing from the silent cases (the other
  // triggers decide), twice the pods when half is refused, maxReplicaCount when all is.
  const max = keda.spec.maxReplicaCount ?? 100;
  assert.equal(hpaDesired(expected.idle, tr.threshold, pods), 0);
  assert.equal(hpaDesired(expected['5% refused: below the threshold'], tr.threshold, pods), 0);
  assert.equal(hpaDesired(expected['half refused'], tr.threshold, pods), 2 * pods);
  assert.equal(Math.min(max, hpaDesired(expected['all refused: capped'], tr.threshold, pods)), max);
  // Why the filter: unfiltered, a pod count with nothing refused (ratio 1) would sit inside the
  // tolerance and hold the current count at every size, so the HPA could never scale down.
  for (let current = 1; current <= max; current++) assert.equal(hpaDesired(current * 1, tr.threshold, current), current);
  // Just above the threshold it holds; clearly above, it scales out.
  assert.equal(hpaDesired(pods * 1.15, tr.threshold, pods), pods);
  assert.equal(hpaDesired(pods * 1.5, tr.threshold, pods), Math.ceil((pods * 1.5) / tr.threshold));
});

test('Prometheus Adapter: app_demand_ratio is 1 / (1 - refusal ratio) per pod above the threshold, 0 below, capped (promtool)', (t) => {
  const rule = adapter.rules.custom.find((r) => r.name.as === 'app_demand_ratio');
  assert.ok(rule, 'an adapter rule serves app_demand_ratio');
  assert.match(rule.seriesQuery, /^app_request_refusal_ratio\{/);
  assert.ok(new RegExp(rule.name.matches).test('app_request_refusal_ratio'));
  assert.deepEqual(rule.resources.overrides, { namespace: { resource: 'namespace' }, pod: { resource: 'pod' } });
  const metric = (customHpa.spec?.metrics ?? []).find((m) => m.pods?.metric.name === 'app_demand_ratio');
  assert.equal(metric?.type, 'Pods');
  assert.equal(metric?.pods?.target.type, 'AverageValue');
  const target = quantity(metric?.pods?.target.averageValue);
  assert.equal(Number(/\)\s*>\s*([0-9.]+)\s*\)/.exec(rule.metricsQuery)?.[1]), target, 'the filter is the HPA target');
  if (!haveTool(t, 'promtool')) return;

  // Templated as the adapter does for the pods of namespace rtc.
  const pods = ['gpu-media-0', 'gpu-media-1', 'gpu-media-2', 'gpu-media-3'];
  const query = rule.metricsQuery
    .replaceAll('<<.Series>>', 'app_request_refusal_ratio')
    .replaceAll('<<.LabelMatchers>>', `namespace="rtc",pod=~"${pods.join('|')}"`)
    .replaceAll('<<.GroupBy>>', 'pod');
  const ratios = [0, 0.05, 0.5, 1];
  const series = Object.fromEntries(pods.map((pod, i) => [`app_request_refusal_ratio{namespace="rtc", service="gpu-media", pod="${pod}"}`, `${ratios[i]}x5`]));
  // Nothing refused and 5% refused read 0; half refused reads 2 (twice the pod); all refused the cap, 10.
  const values = [0, 0, 2, 10];
  promtoolExpect([{ name: 'demand per pod', series, expr: query, expect: Object.fromEntries(pods.map((pod, i) => [`{pod="${pod}"}`, values[i] ?? NaN])) }]);
  promtoolExpect([{ name: 'idle pods read 0', series: Object.fromEntries(pods.map((pod) => [`app_request_refusal_ratio{namespace="rtc", pod="${pod}"}`, '0x5'])), expr: query, expect: Object.fromEntries(pods.map((pod) => [`{pod="${pod}"}`, 0])) }]);
  // The HPA: the pods' values summed against the target (ceil(12 / 1.1) = 11, clamped to maxReplicas).
  const max = customHpa.spec?.maxReplicas ?? 100;
  assert.equal(Math.min(max, hpaDesired(values.reduce((a, b) => a + b, 0), target, pods.length)), max);
  assert.equal(hpaDesired(0, target, pods.length), 0, 'idle pods never hold the count');
});

test('Prometheus Adapter maps app_request_latency_p95_seconds to app_latency_p95_seconds for the custom HPA', () => {
  assert.equal(adapter.rules.default, false, 'only this service is exposed');
  assert.equal(`${adapter.prometheus.url}:${adapter.prometheus.port}`, PROMETHEUS);
  const [r] = adapter.rules.custom;
  assert.ok(r);
  assert.match(r.seriesQuery, /^app_request_latency_p95_seconds\{/);
  assert.ok(new RegExp(r.name.matches).test('app_request_latency_p95_seconds'));
  assert.equal(r.name.as, 'app_latency_p95_seconds');
  assert.deepEqual(r.resources.overrides, { namespace: { resource: 'namespace' }, pod: { resource: 'pod' } });
  for (const placeholder of ['<<.Series>>', '<<.LabelMatchers>>', '<<.GroupBy>>']) assert.ok(r.metricsQuery.includes(placeholder), placeholder);
  const [metric] = customHpa.spec?.metrics ?? [];
  assert.equal(metric?.type, 'Pods');
  assert.equal(metric?.pods?.metric.name, r.name.as);
  assert.equal(metric?.pods?.target.type, 'AverageValue');
});

test('the SLOs and the demand threshold agree across KEDA, the custom HPA, the PrometheusRule, the dashboard and the Deployment', () => {
  assert.equal(trigger('process-latency-p95').threshold, SLO.processP95Seconds);
  assert.match(trigger('webrtc-session-load').query, new RegExp(`\\) > ${SLO.frameP95Seconds}\\n`), 'a pod whose frame median is over the frame SLO is saturated');
  assert.equal(quantity(customHpa.spec?.metrics?.[0]?.pods?.target.averageValue), SLO.processP95Seconds);

  const records = new Map((rule.spec.groups ?? []).flatMap((g) => g.rules ?? []).flatMap((r) => (r.record ? [[r.record, String(r.expr).trim()]] : [])));
  assert.equal(records.get('gpu_media:slo_process_p95_seconds:target'), `vector(${SLO.processP95Seconds})`);
  assert.equal(records.get('gpu_media:slo_frame_p95_seconds:target'), `vector(${SLO.frameP95Seconds})`);
  assert.equal(records.get('gpu_media:slo_process_latency:objective'), `vector(${SLO.processLatencyObjective})`);
  assert.equal(records.get('gpu_media:slo_process_availability:objective'), `vector(${SLO.availabilityObjective})`);
  // The latency SLI counts requests above the SLO with the histogram bucket at the SLO.
  const slow = [...records.entries()].filter(([k]) => k.includes('slow_ratio'));
  assert.equal(slow.length, 7);
  for (const [k, expr] of slow) {
    const buckets = [...expr.matchAll(/le="([^"]+)"/g)].map((m) => Number(m[1]));
    assert.deepEqual(buckets, [SLO.processP95Seconds], k);
  }

  // The demand threshold: KEDA's refusal trigger, the custom HPA's demand target, the dashboard's line.
  const demand = trigger('process-demand-ratio').threshold;
  const demandMetric = (customHpa.spec?.metrics ?? []).find((m) => m.pods?.metric.name === 'app_demand_ratio');
  assert.equal(quantity(demandMetric?.pods?.target.averageValue), demand);

  const constants = new Map(dashboard.templating.list.filter((v) => v.type === 'constant').map((v) => [v.name, Number(v.query)]));
  assert.equal(constants.get('demand_ratio_threshold'), demand);
  assert.equal(constants.get('slo_p95_seconds'), SLO.processP95Seconds);
  assert.equal(constants.get('slo_frame_p95_seconds'), SLO.frameP95Seconds);
  assert.equal(constants.get('slo_availability'), SLO.availabilityObjective);

  const env = deployment.spec?.template.spec?.containers[0]?.env ?? [];
  assert.equal(Number(env.find((e) => e.name === 'FRAME_SLO_MS')?.value) / 1000, SLO.frameP95Seconds);

  const docs = fs.readFileSync(path.join(ROOT, 'docs/kubernetes.md'), 'utf8');
  for (const text of ['0.25 s', '20 ms', '99.5%', '95%']) assert.ok(docs.includes(text), `docs/kubernetes.md states ${text}`);
});
