import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse, parseAllDocuments } from 'yaml';
import { test } from 'node:test';
import { REPO_ROOT, refusedPort, runCommand, startServer } from './fixtures.ts';

// shellcheck over load_gen.sh, demo_load_gen.sh and scripts/lib/: test/k8s/scripts.test.ts (every script in scripts/).

test('load_gen.sh runs the seed arguments through rtc-load and prints the summary', async (t) => {
  const methods: string[] = [];
  const server = await startServer((request, response) => {
    methods.push(request.method ?? '');
    response.end('ok');
  });
  t.after(() => server.close());
  const result = await runCommand(join(REPO_ROOT, 'scripts/load_gen.sh'), [`${server.baseUrl}/process?pixels=64x64&iters=1`, '3', '30']);
  assert.deepEqual(new Set(methods), new Set(['POST']), 'the seed sent POST');
  assert.equal(result.code, 0, result.stderr);
  assert.match(result.stdout, /30 requests/);
  assert.match(result.stdout, /concurrency 3/);
  assert.match(result.stdout, /Status codes\s+200: 30/);
  assert.equal(server.requestCount(), 30);

  const help = await runCommand(join(REPO_ROOT, 'scripts/load_gen.sh'), ['--help']);
  assert.equal(help.code, 0);
  assert.match(help.stdout, /CONCURRENCY/);
  const bad = await runCommand(join(REPO_ROOT, 'scripts/load_gen.sh'), ['http://127.0.0.1:9/', 'many']);
  assert.equal(bad.code, 2);
});

test('demo_load_gen.sh: scenarios by duration, the demo ramp, connectivity check, no colour off a TTY', async (t) => {
  const requests: string[] = [];
  const server = await startServer((request, response) => {
    requests.push(`${request.method ?? ''} ${request.url ?? ''}`);
    response.end('ok');
  });
  t.after(() => server.close());
  const script = join(REPO_ROOT, 'scripts/demo_load_gen.sh');

  const baseline = await runCommand(script, ['baseline', server.baseUrl, '--duration', '1s'], 20_000);
  assert.equal(baseline.code, 0, baseline.stderr);
  assert.equal(requests[0], 'GET /healthz');
  const load = requests.slice(1);
  assert.ok(load.length > 5, `baseline sent ${load.length} requests in 1 s`);
  assert.deepEqual(new Set(load), new Set(['POST /process?pixels=1280x720&iters=3']));
  assert.match(baseline.stdout, /1s at concurrency 5/);
  assert.match(baseline.stdout, /kubectl -n rtc get hpa -w/);
  assert.match(baseline.stdout, /Grafana/);
  assert.doesNotMatch(baseline.stdout, /\x1b\[/, 'no escape codes when stdout is not a TTY');

  // demo: ramp up, hold, ramp down, in the 1:2:1 shape of whatever --duration asks for.
  requests.length = 0;
  const demo = await runCommand(script, ['demo', server.baseUrl, '--duration', '4s', '--rate', '20', '--', '--json'], 20_000);
  assert.equal(demo.code, 0, demo.stderr);
  assert.match(demo.stdout, /ramp to 20 req\/s over 1s, hold 2s, ramp down over 1s/);
  const report = JSON.parse(demo.stdout.split('\n').find((line) => line.startsWith('{')) ?? '{}') as { mode: string; stages: unknown[]; requests: number };
  assert.equal(report.mode, 'open');
  assert.equal(report.stages.length, 3);
  // 0->20 over 1 s (10), 20 for 2 s (40), 20->0 over 1 s (10): about 60.
  assert.ok(report.requests >= 50 && report.requests <= 62, `demo sent ${report.requests}`);

  const port = await refusedPort();
  const unreachable = await runCommand(script, ['heavy', `http://127.0.0.1:${port}`]);
  assert.equal(unreachable.code, 1);
  assert.match(unreachable.stderr, /does not answer \/healthz/);

  const unknown = await runCommand(script, ['extreme']);
  assert.equal(unknown.code, 2);
  assert.match(unknown.stderr, /unknown scenario/);
  const badDuration = await runCommand(script, ['demo', '--duration', 'soon']);
  assert.equal(badDuration.code, 2);
  const help = await runCommand(script, ['--help']);
  assert.equal(help.code, 0);
  for (const scenario of ['baseline', 'moderate', 'heavy', 'sustained', 'demo']) assert.match(help.stdout, new RegExp(scenario));
  assert.match(help.stdout, /--clients C/);
});

test('demo_load_gen.sh --clients: polite by default, the storm retries at once, adaptive throttles; the table shows what was served', { timeout: 60_000 }, async (t) => {
  // An overloaded service: every other request refused at once, with Retry-After.
  const server = await startServer((request, response, index) => {
    if (request.url === '/healthz' || index % 2 === 0) {
      response.end('ok');
      return;
    }
    response.writeHead(503, { 'retry-after': '1', connection: 'close' });
    response.end('{"error":"overloaded"}');
  });
  t.after(() => server.close());
  const script = join(REPO_ROOT, 'scripts/demo_load_gen.sh');
  // 1 s each: a polite client sends two or three requests in it (half refused, Retry-After 1 s,
  // jittered by half), the storm several times more (~130 offered against ~900 here, ~230 against
  // ~2100 in 2 s): the comparison below keeps its factor 2 by a wide margin.
  const run = async (...args: string[]) => {
    const result = await runCommand(script, ['heavy', server.baseUrl, '--duration', '1s', ...args, '--', '--json'], 30_000);
    assert.equal(result.code, 0, result.stderr);
    const report = JSON.parse(result.stdout.split('\n').find((line) => line.startsWith('{')) ?? '{}') as {
      clients: { retry: string; adaptiveThrottleK?: number };
      offered: number;
      served: number;
      refused: number;
      errors: Record<string, number>;
    };
    return { stdout: result.stdout, report };
  };
  const polite = await run();
  assert.match(polite.stdout, /polite clients: a refused request waits Retry-After/);
  assert.deepEqual(polite.report.clients, { retry: 'retry-after', retryAfterJitter: 0.5 });
  assert.match(polite.stdout, /--clients storm/, 'suggests the storm next');
  const storm = await run('--clients', 'storm');
  assert.match(storm.stdout, /storm clients: a refused request is sent again at once/);
  assert.deepEqual(storm.report.clients, { retry: 'immediately' });
  // Fifty clients that never wait send far more, and are refused far more, than fifty that do.
  assert.ok(storm.report.offered > 2 * polite.report.offered, `storm offered ${storm.report.offered}, polite ${polite.report.offered}`);
  assert.ok(storm.report.refused > 2 * polite.report.refused, `storm refused ${storm.report.refused}, polite ${polite.report.refused}`);
  for (const { report } of [polite, storm]) assert.deepEqual(report.errors, {}, 'refusals that close the connection are answers, not errors');
  const adaptive = await run('--clients', 'adaptive');
  assert.deepEqual(adaptive.report.clients, { retry: 'retry-after', retryAfterJitter: 0.5, adaptiveThrottleK: 2 });

  const table = await runCommand(script, ['moderate', server.baseUrl, '--duration', '1s'], 30_000);
  assert.equal(table.code, 0, table.stderr);
  assert.match(table.stdout, /Outcome\s+offered\s+served\s+refused/);
  assert.match(table.stdout, /Autoscaler\s+1 replica, served p95 [\d.]+ ms vs target 250 ms, refused \d+% \(client\): the HPA asks for \d+ now/);

  const openStorm = await runCommand(script, ['demo', server.baseUrl, '--clients', 'storm']);
  assert.equal(openStorm.code, 2);
  assert.match(openStorm.stderr, /open loop/);
  const bogus = await runCommand(script, ['heavy', server.baseUrl, '--clients', 'rude']);
  assert.equal(bogus.code, 2);
  assert.match(bogus.stderr, /polite, storm or adaptive/);
});

test('--in-cluster: the Job runs gpu-media\'s image with the arguments, labelled for the NetworkPolicy', async () => {
  const result = await runCommand(join(REPO_ROOT, 'scripts/load_gen.sh'), ['--in-cluster', "http://10.0.0.7/process?pixels=1920x1080&iters=10", '40', '800'], 15_000, {
    ...process.env,
    RTC_LOAD_DRY_RUN: '1',
    RTC_LOAD_IMAGE: 'registry.example/gpu-media:1.2.3',
  });
  assert.equal(result.code, 0, result.stderr);
  const job = parse(result.stdout.slice(result.stdout.indexOf('apiVersion:'))) as {
    kind: string;
    metadata: { namespace: string };
    spec: { template: { metadata: { labels: Record<string, string> }; spec: { containers: { image: string; command: string[]; args: string[] }[] } } };
  };
  assert.equal(job.kind, 'Job');
  assert.equal(job.metadata.namespace, 'rtc');
  assert.equal(job.spec.template.metadata.labels['app.kubernetes.io/name'], 'rtc-load');
  const [container] = job.spec.template.spec.containers;
  assert.equal(container?.image, 'registry.example/gpu-media:1.2.3');
  assert.deepEqual(container?.command, ['node', 'dist/tools/rtc-load/main.js']);
  assert.deepEqual(container?.args, ['http://10.0.0.7/process?pixels=1920x1080&iters=10', '--method', 'POST', '--concurrency', '40', '--requests', '800', '--requests-per-connection', '50']);

  // demo_load_gen.sh --in-cluster: the scenario's plan, sampling the cluster's Prometheus for the report.
  const demo = await runCommand(join(REPO_ROOT, 'scripts/demo_load_gen.sh'), ['demo', '--in-cluster', '--duration', '2m', '--rate', '30'], 15_000, {
    ...process.env,
    RTC_LOAD_DRY_RUN: '1',
    RTC_LOAD_IMAGE: 'registry.example/gpu-media:1.2.3',
  });
  assert.equal(demo.code, 0, demo.stderr);
  const manifest = demo.stdout.slice(demo.stdout.indexOf('apiVersion:'));
  const demoJob = parse(manifest.slice(0, manifest.indexOf('\n\n'))) as typeof job;
  assert.deepEqual(demoJob.spec.template.spec.containers[0]?.args, [
    'http://gpu-media.rtc.svc/process?pixels=1920x1080&iters=8',
    '--method',
    'POST',
    '--stages',
    '30s:30,60s:30,30s:0',
    '--prometheus',
    'http://kube-prometheus-stack-prometheus.monitoring.svc:9090',
    '--requests-per-connection',
    '50',
  ]);
  const storm = await runCommand(join(REPO_ROOT, 'scripts/demo_load_gen.sh'), ['heavy', '--in-cluster', '--duration', '1m', '--clients', 'storm'], 15_000, {
    ...process.env,
    RTC_LOAD_DRY_RUN: '1',
    RTC_LOAD_IMAGE: 'registry.example/gpu-media:1.2.3',
  });
  assert.equal(storm.code, 0, storm.stderr);
  const stormManifest = storm.stdout.slice(storm.stdout.indexOf('apiVersion:'));
  const stormJob = parse(stormManifest.slice(0, stormManifest.indexOf('\n\n'))) as typeof job;
  assert.deepEqual(stormJob.spec.template.spec.containers[0]?.args.slice(3, 8), ['--concurrency', '50', '--duration', '60s', '--retry-immediately']);

  // The policy that admits it: egress to gpu-media:8080 and Prometheus:9090, and gpu-media's ingress from it.
  const policies = parseAllDocuments(readFileSync(join(REPO_ROOT, 'k8s/load/rtc-load-networkpolicy.yaml'), 'utf8')).map((d) => d.toJSON() as { spec: Record<string, unknown> });
  const text = JSON.stringify(policies);
  assert.match(text, /"podSelector":\{"matchLabels":\{"app.kubernetes.io\/name":"rtc-load"\}\}/);
  assert.match(text, /"port":8080/);
  assert.match(text, /"port":9090/);
});
