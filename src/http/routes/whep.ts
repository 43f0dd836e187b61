import type { FastifyInstance, FastifyReply, FastifyRequest, preHandlerAsyncHookHandler } from 'fastify';
import { parseWatchId, viewerResourceId } from '../../fleet/session-id.ts';
import { EXEMPT_FROM_PRESSURE, type sessionCreationLimit } from '../guards.ts';
import { notFound, type SessionRegistry } from '../../webrtc/session-registry.ts';
import type { Viewer } from '../../webrtc/viewer.ts';
import { asSdp, patchIce, requireType, SDP_TYPE, SDPFRAG_TYPE } from '../whip-support.ts';

type ViewerParams = { Params: { sessionId: string; viewerId: string } };

/**
 * WHEP: `POST /whep/{sessionId}` with a recvonly offer watches a session's processed output.
 * Registered by whipRoutes, inside its CORS and token checks.
 */
export async function whepRoutes(
  app: FastifyInstance,
  options: {
    readonly sessions: SessionRegistry;
    /** Route config limiting how fast one client creates viewers. */
    readonly createLimit: ReturnType<typeof sessionCreationLimit>;
    readonly options204: (acceptsPost: boolean) => (request: FastifyRequest, reply: FastifyReply) => Promise<unknown>;
    /** Hands calls for another replica's session to it (src/fleet). */
    readonly routeToOwner: preHandlerAsyncHookHandler;
  },
): Promise<void> {
  const { sessions } = options;
  const exempt = { config: EXEMPT_FROM_PRESSURE };
  const owned = { ...exempt, preHandler: options.routeToOwner };
  app.options('/whep/:sessionId', owned, options.options204(true));
  app.options('/whep/:sessionId/:viewerId', owned, options.options204(false));

  app.post<{ Params: { sessionId: string } }>('/whep/:sessionId', { config: options.createLimit, preHandler: options.routeToOwner }, async (request, reply) => {
    requireType(request, SDP_TYPE);
    // Only the watch id opens a viewer: the publisher's own resource id is not shared with viewers.
    const sessionId = parseWatchId(request.params.sessionId);
    if (sessionId === undefined) throw notFound('no such session');
    const { viewer, viewerSecret, answerSdp } = await sessions.view(sessionId, asSdp(request.body), request.client);
    return reply
      .code(201)
      .type(SDP_TYPE)
      .header('location', `/whep/${sessionId}/${viewerResourceId(viewer.id, viewerSecret)}`)
      .header('etag', viewer.etag)
      .send(answerSdp);
  });

  const viewerOf = (request: FastifyRequest<ViewerParams>): Viewer => {
    const viewer = sessions.viewer(request.params.sessionId, request.params.viewerId);
    if (!viewer) throw notFound('no such viewer');
    return viewer;
  };

  // A viewer can only renegotiate its own connection and leave: it never holds the publisher's secret.
  app.patch<ViewerParams>('/whep/:sessionId/:viewerId', owned, async (request, reply) => {
    const viewer = viewerOf(request);
    requireType(request, SDPFRAG_TYPE);
    return patchIce(sessions, viewer, request, reply);
  });

  app.delete<ViewerParams>('/whep/:sessionId/:viewerId', owned, async (request, reply) => {
    viewerOf(request).close('closed');
    return reply.code(200).send();
  });
}
