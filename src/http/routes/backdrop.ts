import type { FastifyInstance, FastifyReply, FastifyRequest, preHandlerAsyncHookHandler } from 'fastify';
import type { EffectEngine } from '../../engine/engine-types.ts';
import { badRequest, HttpError, notFound, tooLarge, unsupportedMediaType, type RejectReason } from '../../errors.ts';
import { decodeImage, IMAGE_TYPES } from '../../frames/codec.ts';
import type { Session } from '../../webrtc/publisher-session.ts';

/** Where a publisher resource id's session lives: on this replica, on another member, or nowhere. */
export type SessionPlace = 'here' | 'member' | 'nowhere';

export interface BackdropRouteOptions {
  /** The session a publisher resource id names on this replica, only with the right secret. */
  readonly publisherOf: (resourceId: string) => Session | undefined;
  /** Which replica holds the session (a member's calls are forwarded by `preHandler`). */
  readonly locate: (resourceId: string) => Promise<SessionPlace>;
  /** The in-flight byte budget the upload and its decoded pixels are reserved in. */
  readonly engine: Pick<EffectEngine, 'memory' | 'memoryRefusal'>;
  /** BACKDROP_MAX_PIXELS. */
  readonly maxPixels: number;
  /** BACKDROP_MAX_BYTES. */
  readonly maxBytes: number;
  /** BACKDROP_UPLOADS_PER_MINUTE per client address on this replica (0: none). */
  readonly uploadsPerMinute: number;
  /** Forwarded calls were counted against their client by the replica it reached. */
  readonly forwardedByMember: (request: FastifyRequest) => boolean | Promise<boolean>;
  readonly onRejected: (reason: RejectReason) => void;
  /** Route config exempting the DELETE from the pressure guard. */
  readonly exempt: object;
  /** Hands calls for another replica's session to it (src/fleet). */
  readonly preHandler?: preHandlerAsyncHookHandler;
}

type BackdropRequest = FastifyRequest<{ Params: { id: string } }>;

const contentTypeOf = (request: FastifyRequest): string => (request.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();

/**
 * `PUT /whip/{id}/background` (image/png or image/jpeg): the image background-replace puts behind
 * the person in this session; `DELETE` goes back to the colour. Registered inside the WHIP routes,
 * so the same token and CORS rules apply.
 *
 * Nothing is read before it is admitted: the type, the declared size (BACKDROP_MAX_BYTES), the
 * session and its secret, the client's and the session's upload rate and the bytes in the memory
 * budget are all checked on the headers; a refusal closes the connection so that the client stops
 * sending. The decoded pixels are reserved once the image header says the size.
 */
export async function backdropRoutes(app: FastifyInstance, options: BackdropRouteOptions): Promise<void> {
  app.addContentTypeParser(Object.keys(IMAGE_TYPES), { parseAs: 'buffer', bodyLimit: options.maxBytes }, (_request, body, done) => done(null, body));

  const refuse = (err: HttpError): HttpError => new HttpError(err.code, err.message, { ...err.headers, connection: 'close' });

  const admitUpload = async (request: BackdropRequest, reply: FastifyReply) => {
    reply.raw.once('close', () => request.memoryReservation?.release());
    if (IMAGE_TYPES[contentTypeOf(request)] === undefined) throw refuse(unsupportedMediaType('the background must be image/png or image/jpeg'));
    const length = request.headers['content-length'];
    const chunked = request.headers['transfer-encoding'] !== undefined;
    // A chunked body may be as long as the limit: that is what it reserves until it is read.
    const declared = length === undefined ? (chunked ? options.maxBytes : 0) : Number(length);
    if (!Number.isSafeInteger(declared) || declared < 0) throw refuse(badRequest('Content-Length must be a whole number'));
    if (declared > options.maxBytes) throw refuse(tooLarge(`the image declares ${declared} bytes; the limit is ${options.maxBytes} (BACKDROP_MAX_BYTES)`));
    const place = await options.locate(request.params.id);
    // As routeToOwner answers it: the id names a replica that is not (or no longer) in the fleet.
    if (place === 'nowhere') throw refuse(new HttpError('session_gone'));
    if (place === 'here') {
      const session = options.publisherOf(request.params.id);
      if (!session) throw refuse(notFound('no such session'));
      const retryAfterSeconds = session.takeBackdropUpload();
      if (retryAfterSeconds !== undefined) {
        options.onRejected('backdrop_rate');
        throw refuse(uploadsLimited(`this session may upload ${options.uploadsPerMinute} backgrounds a minute (BACKDROP_UPLOADS_PER_MINUTE)`, retryAfterSeconds));
      }
    }
    const reservation = options.engine.memory.tryReserve(declared, request.client);
    if (!reservation) throw options.engine.memoryRefusal(declared, { connection: 'close' });
    request.memoryReservation = reservation;
  };

  const uploadsLimited = (detail: string, retryAfterSeconds: number) => new HttpError('rate_limited', detail, { 'retry-after': String(retryAfterSeconds) });
  const perClient =
    options.uploadsPerMinute > 0
      ? {
          max: options.uploadsPerMinute,
          timeWindow: 60_000,
          // A call another replica forwarded was counted against its client there.
          allowList: options.forwardedByMember,
          errorResponseBuilder: (_request: FastifyRequest, context: { ttl: number }) => {
            options.onRejected('backdrop_rate');
            return refuse(uploadsLimited(`this address may upload ${options.uploadsPerMinute} backgrounds a minute (BACKDROP_UPLOADS_PER_MINUTE)`, Math.max(1, Math.ceil(context.ttl / 1000))));
          },
        }
      : false;

  app.put<{ Params: { id: string } }>(
    '/whip/:id/background',
    {
      // Not exempt from the pressure guard: an upload is work a stalled pod should not take on.
      config: { rateLimit: perClient },
      bodyLimit: options.maxBytes,
      // preParsing runs before the body is read (the rate limit, in onRequest, before it).
      preParsing: async (request, reply, payload) => {
        await admitUpload(request, reply);
        return payload;
      },
      ...(options.preHandler ? { preHandler: options.preHandler } : {}),
    },
    async (request, reply) => {
      const body = request.body;
      if (!Buffer.isBuffer(body) || body.length === 0) throw badRequest('the background image is empty');
      const reservation = request.memoryReservation;
      reservation?.shrinkTo(body.length);
      // The decoded pixels, libvips' working copy and the session's copy: reserved once the header
      // says the size, before anything is decoded.
      const image = await decodeImage(body, IMAGE_TYPES[contentTypeOf(request)]!, { maxPixels: options.maxPixels, setting: 'BACKDROP_MAX_PIXELS' }, (width, height) => {
        const bytes = 3 * width * height * 4;
        if (!reservation?.grow(bytes)) throw options.engine.memoryRefusal(bytes);
      });
      const session = options.publisherOf(request.params.id);
      if (!session) throw notFound('no such session');
      session.setBackdrop({ width: image.width, height: image.height, rgba: image.pixels });
      return reply.code(204).send();
    },
  );

  app.delete<{ Params: { id: string } }>('/whip/:id/background', { config: options.exempt, ...(options.preHandler ? { preHandler: options.preHandler } : {}) }, async (request, reply) => {
    const session = options.publisherOf(request.params.id);
    if (!session) throw notFound('no such session');
    session.setBackdrop(undefined);
    return reply.code(204).send();
  });
}
