import { readFileSync } from 'node:fs';
import Fastify, { LogController, type FastifyError, type FastifyInstance, type FastifyServerOptions } from 'fastify';
import { memoryBudgetBytes, workerMemoryBytes, type Config } from './config.ts';
import { chooseDevice } from './engine/device.ts';
import { chooseKernelBuild } from './effects/wasm.ts';
import { chooseNativeKernels } from './effects/native.ts';
import { Engine } from './engine/engine.ts';
import { errorBody, ERRORS, fastifyErrorCode, HttpError, RequestCancelledError, type RejectReason } from './errors.ts';
import { corsHeaders } from './http/cors.ts';
import { healthRoutes } from './http/routes/health.ts';
import { clientKeys } from './net/client-key.ts';
import { guards } from './http/guards.ts';
import { LOG_SERIALIZERS } from './http/log-serializers.ts';
import { infoRoutes, metricsRoute } from './http/routes/info.ts';
import { captionRoutes } from './http/routes/captions.ts';
import { processRoutes } from './http/routes/process.ts';
import { RefusalHold } from './http/refusal-hold.ts';
import { demoRoutes } from './http/routes/demo.ts';
import { whipRoutes } from './http/routes/whip.ts';
import { IceLinks } from './http/ice-links.ts';
import { SessionRegistry } from './webrtc/session-registry.ts';
import type { SpeechProvider } from './webrtc/session-media.ts';
import { captionsAvailable, createCaptionPipeline, SubtitleOverlay } from './speech/index.ts';
import { speechPaths } from './speech/pipeline.ts';
import { createMetrics, processOutcome, type Metrics } from './metrics.ts';
import { Fleet } from './fleet/fleet.ts';
import { deletionCostUpdater } from './fleet/deletion-cost.ts';
import { packageUrl } from './paths.ts';

export interface AppContext {
  readonly app: FastifyInstance;
  /** Serves /metrics alone when METRICS_PORT is set (not listening yet). */
  readonly metricsApp: FastifyInstance | undefined;
  readonly engine: Engine;
  readonly metrics: Metrics;
  /** WebRTC sessions (WHIP/WHEP): `drain(seconds)` and `closeAll(outcome)` for shutdown. */
  readonly sessions: SessionRegistry;
  /** This replica's place in the fleet: its address, the members, forwarding to session owners. */
  readonly fleet: Fleet;
  /** Readiness goes 503 from now on (the process is shutting down). */
  startDraining(): void;
}

export interface BuildOptions {
  readonly logger?: FastifyServerOptions['logger'];
  /** Captions, translation and subtitles for the WebRTC sessions (default: src/speech, as the pod's files allow). */
  readonly speech?: SpeechProvider;
}

const packageJsonUrl = packageUrl('package.json');
const VERSION = (JSON.parse(readFileSync(packageJsonUrl, 'utf8')) as { version: string }).version;

/** Builds the HTTP app and its engine. Used by server.ts and by tests (`app.inject()`). */
export async function buildApp(config: Config, options: BuildOptions = {}): Promise<AppContext> {
  const app = Fastify({
    // Resource URLs carry secrets: whatever logs a request or a parse error goes through these.
    logger: options.logger ?? { level: config.logLevel, serializers: LOG_SERIALIZERS },
    // Per-request log lines cost more than the work at hundreds of requests per second.
    logController: new LogController({ disableRequestLogging: true }),
    // Routes that take media set their own limits (MAX_BODY_BYTES, SDP); everything else is small.
    bodyLimit: 64 * 1024,
    // Session ids carry their owner's address and a secret (src/fleet/session-id.ts): longer than
    // Fastify's default 100 characters with an IPv6 or DNS-name owner.
    routerOptions: { maxParamLength: 512 },
    requestTimeout: config.requestTimeoutSeconds * 1000,
    keepAliveTimeout: config.keepAliveTimeoutSeconds * 1000,
    // Behind an ingress every socket is the proxy's: per-client limits need the forwarded address.
    ...(config.trustProxy.length > 0 ? { trustProxy: [...config.trustProxy] } : {}),
  });
  app.server.headersTimeout = config.headersTimeoutSeconds * 1000;

  const choice = chooseDevice(config);
  const kernelBuild = chooseKernelBuild(config.wasmRelaxedSimd);
  const native = chooseNativeKernels(config.nativeKernels);
  app.log.info(
    { device: choice.device, name: choice.name, reason: choice.reason, kernelBuild, nativeKernels: native.isa ?? 'none', ...(native.isa ? {} : { nativeReason: native.reason }) },
    'effect backend chosen',
  );

  const refusals = new RefusalHold({ holdSeconds: config.refusalHoldSeconds ?? config.retryAfterSeconds, maxHeld: config.maxHeldRefusals });
  // The queue-depth gauge reads the engine at scrape time; the engine records into the metrics.
  let engine: Engine;
  const metrics = createMetrics({
    p95WindowSeconds: config.p95WindowSeconds,
    queueDepth: () => engine.queueDepth,
    memoryInflightBytes: () => engine.memory.inUseBytes,
    oldestWaitSeconds: () => engine.oldestWaitSeconds(),
    heldRefusals: () => refusals.held,
    devices: choice.device === 'cuda' ? ['cuda', 'cpu'] : ['cpu'],
  });
  const countRejection = (reason: RejectReason): void => {
    metrics.rejected.inc({ reason });
  };
  engine = new Engine(
    {
      device: choice.device,
      deviceName: choice.name,
      workers: config.workers,
      mediaWorkers: config.mediaWorkers,
      maxQueue: config.maxQueue,
      lifoAfterSeconds: config.queueLifoAfterSeconds,
      retryAfterSeconds: config.retryAfterSeconds,
      onRejected: countRejection,
      log: app.log.child({ component: 'engine' }),
      workerMemoryBytes: workerMemoryBytes(config),
      cardCacheBytes: config.testCardCacheBytes,
      kernelBuild,
      ...(native.isa ? { nativeIsa: native.isa } : {}),
      memoryBudgetBytes: memoryBudgetBytes(config),
      maxQueueWaitSeconds: config.maxQueueWaitSeconds,
      maxJobSeconds: config.maxJobSeconds,
      clientQueueShare: config.clientQueueShare,
      memoryClientShare: config.memoryClientShare,
    },
    metrics,
  );
  let draining = false;

  app.addHook('onRequest', async (request, reply) => {
    if (request.routeOptions.url !== '/process') return;
    metrics.inflight.inc();
    // 'close' comes once for every response, also when the client went away before it (onResponse does not).
    reply.raw.once('close', () => metrics.inflight.dec());
  });
  app.addHook('onResponse', async (request, reply) => {
    const endpoint = request.routeOptions.url ?? 'unmatched';
    metrics.requests.inc({ endpoint, status: String(reply.statusCode) });
    if (endpoint !== '/process') return;
    metrics.outcomeWindow.record(processOutcome(reply.statusCode));
    if (reply.statusCode < 300) {
      const seconds = reply.elapsedTime / 1000;
      metrics.requestLatency.observe(seconds);
      metrics.latencyWindow.recordSeconds(seconds);
    }
  });

  // A draining pod tells keep-alive clients to reconnect, so they move to other pods and the
  // server's close is not held open by busy connections.
  app.addHook('onSend', async (_request, reply) => {
    if (draining) reply.header('connection', 'close');
  });

  app.setErrorHandler((error: FastifyError, request, reply) => {
    if (error instanceof HttpError) {
      // A 500 says only its code: what failed inside stays in the log. A 503 tells the client why.
      if (error.statusCode === 500) {
        request.log.error({ err: error }, 'request failed');
        return reply.code(500).headers(error.headers).send(errorBody(error.code));
      }
      return reply.code(error.statusCode).headers(error.headers).send(errorBody(error.code, error.message));
    }
    // Nobody is left to answer (nginx's 499); the status only reaches the metrics.
    if (error instanceof RequestCancelledError) return reply.code(ERRORS[error.code].status).send(errorBody(error.code, error.message));
    const status = error.statusCode ?? 500;
    if (status >= 400 && status < 500) return reply.code(status).send(errorBody(fastifyErrorCode(error.code), error.message));
    request.log.error({ err: error }, 'unexpected error');
    return reply.code(500).send(errorBody('internal'));
  });
  app.setNotFoundHandler((request, reply) =>
    reply.code(404).send(errorBody('not_found', `no route ${request.method} ${request.url.split('?')[0]}`)),
  );

  // Before the guards, so that their refusals (503 under pressure, 429) carry CORS headers too.
  await app.register(corsHeaders, { origins: config.corsOrigins, paths: ['/whip', '/whep'] });
  await app.register(clientKeys, { ipv6PrefixBits: config.clientIpv6PrefixBits });
  await app.register(guards, {
    maxEventLoopDelayMs: config.maxEventLoopDelayMs,
    maxEventLoopUtilization: config.maxEventLoopUtilization,
    retryAfterSeconds: config.retryAfterSeconds,
    onRejected: countRejection,
  });
  await app.register(healthRoutes, { engine: engine, version: VERSION, isDraining: () => draining });
  // `sessions` is built below; /effects reads it only when asked.
  await app.register(infoRoutes, { captions: () => sessions.captionsAvailability() });
  if (config.metricsPort === undefined) await app.register(metricsRoute, { metrics });
  await app.register(processRoutes, {
    engine: engine,
    limits: { maxPixels: config.maxPixels, maxIters: config.maxIters },
    maxBodyBytes: config.maxBodyBytes,
    requestDeadlineSeconds: config.requestDeadlineSeconds,
    refusals,
  });
  app.addHook('onClose', async () => engine.close());
  const fleet = new Fleet(config, { metrics, log: app.log.child({ component: 'fleet' }) });
  app.addHook('onClose', async () => fleet.close());
  // Before the WHIP/WHEP routes' own hooks (the token, the per-client rate limit): a forwarded call is
  // proven and counted under the client it carries first; a forged one goes no further.
  app.addHook('onRequest', fleet.authenticateForwarded);
  app.addHook('preParsing', fleet.readBody);
  app.addHook('preValidation', fleet.checkForwardedBody);
  const iceLinks = new IceLinks({
    servers: config.iceServers,
    turnSecret: config.turnSecret,
    ttlSeconds: config.turnCredentialTtlSeconds,
    perClientPerMinute: config.turnCredentialsPerMinute,
    retryAfterSeconds: config.retryAfterSeconds,
    onRejected: countRejection,
  });
  const sessions = new SessionRegistry({ ...config, iceServers: iceLinks.podIceServers }, {
    engine,
    metrics,
    log: app.log.child({ component: 'webrtc' }),
    isDraining: () => draining,
    selfAddress: fleet.selfAddress,
    speech: options.speech ?? {
      availability: () => captionsAvailable(speechPaths(config)),
      createPipeline: (request) => createCaptionPipeline(request, { log: app.log.child({ component: 'captions' }), metrics, limits: config }),
      createOverlay: () => new SubtitleOverlay({ fontFile: config.subtitleFontFile }),
    },
  });
  await app.register(whipRoutes, { sessions, config, fleet, iceLinks, engine, onRejected: countRejection });
  await app.register(captionRoutes, { sessions, config, fleet });
  const deletionCost = deletionCostUpdater(config, { count: () => sessions.peerCount, log: app.log.child({ component: 'pod-deletion-cost' }), metrics });
  if (deletionCost) {
    deletionCost.start();
    app.addHook('onClose', async () => deletionCost.stop());
  }
  await app.register(demoRoutes);
  // Calls in progress get SESSION_DRAIN_SECONDS to end on their own before the rest are closed.
  app.addHook('preClose', async () => sessions.drain(config.sessionDrainSeconds));
  app.addHook('onClose', async () => sessions.closeAll('drained'));

  let metricsApp: FastifyInstance | undefined;
  if (config.metricsPort !== undefined) {
    metricsApp = Fastify({ logger: false });
    await metricsApp.register(metricsRoute, { metrics });
    const separate = metricsApp;
    app.addHook('onClose', async () => separate.close());
  }

  await engine.start();
  return {
    app,
    metricsApp,
    engine: engine,
    metrics,
    sessions,
    fleet,
    startDraining: () => {
      draining = true;
    },
  };
}
