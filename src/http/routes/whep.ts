import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
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
  },
): Promise<void> {
  const { sessions } = options;
  const exempt = { config: EXEMPT_FROM_PRESSURE };
  app.options('/whep/:sessionId', exempt, options.options204(true));
  app.options('/whep/:sessionId/:viewerId', exempt, options.options204(false));

  app.post<{ Params: { sessionId: string } }>('/whep/:sessionId', { config: options.createLimit }, async (request, reply) => {
    requireType(request, SDP_TYPE);
    const { sessionId } = request.params;
    const { viewer, answerSdp } = await sessions.view(sessionId, asSdp(request.body), request.ip);
    return reply
      .code(201)
      .type(SDP_TYPE)
      .header('location', `/whep/${sessionId}/${viewer.id}`)
      .header('etag', viewer.etag)
      .send(answerSdp);
  });

  const viewerOf = (request: FastifyRequest<ViewerParams>): Viewer => {
    const viewer = sessions.viewer(request.params.sessionId, request.params.viewerId);
    if (!viewer) throw notFound(`no viewer ${request.params.viewerId.slice(0, 64)} of session ${request.params.sessionId.slice(0, 64)}`);
    return viewer;
  };

  app.patch<ViewerParams>('/whep/:sessionId/:viewerId', exempt, async (request, reply) => {
    const viewer = viewerOf(request);
    requireType(request, SDPFRAG_TYPE);
    return patchIce(sessions, viewer, request, reply);
  });

  app.delete<ViewerParams>('/whep/:sessionId/:viewerId', exempt, async (request, reply) => {
    viewerOf(request).close('closed');
    return reply.code(200).send();
  });
}
