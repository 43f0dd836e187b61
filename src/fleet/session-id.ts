import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

/**
 * Session ids that name their owner, so that any replica can route a call to the replica holding
 * the session without a shared store, and that carry secrets, so that only the publisher can steer
 * or end its session.
 *
 * Every id in a WHIP/WHEP path segment begins with `<ownerKey>.`, where ownerKey is the base64url
 * (no padding) of the owning replica's peer address `host:port`; more dot-separated parts follow:
 *
 *   publisher resource   /whip/<ownerKey>.<sessionRand>.<publisherSecret>
 *   watch URL (viewers)  /whep/<ownerKey>.<sessionRand>
 *   viewer resource      /whep/<ownerKey>.<sessionRand>/<viewerRand>.<viewerSecret>
 *
 * The owner address in an id is a claim, never trusted: the fleet forwards only to current members.
 */

const RAND_BYTES = 16;
const SECRET_BYTES = 32;
/** An ownerKey longer than this cannot be a `host:port` (253-byte name + port), so it is not decoded. */
const MAX_OWNER_KEY_CHARS = 360;
const PART = /^[A-Za-z0-9_-]+$/;

const rand = (bytes: number): string => randomBytes(bytes).toString('base64url');

export const ownerKeyOf = (address: string): string => Buffer.from(address, 'utf8').toString('base64url');

/**
 * The `host:port` an ownerKey names, or undefined when it is not one: an IPv4 address, a bracketed
 * IPv6 address or a DNS name, and a port.
 */
export function addressOfOwnerKey(key: string): string | undefined {
  if (key.length === 0 || key.length > MAX_OWNER_KEY_CHARS || !PART.test(key)) return undefined;
  const address = Buffer.from(key, 'base64url').toString('utf8');
  // base64url decoding ignores stray bits; only the canonical encoding names an address.
  if (ownerKeyOf(address) !== key) return undefined;
  return isPeerAddress(address) ? address : undefined;
}

/**
 * `host:port` with a plain host (IPv4, [IPv6] or a DNS name) and a port. Port 0 is allowed: a replica
 * listening on a random port (PORT=0, tests) mints ids that only it can serve, since no member has it.
 */
export function isPeerAddress(address: string): boolean {
  const m = /^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]{1,253}):(\d{1,5})$/.exec(address);
  return m !== null && Number(m[2]) <= 65535;
}

/** A new session's ids: the watch id viewers use, and the publisher's secret. */
export function mintSession(selfAddress: string): { readonly sessionId: string; readonly publisherSecret: string } {
  return { sessionId: `${ownerKeyOf(selfAddress)}.${rand(RAND_BYTES)}`, publisherSecret: rand(SECRET_BYTES) };
}

/** A new viewer's id (within its session) and secret. */
export function mintViewer(): { readonly viewerId: string; readonly viewerSecret: string } {
  return { viewerId: rand(RAND_BYTES), viewerSecret: rand(SECRET_BYTES) };
}

export const publisherResourceId = (sessionId: string, publisherSecret: string): string => `${sessionId}.${publisherSecret}`;
export const viewerResourceId = (viewerId: string, viewerSecret: string): string => `${viewerId}.${viewerSecret}`;

export interface ParsedId {
  /** The address the id claims as its owner. */
  readonly owner: string;
  readonly ownerKey: string;
  /** `<ownerKey>.<sessionRand>`: the watch id. */
  readonly sessionId: string;
  /** The parts after the watch id (the publisher secret, if any). */
  readonly rest: readonly string[];
}

/** Splits a path segment into its owner and parts; undefined when it is not an id of this service. */
export function parseId(segment: string): ParsedId | undefined {
  const parts = segment.split('.');
  if (parts.length < 2 || parts.length > 3 || !parts.every((p) => PART.test(p))) return undefined;
  const [ownerKey, sessionRand, ...rest] = parts as [string, string, ...string[]];
  const owner = addressOfOwnerKey(ownerKey);
  if (owner === undefined) return undefined;
  return { owner, ownerKey, sessionId: `${ownerKey}.${sessionRand}`, rest };
}

/** The publisher resource `<sessionId>.<secret>`: its watch id and the secret it presents. */
export function parsePublisherId(segment: string): { readonly sessionId: string; readonly secret: string } | undefined {
  const parsed = parseId(segment);
  if (parsed?.rest.length !== 1) return undefined;
  return { sessionId: parsed.sessionId, secret: parsed.rest[0]! };
}

/** A watch id `<ownerKey>.<sessionRand>` (exactly two parts: a publisher id is not a watch id). */
export function parseWatchId(segment: string): string | undefined {
  const parsed = parseId(segment);
  return parsed?.rest.length === 0 ? parsed.sessionId : undefined;
}

/** A viewer resource's second segment `<viewerRand>.<viewerSecret>`. */
export function parseViewerId(segment: string): { readonly viewerId: string; readonly secret: string } | undefined {
  const parts = segment.split('.');
  if (parts.length !== 2 || !parts.every((p) => PART.test(p))) return undefined;
  return { viewerId: parts[0]!, secret: parts[1]! };
}

/**
 * Constant-time comparison of a presented secret with the expected one. Both are hashed first, so
 * neither the time nor an early length check tells anything about the expected secret.
 */
export function secretMatches(given: string, expected: string): boolean {
  const a = createHash('sha256').update(given).digest();
  const b = createHash('sha256').update(expected).digest();
  return timingSafeEqual(a, b);
}

/** The watch URL path viewers use for the session behind a publisher resource URL or path. */
export function watchPathOf(publisherResource: string): string | undefined {
  const segment = publisherResource.split('?')[0]!.split('/').pop() ?? '';
  const parsed = parsePublisherId(segment);
  return parsed === undefined ? undefined : `/whep/${parsed.sessionId}`;
}
