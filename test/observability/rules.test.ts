/**
 * The PrometheusRule's recording and alerting rules, with Prometheus's own tools:
 * promtool check rules, and promtool test rules with a unit test for every alert
 * (observability/tests/slo-alerts.test.yaml). observability/rules/gpu-media.rules.yaml is the
 * same rule groups for plain Prometheus, generated from the PrometheusRule and proven current.
 *
 * UPDATE_GENERATED=1 rewrites the generated rules file before checking it.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import YAML from 'yaml';
import type { IPrometheusRule } from '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/PrometheusRule';
import { haveTool } from '../tools.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const SOURCE = 'k8s/base/gpu-media-prometheusrule.yaml';
const GENERATED = 'observability/rules/gpu-media.rules.yaml';
const UNIT_TESTS = 'observability/tests/slo-alerts.test.yaml';


type Groups = NonNullable<IPrometheusRule['spec']['groups']>;

function sourceGroups(): Groups {
  const groups = (YAML.parse(fs.readFileSync(path.join(ROOT, SOURCE), 'utf8')) as IPrometheusRule).spec.groups;
  assert.ok(groups, `${SOURCE}: no rule groups`);
  return groups;
}

const HEADER = [
  `# Generated from ${SOURCE} (its spec.groups) for plain Prometheus (observability/prometheus.yml,`,
  '# docker-compose.yml) and promtool. Do not edit; change the PrometheusRule, then regenerate with',
  '#   UPDATE_GENERATED=1 node --import tsx --test test/observability/rules.test.ts',
].join('\n');

function promtool(args: string[]) {
  const r = spawnSync('promtool', args, { cwd: ROOT, encoding: 'utf8', timeout: 60_000 });
  return { status: r.status, output: `${r.stdout}${r.stderr}` };
}

test('the plain-Prometheus rules file is current (generated from the PrometheusRule)', () => {
  const groups = sourceGroups();
  if (process.env.UPDATE_GENERATED === '1') {
    fs.mkdirSync(path.dirname(path.join(ROOT, GENERATED)), { recursive: true });
    fs.writeFileSync(path.join(ROOT, GENERATED), `${HEADER}\n${YAML.stringify({ groups }, { lineWidth: 0 })}`);
  }
  const text = fs.readFileSync(path.join(ROOT, GENERATED), 'utf8');
  assert.ok(text.startsWith(HEADER), `${GENERATED}: header missing (regenerate with UPDATE_GENERATED=1)`);
  assert.deepEqual(YAML.parse(text), { groups }, `${GENERATED} is stale: regenerate with UPDATE_GENERATED=1`);
});

test('promtool check rules: the rule groups parse and are valid', (t) => {
  if (!haveTool(t, 'promtool')) return;
  const r = promtool(['check', 'rules', GENERATED]);
  assert.equal(r.status, 0, r.output);
  const count = sourceGroups().reduce((n, g) => n + (g.rules?.length ?? 0), 0);
  assert.match(r.output, new RegExp(`SUCCESS: ${count} rules found`));
});

test('promtool test rules: every alert fires in its unit test (and stays quiet where it should)', (t) => {
  if (!haveTool(t, 'promtool')) return;
  const r = promtool(['test', 'rules', UNIT_TESTS]);
  assert.equal(r.status, 0, r.output);
  assert.match(r.output, /SUCCESS/);

  interface UnitTests {
    rule_files: string[];
    tests: { alert_rule_test?: { alertname: string; exp_alerts?: unknown[] }[] }[];
  }
  const unit = YAML.parse(fs.readFileSync(path.join(ROOT, UNIT_TESTS), 'utf8')) as UnitTests;
  assert.deepEqual(
    unit.rule_files.map((f) => path.normalize(path.join(path.dirname(UNIT_TESTS), f))),
    [path.normalize(GENERATED)],
    'the unit tests load the generated rules file',
  );
  const cases = unit.tests.flatMap((x) => x.alert_rule_test ?? []);
  const alerts = sourceGroups().flatMap((g) => (g.rules ?? []).flatMap((rule) => (rule.alert ? [rule.alert] : [])));
  for (const a of alerts) {
    assert.ok(cases.some((c) => c.alertname === a && (c.exp_alerts?.length ?? 0) > 0), `${a}: no unit test where it fires`);
    assert.ok(cases.some((c) => c.alertname === a && (c.exp_alerts?.length ?? 0) === 0), `${a}: no unit test where it stays quiet`);
  }
});

test('rule hygiene: record names level:metric:operation, alerts carry severity, summary and description', () => {
  const names = new Set<string>();
  for (const g of sourceGroups()) {
    for (const r of g.rules ?? []) {
      if (r.record) {
        assert.match(r.record, /^[a-z_]+:[a-z0-9_]+:[a-z0-9_]+$/, r.record);
        assert.ok(!names.has(r.record), `${r.record} recorded twice`);
        names.add(r.record);
      } else {
        assert.ok(r.alert, 'a rule is a record or an alert');
        assert.match(r.labels?.severity ?? '', /^(critical|warning)$/, `${r.alert}: severity`);
        assert.ok(r.annotations?.summary && r.annotations.description, `${r.alert}: summary and description`);
      }
    }
  }
  // Alerts only use recorded series that are recorded.
  for (const g of sourceGroups())
    for (const r of g.rules ?? [])
      for (const m of String(r.expr).matchAll(/\b([a-z_]+:[a-z0-9_]+:[a-z0-9_]+)\b/g)) assert.ok(names.has(m[1] ?? ''), `${r.alert ?? r.record} uses unrecorded ${m[1]}`);
});

test('promtool check config: observability/prometheus.yml (with the generated rules)', (t) => {
  if (!haveTool(t, 'promtool')) return;
  const r = promtool(['check', 'config', 'observability/prometheus.yml']);
  assert.equal(r.status, 0, r.output);
  assert.match(r.output, /SUCCESS: \d+ rules found/, 'the config loads the rules');
});
