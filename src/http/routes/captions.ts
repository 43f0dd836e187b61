import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Config } from '../../config.ts';
import { HttpError, notFound } from '../../errors.ts';
import type { Fleet } from '../../fleet/fleet.ts';
import { parseId } from '../../fleet/session-id.ts';
import type { Caption, CaptionPipeline } from '../../speech/caption-types.ts';
import type { SessionRegistry } from '../../webrtc/session-registry.ts';
import { EXEMPT_FROM_PRESSURE } from '../guards.ts';
import { bearerMatches } from '../whip-support.ts';

export interface CaptionRouteOptions {
  /** Finds a session's captions by publisher resource id or watch id (the session id viewers get). */
  readonly sessions: Pick<SessionRegistry, 'captions' | 'publisher' | 'get' | 'captionsAvailability'>;
  readonly config: Pick<Config, 'whipToken' | 'captionsSseMaxSubscribers' | 'captionsSseMaxSeconds'>;
  /** Which replica holds a session; WebVTT requests for another's are forwarded to it. */
  readonly fleet: Pick<Fleet, 'selfKey' | 'routeToOwner'>;
}

/** A stream's comment line this often keeps proxies from closing an idle stream. */
const KEEPALIVE_MS = 15_000;
/** A client that reads slower than captions come is cut off past this much unsent (it reconnects). */
const MAX_UNSENT_BYTES = 64 * 1024;
/** EventSource waits this long before it reconnects. */
const RETRY_MS = 2000;

type IdRequest = FastifyRequest<{ Params: { id: string } }>;

const event = (caption: Caption): string => `data: ${JSON.stringify(caption)}\n\n`;

/**
 * `GET /whip/{id}/captions`: a session's captions as Server-Sent Events (one JSON caption per
 * event, the latest first), for viewers (their watch id works) and tools; it ends with the session
 * or after CAPTIONS_SSE_MAX_SECONDS. `GET /whip/{id}/captions.vtt`: the session's final captions so
 * far as WebVTT (`?track=translation` for the translations).
 */
export async function captionRoutes(app: FastifyInstance, options: CaptionRouteOptions): Promise<void> {
  const { sessions, config, fleet } = options;
  const subscribers = new WeakMap<CaptionPipeline, number>();
  /** The open streams' end: a stream holds its connection, and the server's close waits for every one. */
  const streams = new Set<(reason: string) => void>();
  app.addHook('preClose', async () => {
    for (const end of [...streams]) end('shutdown');
  });
  const availability = sessions.captionsAvailability();
  if (!availability.available) app.log.warn({ reason: 'reason' in availability ? availability.reason : undefined }, 'captions unavailable on this pod: captions= and translate= are refused (422), everything else runs');

  const pipelineOf = (request: IdRequest): CaptionPipeline => {
    if (config.whipToken !== undefined && !bearerMatches(request.headers.authorization, config.whipToken)) {
      throw new HttpError('unauthorized', undefined, { 'www-authenticate': 'Bearer' });
    }
    const { id } = request.params;
    const pipeline = sessions.captions(id);
    if (pipeline !== undefined) return pipeline;
    if (sessions.publisher(id) === undefined && sessions.get(id) === undefined) throw notFound('no such session');
    throw notFound('this session has no captions: ask for them when it starts (captions=<lang> or translate=<lang> on POST /whip)');
  };
  /** The id names a session another replica holds. */
  const heldElsewhere = (id: string): boolean => {
    const parsed = parseId(id);
    return parsed !== undefined && parsed.ownerKey !== fleet.selfKey;
  };
  // These reads steer nothing and cost little: the pressure guard does not hold them.
  const exempt = { config: EXEMPT_FROM_PRESSURE };

  app.get<{ Params: { id: string } }>('/whip/:id/captions', exempt, async (request, reply) => {
    if (heldElsewhere(request.params.id)) {
      throw notFound('another replica holds this session: its captions stream is served there (the control data channel carries them to the publisher on any replica)');
    }
    const pipeline = pipelineOf(request);
    const open = subscribers.get(pipeline) ?? 0;
    if (open >= config.captionsSseMaxSubscribers) {
      throw new HttpError('rate_limited', `this session has ${open} caption streams open (CAPTIONS_SSE_MAX_SUBSCRIBERS)`, { 'retry-after': String(RETRY_MS / 1000) });
    }
    subscribers.set(pipeline, open + 1);
    stream(request, reply, pipeline, () => subscribers.set(pipeline, Math.max(0, (subscribers.get(pipeline) ?? 1) - 1)));
  });

  app.get<{ Params: { id: string }; Querystring: { track?: string } }>(
    '/whip/:id/captions.vtt',
    { ...exempt, preHandler: fleet.routeToOwner('id') },
    async (request, reply) => {
      const track = request.query.track ?? 'source';
      if (track !== 'source' && track !== 'translation') throw new HttpError('bad_request', 'track must be source or translation');
      const pipeline = pipelineOf(request);
      return reply.type('text/vtt; charset=utf-8').header('cache-control', 'no-store').send(pipeline.webvtt(track));
    },
  );

  function stream(request: IdRequest, reply: FastifyReply, pipeline: CaptionPipeline, released: () => void): void {
    // The stream is written by hand from here on: Fastify has set the headers it will (CORS among them).
    reply.hijack();
    const raw = reply.raw;
    const headers: Record<string, string | number | string[]> = {};
    for (const [name, value] of Object.entries(reply.getHeaders())) if (value !== undefined) headers[name] = value;
    raw.writeHead(200, {
      ...headers,
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-store',
      // nginx and ingresses built on it would otherwise hold the events back.
      'x-accel-buffering': 'no',
    });
    let ended = false;
    const end = (reason: string): void => {
      if (ended) return;
      ended = true;
      streams.delete(end);
      clearInterval(keepalive);
      clearTimeout(lifetime);
      unsubscribe();
      released();
      if (!raw.destroyed) raw.end(`event: end\ndata: ${JSON.stringify({ reason })}\n\n`);
    };
    const write = (text: string): void => {
      if (ended || raw.destroyed) return;
      if (raw.writableLength > MAX_UNSENT_BYTES) {
        request.log.info({ unsentBytes: raw.writableLength }, 'captions stream cut: the client reads too slowly');
        end('slow_client');
        raw.destroy();
        return;
      }
      raw.write(text);
    };
    const keepalive = setInterval(() => write(': keepalive\n\n'), KEEPALIVE_MS);
    const lifetime = setTimeout(() => end('max_duration'), config.captionsSseMaxSeconds * 1000);
    // A pipeline that has closed already calls its end listener at once, inside subscribe.
    let unsubscribe: () => void = () => undefined;
    unsubscribe = pipeline.subscribe(
      (caption) => write(event(caption)),
      () => end('session_ended'),
    );
    streams.add(end);
    raw.once('close', () => end('client_gone'));
    write(`retry: ${RETRY_MS}\n\n`);
    const latest = pipeline.latest();
    if (latest !== undefined) write(event(latest));
  }
}
