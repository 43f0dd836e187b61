import { existsSync } from 'node:fs';
import fastifyStatic from '@fastify/static';
import type { FastifyInstance } from 'fastify';
import { packagePath } from '../../paths.ts';

const publicDir = packagePath('public/');

/** The demo page at `/` (plain files from public/, nothing built). */
export async function demoRoutes(app: FastifyInstance): Promise<void> {
  if (!existsSync(publicDir)) {
    // An image built without public/ still serves the API.
    app.log.warn({ publicDir }, 'demo page not found, not served');
    return;
  }
  await app.register(fastifyStatic, {
    root: publicDir,
    // One route per file present at start-up: no wildcard competing with the API's 404s.
    wildcard: false,
    index: 'index.html',
    decorateReply: false,
    cacheControl: true,
    maxAge: '5m',
  });
}
