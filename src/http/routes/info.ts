import type { FastifyInstance } from 'fastify';
import { EFFECTS } from '../../effects/catalog.ts';
import type { Metrics } from '../../metrics.ts';

export async function infoRoutes(app: FastifyInstance, options: { readonly metrics: Metrics }): Promise<void> {
  app.get('/effects', async () => ({
    effects: Object.entries(EFFECTS).map(([name, spec]) => ({ name, description: spec.description, params: spec.params })),
    formats: ['rgba', 'i420'],
  }));

  app.get('/metrics', async (_request, reply) => {
    reply.type(options.metrics.registry.contentType);
    return options.metrics.registry.metrics();
  });
}
