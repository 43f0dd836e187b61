import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { IceServer } from '../config.ts';
import { HttpError, unprocessable, unsupportedMediaType } from '../errors.ts';
import type { Session } from '../webrtc/publisher-session.ts';
import type { SessionRegistry, TrickleResult } from '../webrtc/session-registry.ts';
import type { Viewer } from '../webrtc/viewer.ts';

/** HTTP pieces shared by the WHIP and WHEP routes. */

export const SDP_TYPE = 'application/sdp';
export const SDPFRAG_TYPE = 'application/trickle-ice-sdpfrag';
export const JSON_TYPE = 'application/json';

export const contentTypeOf = (request: FastifyRequest): string =>
  (request.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();

/** RFC 8288 quoted-string. */
const quoted = (value: string): string => `"${value.replace(/[\\"]/g, (c) => `\\${c}`)}"`;

/** ICE servers as RFC 9725 §4.6 Link header values. */
export function iceServerLinks(servers: readonly IceServer[]): string[] {
  return servers.flatMap((server) =>
    server.urls.map((url) => {
      let link = `<${url}>; rel="ice-server"`;
      if (server.username !== undefined) link += `; username=${quoted(server.username)}`;
      if (server.credential !== undefined) link += `; credential=${quoted(server.credential)}; credential-type="password"`;
      return link;
    }),
  );
}

const sha256 = (text: string): Buffer => createHash('sha256').update(text).digest();

/**
 * Compares SHA-256 digests in constant time: both are 32 bytes whatever the token, so neither the
 * comparison's time nor an early length check tells a caller how long the token is.
 */
export function bearerMatches(header: string | undefined, token: string): boolean {
  const m = /^Bearer\s+(\S+)$/i.exec(header ?? '');
  return timingSafeEqual(sha256(m?.[1] ?? ''), sha256(token)) && m !== null;
}

export function requireType(request: FastifyRequest, ...types: string[]): string {
  const type = contentTypeOf(request);
  if (!types.includes(type)) throw unsupportedMediaType(`Content-Type must be ${types.join(' or ')}, got ${JSON.stringify(type || 'none')}`);
  return type;
}

export function asSdp(body: unknown): string {
  return typeof body === 'string' ? body : '';
}

/**
 * Trickle ICE and ICE restarts (RFC 9725 §4.3) for a session or a viewer. `If-Match` other than
 * `*` must carry the resource's current ETag (412 otherwise).
 */
export async function patchIce(sessions: SessionRegistry, target: Session | Viewer, request: FastifyRequest, reply: FastifyReply) {
  const ifMatch = request.headers['if-match'];
  if (ifMatch !== undefined && ifMatch !== '*' && ifMatch !== target.etag) {
    throw new HttpError('precondition_failed');
  }
  let result: TrickleResult;
  try {
    result = await sessions.trickle(target, asSdp(request.body));
  } catch (err) {
    if (err instanceof HttpError) throw err;
    throw unprocessable(`ICE restart failed: ${err instanceof Error ? err.message : String(err)}`);
  }
  if (!result.restarted) return reply.code(204).send();
  return reply.code(200).type(SDPFRAG_TYPE).header('etag', result.etag).send(result.fragment);
}
