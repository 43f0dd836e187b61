import type { FastifyRequest } from 'fastify';
import { stdSerializers } from 'pino';

/**
 * What the logs may say about a request. The publisher's and viewers' resource URLs carry their
 * secrets (`/whip/<owner>.<session>.<secret>`, `/whep/<owner>.<session>/<viewer>.<secret>`): with
 * them anyone reading the logs could steer or end a session, so every URL logged goes through
 * `redactUrl`, and a parse error's raw bytes (Node's `rawPacket`, the request line included) are
 * never logged.
 */

/** The URL with the secret part of a WHIP/WHEP resource id replaced; the session id stays, for correlation. */
export function redactUrl(url: string): string {
  const queryAt = url.indexOf('?');
  const path = queryAt === -1 ? url : url.slice(0, queryAt);
  const segments = path.split('/');
  const kind = segments[1]?.toLowerCase();
  // /whip/<owner>.<session>.<secret>[/background]; /whep/<owner>.<session>/<viewer>.<secret>
  const at = kind === 'whip' ? 2 : kind === 'whep' ? 3 : -1;
  const segment = segments[at];
  if (segment === undefined) return url;
  let decoded = segment;
  try {
    decoded = decodeURIComponent(segment);
  } catch {
    // not percent-encoded text: redact it as it is
  }
  const parts = decoded.split('.');
  const keep = kind === 'whip' ? 2 : 1;
  if (parts.length <= keep) return url;
  segments[at] = [...parts.slice(0, keep), '[redacted]'].join('.');
  return `${segments.join('/')}${queryAt === -1 ? '' : url.slice(queryAt)}`;
}

/** Fastify's logger serializers, with URLs redacted and no raw request bytes. */
export const LOG_SERIALIZERS = {
  req(request: FastifyRequest) {
    return {
      method: request.method,
      url: redactUrl(request.url),
      host: request.host,
      remoteAddress: request.ip,
      remotePort: request.socket?.remotePort,
    };
  },
  err(err: Error) {
    const out = stdSerializers.err(err) as ReturnType<typeof stdSerializers.err> & { rawPacket?: unknown };
    // Node's HTTP parse errors carry the request's first bytes: its request line, secret and all.
    delete out.rawPacket;
    return out;
  },
};
