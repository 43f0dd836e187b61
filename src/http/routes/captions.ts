import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Config } from '../../config.ts';
import { HttpError, notFound } from '../../errors.ts';
import type { Fleet } from '../../fleet/fleet.ts';
import type { StreamedAnswer } from '../../fleet/forward.ts';
import type { Caption, CaptionPipeline } from '../../speech/caption-types.ts';
import type { SessionRegistry } from '../../webrtc/session-registry.ts';
import { EXEMPT_FROM_PRESSURE } from '../guards.ts';
import { bearerMatches } from '../whip-support.ts';

export interface CaptionRouteOptions {
  /** Finds a session's captions by publisher resource id or watch id (the session id viewers get). */
  readonly sessions: Pick<SessionRegistry, 'captions' | 'publisher' | 'get' | 'captionsAvailability'>;
  readonly config: Pick<Config, 'whipToken' | 'captionsSseMaxSubscribers' | 'captionsSseMaxSeconds'>;
  /** Which replica holds a session; requests for another's are forwarded to it (the stream relayed as it comes). */
  readonly fleet: Pick<Fleet, 'routeToOwner' | 'streamFromOwner'>;
}

/** A stream's comment line this often keeps proxies from closing an idle stream. */
const KEEPALIVE_MS = 15_000;
/** A client that reads slower than captions come is cut off past this much unsent (it reconnects). */
const MAX_UNSENT_BYTES = 64 * 1024;
/**
 * A relayed stream's call to its owner lives this much longer than CAPTIONS_SSE_MAX_SECONDS: the
 * owner ends it first with its own end event; the relay's bound is for an owner that never ends it.
 */
const RELAY_GRACE_SECONDS = 5;
/** EventSource waits this long before it reconnects. */
const RETRY_MS = 2000;

type IdRequest = FastifyRequest<{ Params: { id: string } }>;

const event = (caption: Caption): string => `data: ${JSON.stringify(caption)}\n\n`;
const endEvent = (reason: string): string => `event: end\ndata: ${JSON.stringify({ reason })}\n\n`;

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

  const authorize = (request: IdRequest): void => {
    if (config.whipToken !== undefined && !bearerMatches(request.headers.authorization, config.whipToken)) {
      throw new HttpError('unauthorized', undefined, { 'www-authenticate': 'Bearer' });
    }
  };
  const pipelineOf = (request: IdRequest): CaptionPipeline => {
    authorize(request);
    const { id } = request.params;
    const pipeline = sessions.captions(id);
    if (pipeline !== undefined) return pipeline;
    if (sessions.publisher(id) === undefined && sessions.get(id) === undefined) throw notFound('no such session');
    throw notFound('this session has no captions: ask for them when it starts (captions=<lang> or translate=<lang> on POST /whip)');
  };
  // These reads steer nothing and cost little: the pressure guard does not hold them.
  const exempt = { config: EXEMPT_FROM_PRESSURE };

  app.get<{ Params: { id: string } }>('/whip/:id/captions', exempt, async (request, reply) => {
    authorize(request);
    // Another replica's session: its stream is relayed from there (the owner counts it as one subscriber).
    const upstream = await fleet.streamFromOwner(request, 'id', config.captionsSseMaxSeconds + RELAY_GRACE_SECONDS);
    if (upstream !== undefined) return relay(request, reply, upstream);
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

  /** Fastify's headers for this reply so far (CORS among them), for a stream written by hand. */
  function replyHeaders(reply: FastifyReply): Record<string, string | number | string[]> {
    const headers: Record<string, string | number | string[]> = {};
    for (const [name, value] of Object.entries(reply.getHeaders())) if (value !== undefined) headers[name] = value;
    return headers;
  }

  /**
   * The owner's answer to the client: a refusal (404, 429 at its subscriber cap, 401) as it came; a
   * stream chunk by chunk, ending when the owner's ends, cutting the call to the owner when the client
   * leaves, reads too slowly, or this replica shuts down.
   */
  async function relay(request: IdRequest, reply: FastifyReply, upstream: StreamedAnswer): Promise<FastifyReply | undefined> {
    if (upstream.status !== 200) {
      const chunks: Buffer[] = [];
      let bytes = 0;
      for await (const chunk of upstream.body) {
        bytes += (chunk as Buffer).length;
        if (bytes > MAX_UNSENT_BYTES) {
          upstream.close();
          throw new HttpError('bad_gateway', 'the owning replica sent an oversized refusal');
        }
        chunks.push(chunk as Buffer);
      }
      return reply.code(upstream.status).headers(upstream.headers).send(Buffer.concat(chunks));
    }
    reply.hijack();
    const raw = reply.raw;
    raw.writeHead(200, { ...replyHeaders(reply), ...upstream.headers });
    let ended = false;
    /** The last chunk closed an event: an end event of our own may follow. */
    let atBoundary = true;
    const end = (reason: string | undefined): void => {
      if (ended) return;
      ended = true;
      streams.delete(end);
      upstream.close();
      if (!raw.destroyed) raw.end(reason !== undefined && atBoundary ? endEvent(reason) : undefined);
    };
    upstream.body.on('data', (chunk: Buffer) => {
      if (ended || raw.destroyed) return;
      if (raw.writableLength > MAX_UNSENT_BYTES) {
        request.log.info({ unsentBytes: raw.writableLength }, 'relayed captions stream cut: the client reads too slowly');
        end('slow_client');
        raw.destroy();
        return;
      }
      raw.write(chunk);
      atBoundary = chunk.length >= 2 && chunk[chunk.length - 1] === 0x0a && chunk[chunk.length - 2] === 0x0a;
    });
    // The owner's own end event has come through: nothing to add.
    upstream.body.once('end', () => end(undefined));
    // Cut by the stream's life bound or a lost owner.
    upstream.body.on('error', () => end('owner_gone'));
    streams.add(end);
    raw.once('close', () => end(undefined));
    if (request.raw.destroyed) end(undefined);
    return undefined;
  }

  function stream(request: IdRequest, reply: FastifyReply, pipeline: CaptionPipeline, released: () => void): void {
    // The stream is written by hand from here on: Fastify has set the headers it will (CORS among them).
    reply.hijack();
    const raw = reply.raw;
    raw.writeHead(200, {
      ...replyHeaders(reply),
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
      if (!raw.destroyed) raw.end(endEvent(reason));
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
