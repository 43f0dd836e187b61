/**
 * Every PromQL expression the kit ships, evaluated by a real Prometheus scraping the real
 * service: the KEDA triggers, the Prometheus Adapter rule (templated as the adapter does), the
 * PrometheusRule's records and alerts (loaded as rule files, so recorded series exist), and the
 * dashboard's queries and variables (Grafana's variables substituted).
 *
 * - Everything must parse (Prometheus answers status "success").
 * - Expressions over the service's own series (app_*, process_*, nodejs_*, up, and what is
 *   recorded from them) must return data with no NaN or infinity, both while idle and after a
 *   bounded load. Alerts must parse and carry no NaN; whether they fire is promtool's job.
 * - kube-state-metrics, cAdvisor and DCGM series (kube_*, container_*, DCGM_*) cannot exist
 *   here: those expressions are checked to parse only.
 * - The demand signals read what happened: the refusal ratio, the KEDA refusal trigger and the
 *   adapter's demand metric are 0 while idle and above the autoscaling threshold once a good
 *   share of the requests is refused.
 *
 * Refusals come from the memory budget (a /process POST that declares more bytes than
 * MEMORY_BUDGET_BYTES is answered 503 before its body is read), not from the queue, so how many
 * there are does not depend on the machine's speed or on how the engine queues its jobs.
 *
 * Both processes listen on 127.0.0.1 only and are killed when the test ends.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import YAML from 'yaml';
import type { IPrometheusRule } from '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/PrometheusRule';
import type { IScaledObject } from '@kubernetes-models/keda/keda.sh/v1alpha1/ScaledObject';
import { haveTool } from '../tools.ts';
import { freePort } from '../ports.ts';
import { waitUntil } from '../wait.ts';
import { nodeArgsFor } from '../../src/engine/compiled-current.mjs';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const SCRAPE_SECONDS = 1;
/** What Grafana would use for $__rate_interval with a 1 s scrape and a short time range. */
const GRAFANA_RATE_INTERVAL = '15s';


function readYaml<T>(file: string): T {
  return YAML.parse(fs.readFileSync(path.join(ROOT, file), 'utf8')) as T;
}


const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** A child process whose output is kept (the tail goes into failure messages). */
function start(cmd: string, args: string[], env: NodeJS.ProcessEnv): { proc: ChildProcess; log: () => string } {
  const proc = spawn(cmd, args, { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  const keep = (chunk: Buffer) => {
    out = (out + chunk.toString()).slice(-4000);
  };
  proc.stdout?.on('data', keep);
  proc.stderr?.on('data', keep);
  return { proc, log: () => out };
}

async function stop(proc: ChildProcess): Promise<void> {
  if (proc.exitCode !== null || proc.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
  proc.kill('SIGTERM');
  const timer = setTimeout(() => proc.kill('SIGKILL'), 5000);
  await exited;
  clearTimeout(timer);
}

interface Sample {
  metric: Record<string, string>;
  value: [number, string];
}
interface QueryResult {
  status: string;
  error?: string;
  data?: { resultType: string; result: Sample[] | [number, string] };
}

// ---------------------------------------------------------------------------------------------
// The expressions

interface Expression {
  readonly source: string;
  readonly query: string;
  /** Alerts: parse and no NaN; their emptiness is expected. */
  readonly alert?: boolean;
  /** Grafana label_values(): every series must carry this label. */
  readonly label?: string;
}

function prometheusRuleGroups() {
  const groups = readYaml<IPrometheusRule>('k8s/base/gpu-media-prometheusrule.yaml').spec.groups;
  assert.ok(groups);
  return groups;
}

function kedaExpressions(): Expression[] {
  const so = readYaml<IScaledObject>('k8s/hpa-keda-latency.yaml');
  return so.spec.triggers.map((tr) => {
    assert.ok(tr.metadata.query);
    return { source: `KEDA trigger ${tr.name}`, query: tr.metadata.query };
  });
}

interface AdapterRule {
  seriesQuery: string;
  name: { matches: string; as: string };
  metricsQuery: string;
}

/** Templated the way prometheus-adapter does for a Pods metric over the given pods. */
function adapterExpressions(pod: string): Expression[] {
  const rules = readYaml<{ rules: { custom: AdapterRule[] } }>('observability/prometheus-adapter-values.yaml').rules.custom;
  return rules.flatMap((r, i) => {
    const series = /^([a-zA-Z_:][a-zA-Z0-9_:]*)/.exec(r.seriesQuery)?.[1];
    assert.ok(series, r.seriesQuery);
    const query = r.metricsQuery
      .replaceAll('<<.Series>>', series)
      .replaceAll('<<.LabelMatchers>>', `namespace="rtc",pod=~"${pod}"`)
      .replaceAll('<<.GroupBy>>', 'pod');
    assert.doesNotMatch(query, /<<|>>/, 'every adapter placeholder substituted');
    return [
      { source: `adapter rule ${i} seriesQuery`, query: r.seriesQuery },
      { source: `adapter rule ${i} metricsQuery (${r.name.as})`, query },
    ];
  });
}

function ruleExpressions(): Expression[] {
  return prometheusRuleGroups().flatMap((g) =>
    (g.rules ?? []).flatMap((r): Expression[] =>
      r.record
        ? [
            { source: `record ${r.record} (expr)`, query: String(r.expr) },
            { source: `record ${r.record} (recorded series)`, query: r.record },
          ]
        : [{ source: `alert ${r.alert}`, query: String(r.expr), alert: true }],
    ),
  );
}

interface Dashboard {
  templating: { list: { name: string; type: string; query: unknown }[] };
  panels: { title: string; targets?: { refId: string; expr: string }[] }[];
}

function dashboardExpressions(): Expression[] {
  const dash = JSON.parse(fs.readFileSync(path.join(ROOT, 'observability/grafana-dashboard.json'), 'utf8')) as Dashboard;
  const values: Record<string, string> = {
    namespace: 'rtc',
    service: 'gpu-media',
    __rate_interval: GRAFANA_RATE_INTERVAL,
    __interval: '5s',
    __range: '5m',
  };
  for (const v of dash.templating.list) if (v.type === 'constant') values[v.name] = String(v.query);
  const substitute = (expr: string, where: string) =>
    expr.replace(/\$\{?(\w+)\}?/g, (_, name: string) => {
      const value = values[name];
      assert.ok(value !== undefined, `${where}: unknown variable $${name}`);
      return value;
    });
  const out: Expression[] = [];
  for (const v of dash.templating.list) {
    if (v.type !== 'query') continue;
    // label_values(selector, label): the selector must return series carrying the label.
    const q = (v.query as { query: string }).query;
    const m = /^label_values\((.+), (\w+)\)$/.exec(q);
    assert.ok(m?.[1] && m[2], `variable ${v.name}: ${q}`);
    out.push({ source: `dashboard variable ${v.name}`, query: substitute(m[1], v.name), label: m[2] });
  }
  for (const p of dash.panels)
    for (const t of p.targets ?? []) out.push({ source: `dashboard "${p.title}" ${t.refId}`, query: substitute(t.expr, p.title) });
  return out;
}

/** The expression a source names, e.g. the KEDA trigger or adapter metric the checks below read. */
function expressionOf(expressions: Expression[], source: string): string {
  const e = expressions.find((x) => x.source === source);
  assert.ok(e, `no expression ${source}`);
  return e.query;
}

const MiB = 1024 * 1024;
/** Small enough that a declared 4K raw frame (twice its 33 MB: it is answered with a copy) never fits. */
const MEMORY_BUDGET_BYTES = 16 * MiB;

/**
 * A /process POST declaring a 4K raw frame, headers only: refused at once with 503 (reason memory)
 * before a byte of the body is read. Resolves to the status, or -1 when the connection failed.
 */
function refusedRequest(base: string): Promise<number> {
  return new Promise((resolve) => {
    const headers = { 'content-type': 'application/octet-stream', 'content-length': String(3840 * 2160 * 4) };
    const req = http.request(`${base}/process?pixels=3840x2160`, { method: 'POST', headers }, (res) => {
      res.resume();
      res.on('end', () => {
        req.destroy();
        resolve(res.statusCode ?? 0);
      });
    });
    req.on('error', () => resolve(-1));
    req.flushHeaders();
  });
}

/** Series that only exist in a cluster (kube-state-metrics, cAdvisor, DCGM). */
const CLUSTER_ONLY = /\b(kube_|container_|DCGM_)\w*/;

// ---------------------------------------------------------------------------------------------

test('every PromQL expression parses, and the service ones return defined data idle and under load (real Prometheus, real service)', { timeout: 150_000 }, async (t) => {
  if (!haveTool(t, 'prometheus')) return;
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'rtc-prometheus-'));
  const children: ChildProcess[] = [];
  t.after(async () => {
    await Promise.all(children.map(stop));
    fs.rmSync(tmp, { recursive: true, force: true });
  });

  // The service.
  const appPort = await freePort();
  // The build when it is current (npm test builds first): the same code, without transpiling the
  // server and its worker under tsx (a few CPU-seconds); the sources otherwise.
  const app = start(process.execPath, nodeArgsFor('src/server.ts'), {
    ...process.env,
    PORT: String(appPort),
    HOST: '127.0.0.1',
    WORKERS: '1',
    // Small, so the burst below is partly shed and 503 / rejection series exist too.
    MAX_QUEUE: '2',
    MEMORY_BUDGET_BYTES: String(MEMORY_BUDGET_BYTES),
    SHUTDOWN_DELAY_SECONDS: '0',
    LOG_LEVEL: 'warn',
  });
  children.push(app.proc);
  const base = `http://127.0.0.1:${appPort}`;

  // Prometheus: observability/prometheus.yml with this target, 1 s scrapes and rule evaluation,
  // and the PrometheusRule's groups as rule files. Started while the service starts: Prometheus
  // hands new targets to its scrapers only every 5 s, and a scrape before the service listens
  // just records up 0.
  interface PromConfig {
    global: Record<string, string>;
    rule_files: string[];
    scrape_configs: { job_name: string; static_configs: { targets: string[]; labels?: Record<string, string> }[] }[];
  }
  const config = readYaml<PromConfig>('observability/prometheus.yml');
  const job = config.scrape_configs.find((j) => j.job_name === 'gpu-media');
  const labels = job?.static_configs[0]?.labels;
  assert.ok(job && labels?.pod, 'observability/prometheus.yml has the gpu-media job with target labels');
  config.global = { scrape_interval: `${SCRAPE_SECONDS}s`, scrape_timeout: `${SCRAPE_SECONDS}s`, evaluation_interval: '1s' };
  config.scrape_configs = [{ ...job, static_configs: [{ targets: [`127.0.0.1:${appPort}`], labels }] }];
  const groups = prometheusRuleGroups().map((g) => ({ ...g, interval: '1s' }));
  fs.writeFileSync(path.join(tmp, 'rules.yaml'), YAML.stringify({ groups }));
  config.rule_files = [path.join(tmp, 'rules.yaml')];
  fs.writeFileSync(path.join(tmp, 'prometheus.yml'), YAML.stringify(config));

  const promPort = await freePort();
  const prom = start(
    'prometheus',
    [
      `--config.file=${path.join(tmp, 'prometheus.yml')}`,
      `--storage.tsdb.path=${path.join(tmp, 'data')}`,
      `--web.listen-address=127.0.0.1:${promPort}`,
      '--log.level=warn',
    ],
    process.env,
  );
  children.push(prom.proc);
  const promUrl = `http://127.0.0.1:${promPort}`;
  const logs = () => `--- prometheus ---\n${prom.log()}\n--- service ---\n${app.log()}`;
  await waitUntil('the service to be ready', async () => (await fetch(`${base}/readyz`)).status === 200, { timeoutMs: 40_000, intervalMs: 200, untilNoError: true, detail: logs });
  await waitUntil('Prometheus to be ready', async () => (await fetch(`${promUrl}/-/ready`)).ok, { timeoutMs: 30_000, intervalMs: 200, untilNoError: true, detail: logs });

  const query = async (q: string, time: number): Promise<QueryResult> => {
    const res = await fetch(`${promUrl}/api/v1/query`, { method: 'POST', body: new URLSearchParams({ query: q, time: String(time) }) });
    return (await res.json()) as QueryResult;
  };
  const samples = (r: QueryResult): string[] => {
    if (!r.data) return [];
    if (r.data.resultType === 'scalar') return [String((r.data.result as [number, string])[1])];
    return (r.data.result as Sample[]).map((s) => s.value[1]);
  };
  const nonEmpty = async (q: string) => samples(await query(q, Date.now() / 1000)).length > 0;

  const value = async (q: string, time: number): Promise<number> => {
    const [v, ...more] = samples(await query(q, time));
    assert.equal(more.length, 0, `${q}: one sample expected`);
    return Number(v);
  };
  /** When every rule group last finished an evaluation (seconds). */
  const lastEvaluations = async (): Promise<number[]> => {
    interface Groups {
      data: { groups: { lastEvaluation: string }[] };
    }
    const r = (await (await fetch(`${promUrl}/api/v1/rules`)).json()) as Groups;
    return r.data.groups.map((g) => Date.parse(g.lastEvaluation) / 1000);
  };
  const records = prometheusRuleGroups().flatMap((g) => (g.rules ?? []).flatMap((r) => (r.record ? [r.record] : [])));

  // Idle is ready to look at once the range queries have two good scrapes in Grafana's 15 s
  // window (up is 1 for each) and every recorded series exists (those over rate() need two too).
  await waitUntil('two scrapes', () => nonEmpty(`sum_over_time(up{job="gpu-media"}[${GRAFANA_RATE_INTERVAL}]) >= 2`), { timeoutMs: 20_000, intervalMs: 200, untilNoError: true, detail: logs });
  await waitUntil('every recorded series', async () => (await Promise.all(records.map(nonEmpty))).every(Boolean), { timeoutMs: 20_000, intervalMs: 200, untilNoError: true, detail: logs });
  const idleTime = Date.now() / 1000;

  // Bounded load: up to ~300 small requests over 8 s, a few other effects, a short burst of large
  // ones that the 2-slot queue partly sheds (503) once 100 small ones are done, and refusals by
  // the memory budget throughout (about 40% of all requests), spread over the scrapes: rate()
  // cannot count what a series already holds at its first scrape. Eight 1 s scrapes and rule
  // evaluations fall inside it; a machine running two other test files still answers over 150
  // small requests and refuses over 150 in 8 s (asserted: 100 and 50).
  const effects = ['blur', 'grayscale', 'invert'];
  let sent = 0;
  const statuses = new Map<number, number>();
  const count = (status: number) => statuses.set(status, (statuses.get(status) ?? 0) + 1);
  const loadEnd = Date.now() + 8_000;
  const worker = async () => {
    while (sent < 300 && Date.now() < loadEnd) {
      const effect = effects[sent % effects.length] ?? 'blur';
      sent++;
      const r = await fetch(`${base}/process?pixels=320x240&iters=1&effect=${effect}`);
      await r.arrayBuffer();
      count(r.status);
      await sleep(100);
    }
  };
  const burst = async () => {
    while (sent < 100 && Date.now() < loadEnd) await sleep(50);
    await Promise.all(
      Array.from({ length: 12 }, async () => {
        const r = await fetch(`${base}/process?pixels=1280x720&iters=20`);
        await r.arrayBuffer();
        count(r.status);
      }),
    );
  };
  let refused = 0;
  const refuser = async () => {
    while (Date.now() < loadEnd) {
      const status = await refusedRequest(base);
      count(status);
      if (status === 503) refused++;
      await sleep(50);
    }
  };
  await Promise.all([worker(), worker(), worker(), worker(), burst(), refuser()]);
  assert.ok((statuses.get(200) ?? 0) >= 100, `load: ${JSON.stringify([...statuses])}\n${app.log()}`);
  assert.ok(refused >= 50, `memory refusals: ${JSON.stringify([...statuses])}\n${app.log()}`);
  // Wait until Prometheus has scraped every answer, then until every rule group has evaluated on
  // that scrape.
  const answered = [...statuses].filter(([status]) => status > 0).reduce((n, [, k]) => n + k, 0);
  await waitUntil(`a scrape with all ${answered} answers`, async () => (await value('sum(app_requests_total{job="gpu-media", endpoint="/process"})', Date.now() / 1000)) >= answered, { timeoutMs: 20_000, intervalMs: 200, untilNoError: true, detail: logs });
  const scrapedAll = Date.now() / 1000;
  await waitUntil('the rules to evaluate on that scrape', async () => (await lastEvaluations()).every((t) => t > scrapedAll), { timeoutMs: 20_000, intervalMs: 200, untilNoError: true, detail: logs });
  const loadTime = Date.now() / 1000;

  // Every rule evaluates without error.
  interface RulesResponse {
    data: { groups: { name: string; rules: { name: string; health: string; lastError?: string }[] }[] };
  }
  const rules = (await (await fetch(`${promUrl}/api/v1/rules`)).json()) as RulesResponse;
  const unhealthy = rules.data.groups.flatMap((g) => g.rules.filter((r) => r.health !== 'ok').map((r) => `${g.name}/${r.name}: ${r.health} ${r.lastError ?? ''}`));
  assert.deepEqual(unhealthy, [], 'rule evaluation errors');
  assert.equal(rules.data.groups.length, prometheusRuleGroups().length);

  const expressions = [...kedaExpressions(), ...adapterExpressions(labels.pod), ...ruleExpressions(), ...dashboardExpressions()];
  assert.ok(expressions.length >= 100, `only ${expressions.length} expressions`);
  const failures: string[] = [];
  let withData = 0;
  let parseOnly = 0;
  for (const e of expressions) {
    const clusterOnly = CLUSTER_ONLY.test(e.query);
    for (const [moment, time] of [
      ['idle', idleTime],
      ['load', loadTime],
    ] as const) {
      const r = await query(e.query, time);
      if (r.status !== 'success') {
        failures.push(`${e.source} [${moment}]: ${r.error ?? r.status}\n    ${e.query}`);
        continue;
      }
      const values = samples(r);
      const undefinedValues = values.filter((v) => !Number.isFinite(Number(v)));
      if (undefinedValues.length > 0) failures.push(`${e.source} [${moment}]: ${undefinedValues.join(', ')}\n    ${e.query}`);
      if (clusterOnly || e.alert) continue;
      if (values.length === 0) failures.push(`${e.source} [${moment}]: empty result\n    ${e.query}`);
      const label = e.label;
      if (label && r.data?.resultType === 'vector' && !(r.data.result as Sample[]).every((x) => x.metric[label]))
        failures.push(`${e.source} [${moment}]: series without label ${label}`);
    }
    if (clusterOnly) parseOnly++;
    else if (!e.alert) withData++;
  }
  assert.deepEqual(failures, [], `PromQL problems (service stats ${JSON.stringify([...statuses])})`);
  t.diagnostic(`statuses ${JSON.stringify([...statuses])}; ${expressions.length} expressions: ${withData} with data idle and under load, ${parseOnly} cluster-only parsed, ${expressions.length - withData - parseOnly} alerts parsed`);

  // Under load the latency queries see real requests: the p95s are positive, not the idle 0.
  for (const q of [
    'namespace_service:app_request_latency_seconds:p95_rate2m',
    expressionOf(expressions, 'KEDA trigger process-latency-p95'),
    expressionOf(expressions, 'adapter rule 0 metricsQuery (app_latency_p95_seconds)'),
  ]) {
    const v = await value(q, loadTime);
    assert.ok(v > 0, `${q} under load: ${v}`);
  }

  // The demand signals: nothing while idle, the refusals once they happened. The service's
  // window (P95_WINDOW_SECONDS) and the rules' 1m both hold the whole load.
  const demandTrigger = expressionOf(expressions, 'KEDA trigger process-demand-ratio');
  const demandMetric = expressionOf(expressions, 'adapter rule 1 metricsQuery (app_demand_ratio)');
  const threshold = Number(readYaml<IScaledObject>('k8s/hpa-keda-latency.yaml').spec.triggers.find((tr) => tr.name === 'process-demand-ratio')?.metadata.threshold);
  for (const q of [
    'namespace_service:app_process_requests:rate1m',
    'namespace_service:app_process_requests_served:rate1m',
    'namespace_service:app_process_requests_refused:rate1m',
    'namespace_service:app_process_refusal_ratio:rate1m',
    demandTrigger,
    demandMetric,
  ])
    assert.equal(await value(q, idleTime), 0, `${q} while idle`);

  const offered = await value('namespace_service:app_process_requests:rate1m', loadTime);
  const served = await value('namespace_service:app_process_requests_served:rate1m', loadTime);
  const refusedRate = await value('namespace_service:app_process_requests_refused:rate1m', loadTime);
  const ratio = await value('namespace_service:app_process_refusal_ratio:rate1m', loadTime);
  const clientRatio = (statuses.get(503) ?? 0) / answered;
  const where = `offered ${offered}/s, served ${served}/s, refused ${refusedRate}/s, ratio ${ratio} (the client saw ${clientRatio.toFixed(3)}; ${JSON.stringify([...statuses])})`;
  assert.ok(served > 0 && refusedRate > 0, where);
  // One group evaluation: offered is the sum of the per-status rates, so served and refused are
  // parts of it and the ratio is refused over offered; it is close to what the client saw.
  assert.ok(served + refusedRate <= offered * 1.001, where);
  assert.ok(Math.abs(ratio - refusedRate / offered) < 1e-9, where);
  assert.ok(Math.abs(ratio - clientRatio) < 0.15, where);
  assert.ok(ratio > 1 - 1 / threshold, `enough refused to cross the threshold: ${where}`);
  // One pod: the trigger asks for offered / (offered - refused) pods, the adapter the same per pod.
  const demand = await value(demandTrigger, loadTime);
  assert.ok(demand > threshold && Math.abs(demand - 1 / (1 - ratio)) < 0.25, `KEDA process-demand-ratio ${demand}: ${where}`);
  const perPod = await value(demandMetric, loadTime);
  assert.ok(perPod > threshold && Math.abs(perPod - 1 / (1 - clientRatio)) < 0.35, `adapter app_demand_ratio ${perPod}: ${where}`);
  assert.ok((await value('sum(app_rejected_total{job="gpu-media", reason="memory"})', loadTime)) >= refused, 'the refusals were the memory budget\'s');
  assert.ok((await value('sum(app_goodput_requests_per_second{job="gpu-media"})', loadTime)) > 0, 'goodput gauge');
  const busy = await value(`max(rate(app_event_loop_busy_seconds_total{job="gpu-media"}[${GRAFANA_RATE_INTERVAL}]))`, loadTime);
  assert.ok(busy > 0 && busy <= 1.05, `event loop utilisation ${busy}`);
  t.diagnostic(where);
  // The dashboard's namespace/service variables offer exactly this target's values.
  const nsSeries = await query('group by (namespace, service) (app_requests_total)', loadTime);
  assert.deepEqual(
    (nsSeries.data?.result as Sample[]).map((s) => [s.metric.namespace, s.metric.service]),
    [['rtc', 'gpu-media']],
  );
});
