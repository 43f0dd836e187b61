import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ArgError } from '../../tools/rtc-load/core/args.ts';
import { parseCommandLine } from '../../tools/rtc-load/http/args.ts';
import { parseDurationMs } from '../../tools/rtc-load/core/duration.ts';
import { RequestTimeoutError, errorCause } from '../../tools/rtc-load/core/error-cause.ts';
import { DEFAULT_P95_QUERY, DEFAULT_REFUSAL_QUERY, parseInstantValue } from '../../tools/rtc-load/core/prometheus.ts';
import { RateSchedule } from '../../tools/rtc-load/http/schedule.ts';
import { refusedInProcess, runRtcLoad } from './fixtures.ts';

test('durations accept ms, s, m and h', () => {
  assert.equal(parseDurationMs('500ms'), 500);
  assert.equal(parseDurationMs('30s'), 30_000);
  assert.equal(parseDurationMs('1.5s'), 1500);
  assert.equal(parseDurationMs('2m'), 120_000);
  assert.equal(parseDurationMs('1h'), 3_600_000);
  for (const bad of ['', '10', 's', '10x', '-5s', '5 s s']) assert.equal(parseDurationMs(bad), undefined, bad);
});

test('closed loop defaults follow the seed script (c=20, n=200)', () => {
  const parsed = parseCommandLine(['http://localhost:8080/process?pixels=1280x720&iters=5']);
  assert.equal(parsed.kind, 'run');
  if (parsed.kind !== 'run') return;
  // Well-behaved by default: a refusal waits Retry-After, jittered by half either way.
  assert.deepEqual(parsed.options.plan, { mode: 'closed', concurrency: 20, requests: 200, durationMs: undefined, retry: { kind: 'retry-after', jitter: 0.5 } });
  assert.equal(parsed.options.adaptiveThrottleK, undefined);
  assert.equal(parsed.options.request.method, 'GET');
  assert.equal(parsed.options.request.timeoutMs, 10_000);
});

test('options: http subcommand, headers, body, duration-bound closed loop, prometheus', () => {
  const parsed = parseCommandLine([
    'http',
    'http://127.0.0.1:1/x',
    '-c',
    '50',
    '--duration',
    '10s',
    '-m',
    'post',
    '-H',
    'X-Test: a: b',
    '--body',
    'hello',
    '--timeout',
    '500ms',
    '--prometheus',
    'http://prom:9090',
    '--json',
  ]);
  assert.equal(parsed.kind, 'run');
  if (parsed.kind !== 'run') return;
  const { request, plan, output } = parsed.options;
  assert.deepEqual(plan, { mode: 'closed', concurrency: 50, requests: undefined, durationMs: 10_000, retry: { kind: 'retry-after', jitter: 0.5 } });
  assert.equal(request.method, 'POST');
  assert.deepEqual(request.headers, ['X-Test', 'a: b', 'content-type', 'application/octet-stream']);
  assert.equal(request.body?.toString(), 'hello');
  assert.equal(request.timeoutMs, 500);
  assert.equal(output.json, true);
  assert.equal(output.prometheus?.intervalMs, 5000);
  assert.equal(output.prometheus?.p95Query, DEFAULT_P95_QUERY);
  assert.equal(output.prometheus?.refusalQuery, DEFAULT_REFUSAL_QUERY);
});

test('refusal behaviour: the storm, polite jitter, the adaptive throttle with or without K', () => {
  const run = (...argv: string[]) => {
    const parsed = parseCommandLine(argv);
    assert.ok(parsed.kind === 'run');
    return parsed.options;
  };
  const storm = run('http://h/', '--retry-immediately');
  assert.ok(storm.plan.mode === 'closed');
  assert.deepEqual(storm.plan.retry, { kind: 'immediate' });
  const polite = run('http://h/', '--retry-after-jitter', '0.2');
  assert.ok(polite.plan.mode === 'closed');
  assert.deepEqual(polite.plan.retry, { kind: 'retry-after', jitter: 0.2 });
  // --adaptive-throttle takes an optional K: alone (last, or before another option or the URL) it is 2.
  assert.equal(run('http://h/', '--adaptive-throttle').adaptiveThrottleK, 2);
  assert.equal(run('--adaptive-throttle', 'http://h/').adaptiveThrottleK, 2);
  assert.equal(run('http://h/', '--adaptive-throttle', '-c', '5').adaptiveThrottleK, 2);
  assert.equal(run('http://h/', '--adaptive-throttle', '1.5').adaptiveThrottleK, 1.5);
  assert.equal(run('http://h/', '--adaptive-throttle=3').adaptiveThrottleK, 3);
  assert.equal(run('http://h/', '--rate', '10', '--adaptive-throttle').adaptiveThrottleK, 2, 'open loop may throttle');
  const prometheus = run('http://h/', '--prometheus', 'http://p:9090', '--refusal-query', 'my_ratio');
  assert.equal(prometheus.output.prometheus?.refusalQuery, 'my_ratio');
  const cases: Array<[string[], RegExp]> = [
    [['--retry-immediately', '--retry-after-jitter', '0.5'], /--retry-after-jitter/],
    [['--retry-after-jitter', '1.5'], /0 to 1/],
    [['--retry-after-jitter', 'x'], /0 to 1/],
    [['--retry-immediately', '--adaptive-throttle'], /give one/],
    [['--adaptive-throttle', '0.5'], />= 1/],
    [['--rate', '10', '--retry-immediately'], /never retries/],
    [['--rate', '10', '--retry-after-jitter', '0.1'], /never retries/],
    [['--refusal-query', 'x'], /--prometheus/],
  ];
  for (const [argv, message] of cases) {
    assert.throws(() => parseCommandLine(['http://h/', ...argv]), (error: unknown) => error instanceof ArgError && message.test(error.message), argv.join(' '));
  }
});

test('open loop: --rate with --duration, and --stages', () => {
  const constant = parseCommandLine(['http://h/', '--rate', '100', '--duration', '2s']);
  assert.ok(constant.kind === 'run' && constant.options.plan.mode === 'open');
  if (constant.kind !== 'run' || constant.options.plan.mode !== 'open') return;
  assert.equal(constant.options.plan.schedule.totalSends, 200);
  assert.ok(constant.options.plan.connections >= 8);

  const staged = parseCommandLine(['http://h/', '--stages', '30s:10,60s:50,30s:0', '--connections', '16']);
  assert.ok(staged.kind === 'run' && staged.options.plan.mode === 'open');
  if (staged.kind !== 'run' || staged.options.plan.mode !== 'open') return;
  assert.equal(staged.options.plan.connections, 16);
  assert.equal(staged.options.plan.schedule.durationMs, 120_000);
  // 0→10 over 30 s, 10→50 over 60 s, 50→0 over 30 s: 150 + 1800 + 750.
  assert.equal(staged.options.plan.schedule.totalSends, 2700);
});

test('invalid arguments raise ArgError with a message naming the problem', () => {
  const cases: Array<[string[], RegExp]> = [
    [[], /missing URL/],
    [['ftp://h/'], /http/],
    [['not a url'], /not a URL/],
    [['http://h/', '-c', '0'], /--concurrency/],
    [['http://h/', '-n', '1.5'], /--requests/],
    [['http://h/', '--duration', '10x'], /--duration/],
    [['http://h/', '--rate', '-5'], /.+/],
    [['http://h/', '--rate', 'abc'], /--rate/],
    [['http://h/', '--rate', '5', '-n', '10'], /closed loop/],
    [['http://h/', '--rate', '5', '-c', '10'], /closed loop/],
    [['http://h/', '--stages', '10s'], /DURATION:RATE/],
    [['http://h/', '--stages', '10s:5', '--duration', '5s'], /--stages/],
    [['http://h/', '--stages', '1s:0'], /sends no request/],
    [['http://h/', '-m', 'BREW'], /--method/],
    [['http://h/', '-H', 'no colon'], /--header/],
    [['http://h/', '--body', '@/nonexistent/body.bin'], /cannot read/],
    [['http://h/', '--connections', '4'], /open loop/],
    [['http://h/', '--prometheus-interval', '1s'], /--prometheus/],
    [['http://h/', '--prometheus', 'http://p:9090', '--prometheus-interval', '10ms'], /100ms/],
    [['http://h/', '--bogus'], /bogus/],
    [['http://h/', 'http://other/'], /unexpected argument/],
  ];
  for (const [argv, message] of cases) {
    assert.throws(() => parseCommandLine(argv), (error: unknown) => error instanceof ArgError && message.test(error.message), argv.join(' '));
  }
});

test('argument errors exit with code 2 and a clear message; --help exits 0', async () => {
  const missing = await runRtcLoad([]);
  assert.equal(missing.code, 2);
  assert.match(missing.stderr, /missing URL/);
  assert.equal(missing.stdout, '');

  // In this process (refusedInProcess: the same exit code and message, no Node start).
  const badDuration = await refusedInProcess(['http://127.0.0.1:9/', '--rate', '10', '--duration', 'soon']);
  assert.equal(badDuration.code, 2);
  assert.match(badDuration.stderr, /--duration must be a duration/);

  const help = await runRtcLoad(['--help']);
  assert.equal(help.code, 0);
  assert.match(help.stdout, /Usage:/);
  assert.match(help.stdout, /--stages/);
});

test('rate schedule: constant and ramped intended send times', () => {
  const constant = RateSchedule.constant(10, 1000);
  assert.equal(constant.totalSends, 10);
  for (let i = 0; i < 10; i += 1) assert.ok(Math.abs(constant.intendedTimeMs(i) - 100 * i) < 1e-6);

  // 0 → 100 req/s over 1 s: 50 sends, send i at t = sqrt(2i / k) with k = 1e-4 per ms².
  const ramp = new RateSchedule(0, [{ durationMs: 1000, targetRatePerSecond: 100 }]);
  assert.equal(ramp.totalSends, 50);
  assert.ok(Math.abs(ramp.intendedTimeMs(8) - 400) < 1e-6);
  assert.ok(Math.abs(ramp.countAt(500) - 12.5) < 1e-9);

  const stages = new RateSchedule(0, [
    { durationMs: 1000, targetRatePerSecond: 10 },
    { durationMs: 1000, targetRatePerSecond: 10 },
    { durationMs: 1000, targetRatePerSecond: 0 },
  ]);
  assert.equal(stages.totalSends, 20);
  let previous = -1;
  for (let i = 0; i < stages.totalSends; i += 1) {
    const t = stages.intendedTimeMs(i);
    assert.ok(t > previous && t < 3000, `send ${i} at ${t}`);
    previous = t;
  }
  assert.equal(stages.stageIndexAt(1500), 1);
  assert.ok(Math.abs(stages.intendedTimeMs(10) - 1500) < 1e-6);
});

test('error causes are short names, not messages', () => {
  const withCode = (code: string): Error => Object.assign(new Error('x'), { code });
  assert.equal(errorCause(withCode('ECONNREFUSED')), 'connection_refused');
  assert.equal(errorCause(withCode('ECONNRESET')), 'connection_reset');
  assert.equal(errorCause(withCode('UND_ERR_HEADERS_TIMEOUT')), 'timeout');
  assert.equal(errorCause(new RequestTimeoutError('late')), 'timeout');
  assert.equal(errorCause(new AggregateError([withCode('ECONNREFUSED')])), 'connection_refused');
  assert.equal(errorCause(new Error('who knows')), 'other');
});

test('Prometheus instant query values: vector, scalar, empty, NaN, error', () => {
  assert.equal(parseInstantValue({ status: 'success', data: { resultType: 'vector', result: [{ metric: {}, value: [1, '3'] }] } }), 3);
  assert.equal(parseInstantValue({ status: 'success', data: { resultType: 'scalar', result: [1, '0.25'] } }), 0.25);
  assert.equal(parseInstantValue({ status: 'success', data: { resultType: 'vector', result: [] } }), null);
  assert.equal(parseInstantValue({ status: 'success', data: { resultType: 'vector', result: [{ value: [1, 'NaN'] }] } }), null);
  assert.throws(() => parseInstantValue({ status: 'error', error: 'bad query' }), /bad query/);
});

test('--requests-per-connection and the --hpa flags: parsed, validated', () => {
  const parsed = parseCommandLine(['http://localhost/', '--requests-per-connection', '50', '--hpa-target-p95', '400ms', '--hpa-tolerance', '0.2']);
  assert.ok(parsed.kind === 'run');
  assert.equal(parsed.options.request.requestsPerConnection, 50);
  assert.deepEqual(parsed.options.output.autoscaler, { targetP95Ms: 400, tolerance: 0.2 });
  const defaults = parseCommandLine(['http://localhost/']);
  assert.ok(defaults.kind === 'run');
  assert.equal(defaults.options.request.requestsPerConnection, undefined);
  assert.deepEqual(defaults.options.output.autoscaler, { targetP95Ms: 250, tolerance: 0.1 });
  for (const bad of [['--requests-per-connection', '0'], ['--hpa-target-p95', 'soon'], ['--hpa-tolerance', '1.5']]) {
    assert.throws(() => parseCommandLine(['http://localhost/', ...bad]), ArgError, bad.join(' '));
  }
});
