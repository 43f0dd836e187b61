import helmet from '@fastify/helmet';
import underPressure from '@fastify/under-pressure';
import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import { OverloadedError } from '../errors.ts';

export interface GuardOptions {
  readonly maxEventLoopDelayMs: number;
  readonly maxEventLoopUtilization: number;
  readonly retryAfterSeconds: number;
}

/** Route config that lets a route answer even when the API is under pressure (probes, metrics). */
export const EXEMPT_FROM_PRESSURE = { pressureHandler: () => undefined } as const;

/**
 * Cross-cutting protections: a main-thread pressure guard (a fast 503 beats a slow 200 when the
 * event loop itself is saturated) and security headers with a CSP the demo page satisfies.
 */
export const guards = fp(async (app: FastifyInstance, options: GuardOptions) => {
  await app.register(underPressure, {
    maxEventLoopDelay: options.maxEventLoopDelayMs,
    maxEventLoopUtilization: options.maxEventLoopUtilization,
    eventLoopUtilizationMode: 'interval',
    sampleInterval: 250,
    pressureHandler: async (_request, _reply, type, value) => {
      throw new OverloadedError(`the server is under pressure (${type}: ${String(value)})`, options.retryAfterSeconds);
    },
  });
  await app.register(helmet, {
    contentSecurityPolicy: {
      directives: {
        defaultSrc: ["'self'"],
        scriptSrc: ["'self'"],
        styleSrc: ["'self'"],
        imgSrc: ["'self'", 'data:', 'blob:'],
        mediaSrc: ["'self'", 'blob:', 'mediastream:'],
        connectSrc: ["'self'"],
        objectSrc: ["'none'"],
        frameAncestors: ["'none'"],
        baseUri: ["'self'"],
        formAction: ["'self'"],
      },
    },
    // Media and WHIP clients on other origins are governed by CORS, not by CORP.
    crossOriginResourcePolicy: { policy: 'same-site' },
    crossOriginEmbedderPolicy: false,
  });
});
