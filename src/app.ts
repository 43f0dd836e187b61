import { readFileSync } from 'node:fs';
import Fastify, { LogController, type FastifyError, type FastifyInstance, type FastifyServerOptions } from 'fastify';
import type { Config } from './config.ts';
import { chooseDevice } from './engine/device.ts';
import { Engine } from './engine/engine.ts';
import { HttpError } from './errors.ts';
import { healthRoutes } from './http/routes/health.ts';
import { infoRoutes } from './http/routes/info.ts';
import { processRoutes } from './http/routes/process.ts';
import { createMetrics, type Metrics } from './metrics.ts';

export interface AppContext {
  readonly app: FastifyInstance;
  readonly engine: Engine;
  readonly metrics: Metrics;
  /** Readiness goes 503 from now on (the process is shutting down). */
  startDraining(): void;
}

export interface BuildOptions {
  readonly logger?: FastifyServerOptions['logger'];
}

// src/app.ts and dist/src/app.js sit at different depths below package.json.
const packageJsonUrl = new URL(import.meta.url.includes('/dist/') ? '../../package.json' : '../package.json', import.meta.url);
const VERSION = (JSON.parse(readFileSync(packageJsonUrl, 'utf8')) as { version: string }).version;

/** Builds the HTTP app and its engine. Used by server.ts and by tests (`app.inject()`). */
export async function buildApp(config: Config, options: BuildOptions = {}): Promise<AppContext> {
  const app = Fastify({
    logger: options.logger ?? { level: config.logLevel },
    // Per-request log lines cost more than the work at hundreds of requests per second.
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: 1024 * 1024,
    requestTimeout: 120_000,
    keepAliveTimeout: 72_000,
  });

  const choice = chooseDevice(config);
  app.log.info({ device: choice.device, name: choice.name, reason: choice.reason }, 'effect backend chosen');

  let engine: Engine | undefined;
  const metrics = createMetrics({ p95WindowSeconds: config.p95WindowSeconds, queueDepth: () => engine?.queueDepth ?? 0 });
  engine = new Engine(
    {
      device: choice.device,
      deviceName: choice.name,
      workers: config.workers,
      maxQueue: config.maxQueue,
      retryAfterSeconds: config.retryAfterSeconds,
    },
    metrics,
  );
  const readyEngine = engine;
  let draining = false;

  app.addHook('onRequest', async (request) => {
    if (request.routeOptions.url === '/process') metrics.inflight.inc();
  });
  app.addHook('onResponse', async (request, reply) => {
    const endpoint = request.routeOptions.url ?? 'unmatched';
    metrics.requests.inc({ endpoint, status: String(reply.statusCode) });
    if (endpoint !== '/process') return;
    metrics.inflight.dec();
    if (reply.statusCode < 300) {
      const seconds = reply.elapsedTime / 1000;
      metrics.requestLatency.observe(seconds);
      metrics.latencyWindow.recordSeconds(seconds);
    } else if (reply.statusCode === 503) {
      metrics.rejected.inc({ reason: 'queue_full' });
    }
  });

  // A draining pod tells keep-alive clients to reconnect, so they move to other pods and the
  // server's close is not held open by busy connections.
  app.addHook('onSend', async (_request, reply) => {
    if (draining) reply.header('connection', 'close');
  });

  app.setErrorHandler((error: FastifyError, request, reply) => {
    if (error instanceof HttpError) {
      if (error.statusCode >= 500) request.log.error({ err: error }, 'request failed');
      return reply.code(error.statusCode).headers(error.headers).send({ error: error.code, detail: error.message });
    }
    const status = error.statusCode ?? 500;
    if (status >= 400 && status < 500) {
      const code = error.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE' ? 'unsupported_media_type' : error.code === 'FST_ERR_CTP_BODY_TOO_LARGE' ? 'payload_too_large' : 'bad_request';
      return reply.code(status).send({ error: code, detail: error.message });
    }
    request.log.error({ err: error }, 'unexpected error');
    return reply.code(500).send({ error: 'internal', detail: 'internal error' });
  });
  app.setNotFoundHandler((request, reply) =>
    reply.code(404).send({ error: 'not_found', detail: `no route ${request.method} ${request.url.split('?')[0]}` }),
  );

  await app.register(healthRoutes, { engine: readyEngine, version: VERSION, isDraining: () => draining });
  await app.register(infoRoutes, { metrics });
  await app.register(processRoutes, {
    engine: readyEngine,
    limits: { maxPixels: config.maxPixels, maxIters: config.maxIters },
    maxBodyBytes: config.maxBodyBytes,
  });
  app.addHook('onClose', async () => readyEngine.close());

  await readyEngine.start();
  return {
    app,
    engine: readyEngine,
    metrics,
    startDraining: () => {
      draining = true;
    },
  };
}
