import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { ArgError, durationOption, progressIntervalOption, parseStrict, parseTargetUrl, positiveInteger, positiveNumber } from '../core/args.ts';
import { parseDurationMs } from '../core/duration.ts';
import { DEFAULT_TARGET_P95_MS, DEFAULT_TOLERANCE, type AutoscalerSettings } from '../core/autoscaler.ts';
import { parsePrometheusOptions, type PrometheusOptions } from '../core/prometheus.ts';
import { DEFAULT_THROTTLE_K } from '../core/adaptive-throttle.ts';
import { DEFAULT_RETRY_AFTER_JITTER, type RetryPolicy } from '../core/retry.ts';
import { RateSchedule, type Stage } from './schedule.ts';

const DEFAULT_CONCURRENCY = 20;
const DEFAULT_REQUESTS = 200;
const DEFAULT_OPEN_DURATION_MS = 30_000;
const DEFAULT_TIMEOUT_MS = 10_000;
const METHODS = new Set(['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'HEAD']);
const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;


export interface RequestOptions {
  url: URL;
  method: string;
  /** Flat name/value list, as undici takes it without re-parsing. */
  headers: string[];
  body: Buffer | undefined;
  timeoutMs: number;
  /**
   * Close each connection after this many requests (undefined: keep it for the whole run), so a
   * per-connection balancer (kube-proxy, an Ingress in TCP mode) spreads load onto new pods.
   */
  requestsPerConnection: number | undefined;
}

export interface OutputOptions {
  json: boolean;
  htmlPath: string | undefined;
  failOnErrors: boolean;
  prometheus: PrometheusOptions | undefined;
  /** The HPA rule shown live and in the report. */
  autoscaler: AutoscalerSettings;
  /** Off a terminal, a plain progress line this often (0: none); on one, the live line. */
  progressIntervalMs: number;
}

export interface ClosedLoopPlan {
  mode: 'closed';
  concurrency: number;
  /** Stop after this many attempts: sends, retries included, and throttled requests (undefined: duration only). */
  requests: number | undefined;
  /** Stop after this long (undefined: request count only). */
  durationMs: number | undefined;
  /** What a client does after a 503 or 429. */
  retry: RetryPolicy;
}

export interface OpenLoopPlan {
  mode: 'open';
  schedule: RateSchedule;
  /** Stages as given, for the report; a constant rate is one stage. */
  stages: Stage[];
  startRatePerSecond: number;
  connections: number;
}

export interface HttpRunOptions {
  request: RequestOptions;
  plan: ClosedLoopPlan | OpenLoopPlan;
  /** --adaptive-throttle's K, or undefined: every due request is sent. */
  adaptiveThrottleK: number | undefined;
  output: OutputOptions;
}

export type ParsedCommand = { kind: 'help' } | { kind: 'run'; options: HttpRunOptions };

const OPTION_SPEC = {
  concurrency: { type: 'string', short: 'c' },
  requests: { type: 'string', short: 'n' },
  duration: { type: 'string', short: 'd' },
  rate: { type: 'string' },
  stages: { type: 'string' },
  connections: { type: 'string' },
  'requests-per-connection': { type: 'string' },
  method: { type: 'string', short: 'm' },
  header: { type: 'string', short: 'H', multiple: true },
  body: { type: 'string', short: 'b' },
  timeout: { type: 'string' },
  json: { type: 'boolean' },
  html: { type: 'string' },
  prometheus: { type: 'string' },
  'prometheus-interval': { type: 'string' },
  'progress-interval': { type: 'string' },
  'replicas-query': { type: 'string' },
  'p95-query': { type: 'string' },
  'refusal-query': { type: 'string' },
  'retry-immediately': { type: 'boolean' },
  'retry-after-jitter': { type: 'string' },
  'adaptive-throttle': { type: 'string' },
  'fail-on-errors': { type: 'boolean' },
  'hpa-target-p95': { type: 'string' },
  'hpa-tolerance': { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

export function parseCommandLine(argv: readonly string[]): ParsedCommand {
  const { values, positionals } = parseStrict(withOptionalValue(argv, '--adaptive-throttle', String(DEFAULT_THROTTLE_K)), OPTION_SPEC);
  if (values.help) return { kind: 'help' };

  if (positionals.includes('webrtc')) throw new ArgError("'webrtc' must come first: rtc-load webrtc URL [options]");
  const targets = positionals[0] === 'http' ? positionals.slice(1) : positionals;
  if (targets.length === 0) throw new ArgError('missing URL (try --help)');
  if (targets.length > 1) throw new ArgError(`unexpected argument: ${targets[1] ?? ''}`);

  const request: RequestOptions = {
    url: parseTargetUrl(targets[0] ?? ''),
    method: parseMethod(values.method),
    headers: parseHeaders(values.header ?? []),
    body: parseBody(values.body),
    timeoutMs: values.timeout === undefined ? DEFAULT_TIMEOUT_MS : durationOption('--timeout', values.timeout),
    requestsPerConnection:
      values['requests-per-connection'] === undefined ? undefined : positiveInteger('--requests-per-connection', values['requests-per-connection']),
  };
  if (request.body !== undefined && !hasHeader(request.headers, 'content-type')) {
    request.headers.push('content-type', 'application/octet-stream');
  }

  const output: OutputOptions = {
    json: values.json ?? false,
    htmlPath: values.html,
    failOnErrors: values['fail-on-errors'] ?? false,
    prometheus: parsePrometheusOptions(values),
    autoscaler: {
      targetP95Ms: values['hpa-target-p95'] === undefined ? DEFAULT_TARGET_P95_MS : durationOption('--hpa-target-p95', values['hpa-target-p95']),
      tolerance: values['hpa-tolerance'] === undefined ? DEFAULT_TOLERANCE : fraction('--hpa-tolerance', values['hpa-tolerance']),
    },
    progressIntervalMs: progressIntervalOption(values['progress-interval']),
  };
  if (output.htmlPath === '') throw new ArgError('--html needs a file name');

  const openLoop = values.rate !== undefined || values.stages !== undefined;
  const plan = openLoop ? parseOpenPlan(values) : parseClosedPlan(values);
  const adaptiveThrottleK = values['adaptive-throttle'] === undefined ? undefined : throttleK(values['adaptive-throttle']);
  if (adaptiveThrottleK !== undefined && values['retry-immediately']) {
    throw new ArgError('--adaptive-throttle is for well-behaved clients; --retry-immediately is the storm: give one');
  }
  return { kind: 'run', options: { request, plan, adaptiveThrottleK, output } };
}

/**
 * Lets `--flag` stand alone with a default value (node:util parseArgs has no optional values):
 * `--flag 3` keeps its number, `--flag` before another option, the URL or the end gets `fallback`.
 */
export function withOptionalValue(argv: readonly string[], flag: string, fallback: string): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i += 1) {
    const word = argv[i] ?? '';
    if (word !== flag) {
      out.push(word);
      continue;
    }
    const next = argv[i + 1];
    if (next !== undefined && /^\d+(?:\.\d+)?$/.test(next.trim())) {
      out.push(`${flag}=${next}`);
      i += 1;
    } else {
      out.push(`${flag}=${fallback}`);
    }
  }
  return out;
}

function throttleK(text: string): number {
  const value = Number(text);
  // Below 1 the client would reject requests even while the backend accepts them all.
  if (text.trim() === '' || !Number.isFinite(value) || value < 1) throw new ArgError(`--adaptive-throttle K must be a number >= 1 (default 2): ${text}`);
  return value;
}

function parseRetryPolicy(values: Values): RetryPolicy {
  const jitterText = values['retry-after-jitter'];
  if (values['retry-immediately']) {
    if (jitterText !== undefined) throw new ArgError('--retry-immediately ignores Retry-After: drop --retry-after-jitter');
    return { kind: 'immediate' };
  }
  if (jitterText === undefined) return { kind: 'retry-after', jitter: DEFAULT_RETRY_AFTER_JITTER };
  const jitter = Number(jitterText);
  if (jitterText.trim() === '' || !Number.isFinite(jitter) || jitter < 0 || jitter > 1) {
    throw new ArgError(`--retry-after-jitter must be a number from 0 to 1: ${jitterText}`);
  }
  return { kind: 'retry-after', jitter };
}

type Values = ReturnType<typeof parseArgs<{ options: typeof OPTION_SPEC }>>['values'];

function parseClosedPlan(values: Values): ClosedLoopPlan {
  if (values.connections !== undefined) {
    throw new ArgError('--connections is for open loop (--rate/--stages); closed loop uses one connection per -c');
  }
  const concurrency = values.concurrency === undefined ? DEFAULT_CONCURRENCY : positiveInteger('--concurrency', values.concurrency);
  const durationMs = values.duration === undefined ? undefined : durationOption('--duration', values.duration);
  const requests =
    values.requests === undefined ? (durationMs === undefined ? DEFAULT_REQUESTS : undefined) : positiveInteger('--requests', values.requests);
  return { mode: 'closed', concurrency, requests, durationMs, retry: parseRetryPolicy(values) };
}

function parseOpenPlan(values: Values): OpenLoopPlan {
  if (values.concurrency !== undefined) throw new ArgError('--concurrency is for closed loop; open loop takes --rate and --connections');
  if (values.requests !== undefined) throw new ArgError('--requests is for closed loop; open loop runs for --duration or --stages');
  for (const flag of ['retry-immediately', 'retry-after-jitter'] as const) {
    if (values[flag] !== undefined) throw new ArgError(`--${flag} is for closed loop: open loop sends each scheduled request once and never retries`);
  }
  const rate = values.rate === undefined ? undefined : positiveNumber('--rate', values.rate);
  let stages: Stage[];
  if (values.stages !== undefined) {
    if (values.duration !== undefined) throw new ArgError('--duration and --stages both set the length of the run: give one');
    stages = parseStages(values.stages);
  } else {
    const durationMs = values.duration === undefined ? DEFAULT_OPEN_DURATION_MS : durationOption('--duration', values.duration);
    stages = [{ durationMs, targetRatePerSecond: rate ?? 0 }];
  }
  const startRatePerSecond = rate ?? 0;
  const schedule = new RateSchedule(startRatePerSecond, stages);
  if (schedule.totalSends < 1) throw new ArgError('the rate plan sends no request: raise --rate or the --stages targets');
  const connections =
    values.connections === undefined ? defaultOpenConnections(schedule.peakRatePerSecond) : positiveInteger('--connections', values.connections);
  return { mode: 'open', schedule, stages, startRatePerSecond, connections };
}

/**
 * Connections are opened lazily by the pool, so a generous ceiling costs nothing while the
 * server keeps up, and lets in-flight requests grow when it stalls (about 200 ms worth at peak).
 */
function defaultOpenConnections(peakRatePerSecond: number): number {
  return Math.min(1024, Math.max(8, Math.ceil(peakRatePerSecond / 5)));
}

export function parseStages(text: string): Stage[] {
  const stages: Stage[] = [];
  for (const part of text.split(',')) {
    const [durationText, rateText, extra] = part.trim().split(':');
    if (durationText === undefined || rateText === undefined || extra !== undefined) {
      throw new ArgError(`--stages: "${part}" is not DURATION:RATE (e.g. 30s:10)`);
    }
    const durationMs = parseDurationMs(durationText);
    if (durationMs === undefined || durationMs <= 0) throw new ArgError(`--stages: "${durationText}" is not a duration (e.g. 500ms, 30s, 2m)`);
    const targetRatePerSecond = Number(rateText);
    if (rateText.trim() === '' || !Number.isFinite(targetRatePerSecond) || targetRatePerSecond < 0) {
      throw new ArgError(`--stages: "${rateText}" is not a rate (requests per second, >= 0)`);
    }
    stages.push({ durationMs, targetRatePerSecond });
  }
  return stages;
}

function parseMethod(text: string | undefined): string {
  const method = (text ?? 'GET').toUpperCase();
  if (!METHODS.has(method)) throw new ArgError(`--method must be one of ${[...METHODS].join(', ')}: ${text ?? ''}`);
  return method;
}

function parseHeaders(lines: readonly string[]): string[] {
  const flat: string[] = [];
  for (const line of lines) {
    const colon = line.indexOf(':');
    const name = colon > 0 ? line.slice(0, colon).trim() : '';
    if (!HEADER_NAME.test(name)) throw new ArgError(`--header must be 'Name: value': ${line}`);
    flat.push(name, line.slice(colon + 1).trim());
  }
  return flat;
}

function hasHeader(flat: readonly string[], lowerName: string): boolean {
  for (let i = 0; i < flat.length; i += 2) if (flat[i]?.toLowerCase() === lowerName) return true;
  return false;
}

function parseBody(text: string | undefined): Buffer | undefined {
  if (text === undefined) return undefined;
  if (!text.startsWith('@')) return Buffer.from(text);
  const path = text.slice(1);
  try {
    return readFileSync(path);
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    throw new ArgError(`--body: cannot read ${path}: ${reason}`);
  }
}

function fraction(flag: string, text: string): number {
  const value = Number(text);
  if (text.trim() === '' || !Number.isFinite(value) || value < 0 || value >= 1) throw new ArgError(`${flag} must be a number from 0 to below 1: ${text}`);
  return value;
}
