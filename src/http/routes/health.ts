import type { FastifyInstance } from 'fastify';
import type { EffectEngine } from '../../engine/engine-types.ts';
import { EXEMPT_FROM_PRESSURE } from '../guards.ts';

export interface HealthRouteOptions {
  readonly engine: EffectEngine;
  readonly version: string;
  readonly isDraining: () => boolean;
}

/** Liveness says the process answers; readiness says it should get traffic. */
export async function healthRoutes(app: FastifyInstance, options: HealthRouteOptions): Promise<void> {
  const startedAt = performance.now();
  app.get('/healthz', { config: EXEMPT_FROM_PRESSURE }, async () => ({
    ok: true,
    device: options.engine.device,
    // A CUDA engine that gave its GPU up serves on the CPU: still alive and ready, but flagged.
    degraded: options.engine.degraded,
    ...(options.engine.gpu ? { gpu: options.engine.gpu } : {}),
    version: options.version,
    uptimeSeconds: Math.round((performance.now() - startedAt) / 100) / 10,
  }));

  app.get('/readyz', { config: EXEMPT_FROM_PRESSURE }, async (_request, reply) => {
    const draining = options.isDraining();
    const ready = options.engine.ready && !draining;
    reply.code(ready ? 200 : 503);
    return { ready, draining, workersReady: options.engine.ready };
  });
}
