import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Config } from '../../config.ts';
import type { EffectEngine } from '../../engine/engine-types.ts';
import { HttpError, unprocessable, type RejectReason } from '../../errors.ts';
import type { Fleet } from '../../fleet/fleet.ts';
import { parseId, publisherResourceId } from '../../fleet/session-id.ts';
import { parseJob } from '../../webrtc/job.ts';
import { parseAudioRequest } from '../../webrtc/audio-request.ts';
import { MAX_SDP_BYTES } from '../../webrtc/sdp.ts';
import type { Session } from '../../webrtc/publisher-session.ts';
import { notFound, type SessionRegistry } from '../../webrtc/session-registry.ts';
import { EXEMPT_FROM_PRESSURE, sessionCreationLimit } from '../guards.ts';
import type { IceLinks } from '../ice-links.ts';
import { asSdp, bearerMatches, JSON_TYPE, patchIce, requireType, SDP_TYPE, SDPFRAG_TYPE } from '../whip-support.ts';
import { whepRoutes } from './whep.ts';
import { backdropRoutes, type SessionPlace } from './backdrop.ts';

export interface WhipRouteOptions {
  readonly sessions: SessionRegistry;
  readonly config: Pick<Config, 'iceServers' | 'corsOrigins' | 'whipToken' | 'maxIters' | 'sessionRateLimitPerMinute'> &
    Partial<Pick<Config, 'backdropMaxPixels' | 'backdropMaxBytes' | 'backdropUploadsPerMinute'>>;
  /** Backdrop uploads are reserved in the engine's in-flight byte budget. */
  readonly engine: Pick<EffectEngine, 'memory' | 'memoryRefusal'>;
  /** Counts refusals decided here (app_rejected_total). */
  readonly onRejected: (reason: RejectReason) => void;
  /** The ICE servers' Link headers, TURN credentials minted per answer (src/http/ice-links.ts). */
  readonly iceLinks: Pick<IceLinks, 'forAnswer' | 'forOptions'>;
  /** Routes calls for other replicas' sessions to their owner (src/fleet). */
  readonly fleet: Pick<Fleet, 'selfKey' | 'membership' | 'routeToOwner' | 'isForwardedByMember'>;
}

/**
 * WHIP (RFC 9725) for publishers, WHEP for viewers, with their CORS and optional bearer token.
 * `POST /whip?effect=E&<params>&audio=A` answers with the processed video and audio on the same connection.
 */
export async function whipRoutes(app: FastifyInstance, options: WhipRouteOptions): Promise<void> {
  const { sessions, config, fleet, iceLinks } = options;

  app.addContentTypeParser([SDP_TYPE, SDPFRAG_TYPE], { parseAs: 'string', bodyLimit: MAX_SDP_BYTES }, (_request, body, done) =>
    done(null, body),
  );

  // CORS headers are set before this, by src/http/cors.ts (so that the guards' refusals carry them).
  app.addHook('onRequest', async (request) => {
    // Preflights carry no credentials, so OPTIONS stays open (it reveals ICE servers only when authorized).
    if (config.whipToken !== undefined && request.method !== 'OPTIONS' && !bearerMatches(request.headers.authorization, config.whipToken)) {
      throw new HttpError('unauthorized', undefined, { 'www-authenticate': 'Bearer' });
    }
  });

  const authorized = (request: FastifyRequest): boolean =>
    config.whipToken === undefined || bearerMatches(request.headers.authorization, config.whipToken);

  const options204 = (accepts: boolean) => async (request: FastifyRequest, reply: FastifyReply) => {
    if (accepts) reply.header('accept-post', SDP_TYPE);
    if (authorized(request)) {
      const links = iceLinks.forOptions(request);
      if (links.length > 0) reply.header('link', links);
    }
    return reply.code(204).send();
  };
  // Only new sessions wait for the pressure guard: ending or steering a running one must work when
  // the pod is busiest (a DELETE is what relieves it).
  const exempt = { config: EXEMPT_FROM_PRESSURE };
  // Calls for a session held by another replica go to that replica (src/fleet): the route below only
  // ever sees this replica's sessions.
  const owned = { ...exempt, preHandler: fleet.routeToOwner('id') };
  // A viewer created through another replica was already counted against its client there.
  const createLimit = sessionCreationLimit(config.sessionRateLimitPerMinute, (request) => fleet.isForwardedByMember(request));
  app.options('/whip', exempt, options204(true));
  app.options('/whip/:id', owned, options204(false));

  app.post('/whip', { config: createLimit }, async (request, reply) => {
    requireType(request, SDP_TYPE);
    // Throws InvalidEffectError: 422 through the error handler.
    const query = request.query as Record<string, unknown>;
    const job = parseJob(query, config.maxIters);
    // audio=, captions=, translate=, subtitles=: 422 for an unknown effect or a language not offered here.
    const audio = parseAudioRequest(query, sessions.captionsAvailability());
    const { session, publisherSecret, answerSdp } = await sessions.publish(asSdp(request.body), job, request.client, audio);
    const links = iceLinks.forAnswer();
    if (links.length > 0) reply.header('link', links);
    return reply
      .code(201)
      .type(SDP_TYPE)
      .header('location', `/whip/${publisherResourceId(session.id, publisherSecret)}`)
      .header('etag', session.etag)
      .send(answerSdp);
  });

  // The publisher's resource carries its secret; a wrong secret is indistinguishable from no session.
  const sessionOf = (request: FastifyRequest<{ Params: { id: string } }>): Session => {
    const session = sessions.publisher(request.params.id);
    if (!session) throw notFound('no such session');
    return session;
  };

  app.get<{ Params: { id: string } }>('/whip/:id', owned, async (request) => {
    const session = sessionOf(request);
    return { ...(await session.stats()), watchUrl: `/whep/${session.id}` };
  });

  app.patch<{ Params: { id: string } }>('/whip/:id', owned, async (request, reply) => {
    const session = sessionOf(request);
    const type = requireType(request, JSON_TYPE, SDPFRAG_TYPE);
    if (type === SDPFRAG_TYPE) return patchIce(sessions, session, request, reply);
    const body = request.body;
    if (typeof body !== 'object' || body === null || Array.isArray(body)) throw unprocessable('the body must be a JSON object like {"effect":"gaussian","params":{"sigma":4}}');
    return session.changeEffect(body as Record<string, unknown>);
  });

  app.delete<{ Params: { id: string } }>('/whip/:id', owned, async (request, reply) => {
    sessionOf(request).close('closed');
    return reply.code(200).send();
  });

  // Before a backdrop upload is read: which replica holds its session (as routeToOwner decides it).
  const locate = async (resourceId: string): Promise<SessionPlace> => {
    const parsed = parseId(resourceId);
    if (parsed === undefined || parsed.ownerKey === fleet.selfKey) return 'here';
    return (await fleet.membership.isMember(parsed.owner)) ? 'member' : 'nowhere';
  };
  await app.register(backdropRoutes, {
    publisherOf: (resourceId) => sessions.publisher(resourceId),
    locate,
    engine: options.engine,
    forwardedByMember: (request) => fleet.isForwardedByMember(request),
    onRejected: options.onRejected,
    exempt: EXEMPT_FROM_PRESSURE,
    preHandler: fleet.routeToOwner('id'),
    maxPixels: config.backdropMaxPixels ?? 1920 * 1080,
    maxBytes: config.backdropMaxBytes ?? 8 * 1024 * 1024,
    uploadsPerMinute: config.backdropUploadsPerMinute ?? 0,
  });

  await whepRoutes(app, { sessions, options204, createLimit, routeToOwner: fleet.routeToOwner('sessionId') });
}
