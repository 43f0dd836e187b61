import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';

export interface CorsOptions {
  /** CORS_ORIGINS: allowed origins, or '*' for any. */
  readonly origins: readonly string[];
  /** Path prefixes that browsers call from other origins (WHIP, WHEP). */
  readonly paths: readonly string[];
}

/**
 * CORS headers for the WHIP/WHEP resources, set first thing in a request: every answer carries
 * them, refusals by the pressure guard and the rate limit included, so a browser client can read
 * the 503 or 429 and its Retry-After instead of seeing an opaque network error.
 */
export const corsHeaders = fp(async (app: FastifyInstance, options: CorsOptions) => {
  const anyOrigin = options.origins.includes('*');
  app.addHook('onRequest', async (request, reply) => {
    const origin = request.headers.origin;
    if (origin === undefined || !(anyOrigin || options.origins.includes(origin))) return;
    if (!options.paths.some((p) => request.url === p || request.url.startsWith(`${p}/`) || request.url.startsWith(`${p}?`))) return;
    reply.header('access-control-allow-origin', origin);
    reply.header('vary', 'Origin');
    reply.header('access-control-expose-headers', 'Location, ETag, Link, Retry-After, Accept-Post');
    if (request.method === 'OPTIONS') {
      reply.header('access-control-allow-methods', 'GET, POST, PUT, PATCH, DELETE, OPTIONS');
      reply.header('access-control-allow-headers', 'Authorization, Content-Type, If-Match');
      reply.header('access-control-max-age', '600');
    }
  });
});
