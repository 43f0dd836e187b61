import rateLimit from '@fastify/rate-limit';
import underPressure from '@fastify/under-pressure';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import helmet from 'helmet';
import { HttpError, OverloadedError, type RejectReason } from '../errors.ts';

export interface GuardOptions {
  readonly maxEventLoopDelayMs: number;
  readonly maxEventLoopUtilization: number;
  readonly retryAfterSeconds: number;
  /** Called where a request is refused (pressure, rate limit): for app_rejected_total. */
  readonly onRejected?: (reason: RejectReason) => void;
}

// @fastify/under-pressure reads a per-route `pressureHandler` from the route config but does not
// declare it; say so, so route configs type-check alongside @fastify/rate-limit's `rateLimit`.
declare module 'fastify' {
  interface FastifyContextConfig {
    pressureHandler?: (request: FastifyRequest, reply: FastifyReply, type: string, value: number | undefined) => Promise<void> | void;
  }
}

/** Route config that lets a route answer even when the API is under pressure (probes, metrics). */
export const EXEMPT_FROM_PRESSURE = { pressureHandler: () => undefined } as const;

/**
 * Route config for the routes that create sessions: a per-client-address budget, so one client
 * cannot take every session slot or churn peer connections. 0 turns it off.
 */
export function sessionCreationLimit(perMinute: number, exempt?: (request: FastifyRequest) => boolean | Promise<boolean>) {
  return { rateLimit: perMinute > 0 ? { max: perMinute, timeWindow: 60_000, ...(exempt ? { allowList: exempt } : {}) } : false } as const;
}

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
      options.onRejected?.('pressure');
      // Closing the connection makes a client that retries at once pay for a new one.
      throw new OverloadedError(`the server is under pressure (${type}: ${String(value)})`, options.retryAfterSeconds, 'pressure', 'overloaded', { connection: 'close' });
    },
  });
  // Off by default; the session-creating routes opt in with sessionCreationLimit().
  await app.register(rateLimit, {
    global: false,
    // Per client as the other per-client limits count it (an IPv6 client by its /64: src/net/client-key.ts).
    keyGenerator: (request) => request.client,
    errorResponseBuilder: (_request, context) => {
      options.onRejected?.('rate_limited');
      return new HttpError('rate_limited', `too many sessions from this address: ${context.max} per minute; retry in ${context.after}`, {
        'retry-after': String(Math.ceil(context.ttl / 1000)),
      });
    },
  });
  // Security headers with a CSP the demo page satisfies. Built once: @fastify/helmet builds the
  // middleware again for every request (measured: about a tenth of the main thread's time per
  // refusal under a storm), for headers that never change.
  const securityHeaders = helmet({
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
  app.addHook('onRequest', (request, reply, done) => securityHeaders(request.raw, reply.raw, (err?: unknown) => done(err as Error | undefined)));
});
