import type { FastifyInstance } from 'fastify';
import { EFFECTS } from '../../effects/catalog.ts';
import type { Metrics } from '../../metrics.ts';
import { EXEMPT_FROM_PRESSURE } from '../guards.ts';

export async function infoRoutes(app: FastifyInstance): Promise<void> {
  app.get('/effects', async () => ({
    effects: Object.entries(EFFECTS).map(([name, spec]) => ({ name, description: spec.description, params: spec.params })),
    formats: ['rgba', 'i420'],
  }));
}

/** `/metrics`, on the main port or alone on METRICS_PORT. Scrapes never wait behind the pressure guard. */
export async function metricsRoute(app: FastifyInstance, options: { readonly metrics: Metrics }): Promise<void> {
  app.get('/metrics', { config: EXEMPT_FROM_PRESSURE }, async (_request, reply) => {
    reply.type(options.metrics.registry.contentType);
    return options.metrics.registry.metrics();
  });
}
