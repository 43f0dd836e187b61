import { Agent, request } from 'undici';
import { ArgError, durationOption } from './args.ts';

export const DEFAULT_REPLICAS_QUERY = 'sum(kube_deployment_status_replicas{namespace="rtc",deployment="gpu-media"})';
export const DEFAULT_P95_QUERY = 'histogram_quantile(0.95, sum(rate(app_request_latency_seconds_bucket[1m])) by (le))';
/**
 * Refused over all /process answers across the pods, over the p95 query's minute: what
 * app_request_refusal_ratio says per pod. clamp_min keeps a quiet minute at 0 rather than NaN.
 */
export const DEFAULT_REFUSAL_QUERY =
  'sum(rate(app_requests_total{endpoint="/process",status="503"}[1m])) / clamp_min(sum(rate(app_requests_total{endpoint="/process"}[1m])), 1e-9)';
const DEFAULT_PROMETHEUS_INTERVAL_MS = 5_000;
const MIN_PROMETHEUS_INTERVAL_MS = 100;

export interface PrometheusOptions {
  baseUrl: URL;
  intervalMs: number;
  replicasQuery: string;
  p95Query: string;
  refusalQuery: string;
}

export interface PrometheusFlagValues {
  readonly prometheus?: string | undefined;
  readonly 'prometheus-interval'?: string | undefined;
  readonly 'replicas-query'?: string | undefined;
  readonly 'p95-query'?: string | undefined;
  readonly 'refusal-query'?: string | undefined;
}

/** The --prometheus flags, shared by the commands that sample Prometheus during a run. */
export function parsePrometheusOptions(values: PrometheusFlagValues): PrometheusOptions | undefined {
  const base = values.prometheus;
  if (base === undefined) {
    for (const name of ['prometheus-interval', 'replicas-query', 'p95-query', 'refusal-query'] as const) {
      if (values[name] !== undefined) throw new ArgError(`--${name} needs --prometheus URL`);
    }
    return undefined;
  }
  let baseUrl: URL;
  try {
    baseUrl = new URL(base);
  } catch {
    throw new ArgError(`--prometheus: not a URL: ${base}`);
  }
  if (baseUrl.protocol !== 'http:' && baseUrl.protocol !== 'https:') throw new ArgError(`--prometheus must be http:// or https://: ${base}`);
  const intervalText = values['prometheus-interval'];
  const intervalMs = intervalText === undefined ? DEFAULT_PROMETHEUS_INTERVAL_MS : durationOption('--prometheus-interval', intervalText);
  if (intervalMs < MIN_PROMETHEUS_INTERVAL_MS) throw new ArgError('--prometheus-interval must be at least 100ms');
  return {
    baseUrl,
    intervalMs,
    replicasQuery: values['replicas-query'] ?? DEFAULT_REPLICAS_QUERY,
    p95Query: values['p95-query'] ?? DEFAULT_P95_QUERY,
    refusalQuery: values['refusal-query'] ?? DEFAULT_REFUSAL_QUERY,
  };
}

export interface PrometheusSample {
  tSeconds: number;
  replicas: number | null;
  /** Server-side p95 of served requests from the --p95-query, converted from seconds. */
  p95Ms: number | null;
  /** Share of /process answers refused, 0 to 1, from the --refusal-query. */
  refusalRatio: number | null;
}

const QUERY_TIMEOUT_CAP_MS = 3000;

/**
 * Samples three instant queries from Prometheus's HTTP API during the run. Prometheus being
 * absent or failing never stops the run: the first failure is reported once as a warning.
 */
export class PrometheusSampler {
  readonly samples: PrometheusSample[] = [];
  failures = 0;
  readonly #options: PrometheusOptions;
  readonly #startMs: number;
  readonly #warn: (message: string) => void;
  readonly #timeoutMs: number;
  /** Its own connections, closed at stop(), so nothing keeps the process alive afterwards. */
  readonly #agent = new Agent({ connections: 2 });
  #timer: NodeJS.Timeout | undefined;
  #pending: Promise<void> | undefined;
  #warned = false;

  constructor(options: PrometheusOptions, startMs: number, warn: (message: string) => void) {
    this.#options = options;
    this.#startMs = startMs;
    this.#warn = warn;
    this.#timeoutMs = Math.min(QUERY_TIMEOUT_CAP_MS, options.intervalMs);
  }

  start(): void {
    this.#sampleUnlessBusy();
    this.#timer = setInterval(() => this.#sampleUnlessBusy(), this.#options.intervalMs);
  }

  /** Stops sampling after one last sample, so short runs still show where they ended. */
  async stop(): Promise<void> {
    if (this.#timer !== undefined) clearInterval(this.#timer);
    this.#timer = undefined;
    await this.#pending;
    await this.#sample();
    await this.#agent.close();
  }

  #sampleUnlessBusy(): void {
    if (this.#pending !== undefined) return;
    this.#pending = this.#sample().finally(() => {
      this.#pending = undefined;
    });
  }

  async #sample(): Promise<void> {
    const tSeconds = (performance.now() - this.#startMs) / 1000;
    const { replicasQuery, p95Query, refusalQuery } = this.#options;
    const [replicas, p95Seconds, refusalRatio] = await Promise.all([this.#query(replicasQuery), this.#query(p95Query), this.#query(refusalQuery)]);
    if (replicas === undefined && p95Seconds === undefined && refusalRatio === undefined) return;
    this.samples.push({
      tSeconds,
      replicas: replicas ?? null,
      p95Ms: p95Seconds === undefined || p95Seconds === null ? null : p95Seconds * 1000,
      refusalRatio: refusalRatio ?? null,
    });
  }

  /** The query's value; null when Prometheus answered with no data, undefined when it failed. */
  async #query(promql: string): Promise<number | null | undefined> {
    const url = new URL('api/v1/query', withTrailingSlash(this.#options.baseUrl));
    url.searchParams.set('query', promql);
    try {
      const response = await request(url, {
        method: 'GET',
        dispatcher: this.#agent,
        headersTimeout: this.#timeoutMs,
        bodyTimeout: this.#timeoutMs,
        signal: AbortSignal.timeout(this.#timeoutMs),
      });
      const text = await response.body.text();
      if (response.statusCode !== 200) throw new Error(`HTTP ${response.statusCode}: ${text.slice(0, 200)}`);
      return parseInstantValue(JSON.parse(text) as unknown);
    } catch (error) {
      this.failures += 1;
      if (!this.#warned) {
        this.#warned = true;
        const reason = error instanceof Error ? error.message : String(error);
        this.#warn(`warning: Prometheus query failed, the run continues without it (${this.#options.baseUrl.href}: ${reason})`);
      }
      return undefined;
    }
  }
}

function withTrailingSlash(url: URL): URL {
  return url.pathname.endsWith('/') ? url : new URL(`${url.pathname}/`, url);
}

/** Reads `/api/v1/query` JSON: the first vector element's value, or a scalar. */
export function parseInstantValue(payload: unknown): number | null {
  const body = payload as { status?: unknown; error?: unknown; data?: { resultType?: unknown; result?: unknown } };
  if (body.status !== 'success') throw new Error(`Prometheus error: ${typeof body.error === 'string' ? body.error : 'unexpected answer'}`);
  const result = body.data?.result;
  let raw: unknown;
  if (body.data?.resultType === 'scalar' && Array.isArray(result)) raw = result[1];
  else if (Array.isArray(result) && result.length > 0) {
    const first = result[0] as { value?: unknown };
    raw = Array.isArray(first.value) ? first.value[1] : undefined;
  }
  if (raw === undefined) return null;
  const value = Number(raw);
  return Number.isFinite(value) ? value : null;
}
