import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { FastifyBaseLogger } from 'fastify';
import { Agent } from 'undici';
import { ConfigError, type Config } from '../config.ts';
import type { Metrics } from '../metrics.ts';

/**
 * Keeps this pod's `controller.kubernetes.io/pod-deletion-cost` annotation at its number of live
 * WebRTC peer connections, so that a scale-down removes the pods with the fewest calls first. One
 * strategic-merge PATCH of the pod's own metadata, only when the count changed, at most once per
 * interval; the service-account token is read again for every request (projected tokens rotate).
 *
 * Not verified on a live cluster: the requests are checked against a local server
 * (test/fleet/deletion-cost.test.ts).
 */

export const DELETION_COST_ANNOTATION = 'controller.kubernetes.io/pod-deletion-cost';
const REQUEST_TIMEOUT_MS = 5000;

export interface DeletionCostOptions {
  /** e.g. https://10.96.0.1:443 */
  readonly apiUrl: string;
  readonly namespace: string;
  readonly podName: string;
  /** Holds `token` and, for https, `ca.crt`. */
  readonly serviceAccountDir: string;
  readonly intervalMs: number;
  /** The pod's live sessions now. */
  readonly count: () => number;
  readonly log: FastifyBaseLogger;
  readonly metrics: Pick<Metrics, 'deletionCostPatches'>;
}

export class DeletionCostUpdater {
  readonly #options: DeletionCostOptions;
  #agent: Agent | undefined;
  #timer: NodeJS.Timeout | undefined;
  #patched: number | undefined;
  #running: Promise<void> | undefined;
  #failures = 0;
  #stopped = false;

  constructor(options: DeletionCostOptions) {
    this.#options = options;
  }

  /** The value last written to the annotation (undefined before the first success). */
  get patchedCost(): number | undefined {
    return this.#patched;
  }

  start(): void {
    if (this.#timer) return;
    void this.tick();
    this.#timer = setInterval(() => void this.tick(), this.#options.intervalMs);
    this.#timer.unref();
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    clearInterval(this.#timer);
    this.#timer = undefined;
    await this.#running;
    const agent = this.#agent;
    this.#agent = undefined;
    await agent?.close();
  }

  /** Patches the annotation if the count differs from the last value written. One request at a time. */
  tick(): Promise<void> {
    if (this.#running) return this.#running;
    if (this.#stopped) return Promise.resolve();
    const cost = this.#options.count();
    if (cost === this.#patched) return Promise.resolve();
    this.#running = this.#patch(cost).finally(() => {
      this.#running = undefined;
    });
    return this.#running;
  }

  async #patch(cost: number): Promise<void> {
    const { apiUrl, namespace, podName, serviceAccountDir, log, metrics } = this.#options;
    try {
      const token = (await readFile(path.join(serviceAccountDir, 'token'), 'utf8')).trim();
      this.#agent ??= new Agent({
        connect: { timeout: REQUEST_TIMEOUT_MS, ...(apiUrl.startsWith('https:') ? { ca: await readFile(path.join(serviceAccountDir, 'ca.crt'), 'utf8') } : {}) },
        headersTimeout: REQUEST_TIMEOUT_MS,
        bodyTimeout: REQUEST_TIMEOUT_MS,
        connections: 1,
      });
      const res = await this.#agent.request({
        origin: apiUrl,
        path: `/api/v1/namespaces/${encodeURIComponent(namespace)}/pods/${encodeURIComponent(podName)}`,
        method: 'PATCH',
        headers: {
          authorization: `Bearer ${token}`,
          'content-type': 'application/strategic-merge-patch+json',
          accept: 'application/json',
        },
        body: JSON.stringify({ metadata: { annotations: { [DELETION_COST_ANNOTATION]: String(cost) } } }),
      });
      // The API answers with the whole pod; only the status matters.
      await res.body.dump({ limit: 1024 * 1024 });
      if (res.statusCode < 200 || res.statusCode >= 300) throw new Error(`the API answered ${res.statusCode}`);
      this.#patched = cost;
      this.#failures = 0;
      metrics.deletionCostPatches.inc({ result: 'ok' });
    } catch (err) {
      metrics.deletionCostPatches.inc({ result: 'failed' });
      // One line per run of failures: a missing Role must not flood the log every few seconds.
      if (this.#failures++ === 0) log.warn({ err, podName, namespace }, 'pod-deletion-cost update failed; retrying');
    }
  }
}

export type DeletionCostConfig = Pick<
  Config,
  | 'podDeletionCost'
  | 'podDeletionCostIntervalSeconds'
  | 'podName'
  | 'podNamespace'
  | 'kubernetesApiUrl'
  | 'kubernetesServiceHost'
  | 'kubernetesServicePort'
  | 'serviceAccountDir'
>;

/**
 * The updater POD_DELETION_COST asks for, or undefined when it is off. Missing pieces stop the
 * start-up with a ConfigError naming them (a silently idle updater would hide a broken rollout).
 */
export function deletionCostUpdater(
  config: DeletionCostConfig,
  deps: Pick<DeletionCostOptions, 'count' | 'log' | 'metrics'>,
): DeletionCostUpdater | undefined {
  if (!config.podDeletionCost) return undefined;
  const host = config.kubernetesServiceHost;
  const apiUrl =
    config.kubernetesApiUrl ??
    (host !== undefined ? `https://${host.includes(':') ? `[${host}]` : host}:${config.kubernetesServicePort ?? 443}` : undefined);
  let namespace = config.podNamespace;
  if (namespace === undefined) {
    try {
      namespace = readFileSync(path.join(config.serviceAccountDir, 'namespace'), 'utf8').trim();
    } catch {
      // reported below
    }
  }
  const missing = [
    ...(config.podName === undefined ? ['POD_NAME'] : []),
    ...(namespace === undefined || namespace === '' ? ['POD_NAMESPACE'] : []),
    ...(apiUrl === undefined ? ['KUBERNETES_API_URL (or KUBERNETES_SERVICE_HOST)'] : []),
  ];
  if (missing.length > 0) throw new ConfigError(`POD_DELETION_COST=true needs ${missing.join(', ')}`);
  return new DeletionCostUpdater({
    apiUrl: apiUrl!,
    namespace: namespace!,
    podName: config.podName!,
    serviceAccountDir: config.serviceAccountDir,
    intervalMs: config.podDeletionCostIntervalSeconds * 1000,
    ...deps,
  });
}
