import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

/**
 * Calls one replica forwards to another are signed with the fleet's shared secret (FLEET_SECRET), so
 * that the owner can tell a member's call from anyone else's: a process on a member's host, a
 * sidecar or a client that forges the headers holds no secret. The signature is an HMAC-SHA256 over
 * the method, the path and query, the time, a nonce, the forwarding replica, the client it speaks
 * for, the content type and the SHA-256 of the body; the time must be within the window of the
 * owner's clock and each nonce is taken once, so a captured call cannot be replayed.
 *
 * The header: `x-rtc-scale-signature: v1 t=<unix seconds> n=<nonce> d=<body sha256, base64url> s=<hmac, base64url>`.
 * The HMAC covers `d`, so the headers are checked as soon as they arrive (before the per-client
 * limits, which count a forwarded call under the client it carries) and the body against `d` once
 * it is read.
 */

export const SIGNATURE_HEADER = 'x-rtc-scale-signature';
/** The client key (src/net/client-key.ts) of the client that reached the forwarding replica. */
export const CLIENT_HEADER = 'x-rtc-scale-client';

export interface SignedCall {
  readonly method: string;
  /** Path and query, exactly as sent. */
  readonly url: string;
  /** The forwarding replica's peer address (the hop header). */
  readonly forwardedBy: string;
  /** The client key the forwarding replica counted the call under. */
  readonly client: string;
  readonly contentType: string;
}

export type Verdict =
  | { readonly ok: true; readonly bodyDigest: string }
  | { readonly ok: false; readonly why: 'malformed' | 'expired' | 'bad_signature' | 'replayed' };

const VERSION = 'v1';
const NONCE_BYTES = 16;
/** Nonces remembered at once; past it the oldest are forgotten (more than this many calls a window). */
const MAX_REMEMBERED = 100_000;
const HEADER = /^v1 t=(\d{1,12}) n=([A-Za-z0-9_-]{16,64}) d=([A-Za-z0-9_-]{43}) s=([A-Za-z0-9_-]{43})$/;

export const bodyDigest = (body: Buffer | string | undefined): string =>
  createHash('sha256')
    .update(body ?? '')
    .digest('base64url');

/** The digest of an empty body: calls without one (GET, DELETE, OPTIONS). */
export const EMPTY_DIGEST = bodyDigest(undefined);

/** A client key as the fleet sends it: an IPv4 address, an IPv6 prefix, or a plain address text. */
export const isClientKey = (key: string): boolean => /^[0-9A-Za-z.:/_-]{1,64}$/.test(key);

export class FleetSignature {
  readonly #secrets: readonly Buffer[];
  readonly #windowSeconds: number;
  readonly #nowSeconds: () => number;
  /** nonce → the second after which its call is out of the window anyway; in insertion order. */
  readonly #seen = new Map<string, number>();

  /** `secrets[0]` signs; every one of them verifies (a rotation: add the new one first, drop the old one later). */
  constructor(secrets: readonly string[], windowSeconds: number, nowSeconds: () => number = () => Date.now() / 1000) {
    this.#secrets = secrets.map((s) => Buffer.from(s, 'utf8'));
    this.#windowSeconds = windowSeconds;
    this.#nowSeconds = nowSeconds;
  }

  get enabled(): boolean {
    return this.#secrets.length > 0;
  }

  /** The signature header for `call` with `body`. */
  sign(call: SignedCall, body: Buffer | string | undefined): string {
    const secret = this.#secrets[0];
    if (secret === undefined) throw new Error('FLEET_SECRET is not set: this replica cannot forward');
    const t = Math.floor(this.#nowSeconds());
    const n = randomBytes(NONCE_BYTES).toString('base64url');
    const d = bodyDigest(body);
    return `${VERSION} t=${t} n=${n} d=${d} s=${hmac(secret, call, t, n, d).toString('base64url')}`;
  }

  /**
   * Checks a signature header against the call's headers: well-formed, in the window, made with one
   * of the secrets, and not seen before. On success the body's digest is returned, for the caller to
   * compare once the body is read.
   */
  verify(call: SignedCall, header: string | undefined): Verdict {
    const m = HEADER.exec(header ?? '');
    if (!m) return { ok: false, why: 'malformed' };
    const [, tText, n, d, s] = m as unknown as [string, string, string, string, string];
    const t = Number(tText);
    const now = this.#nowSeconds();
    if (Math.abs(now - t) > this.#windowSeconds) return { ok: false, why: 'expired' };
    const given = Buffer.from(s, 'base64url');
    if (!this.#secrets.some((secret) => timingSafeEqual(hmac(secret, call, t, n, d), given))) return { ok: false, why: 'bad_signature' };
    this.#forgetOld(now);
    if (this.#seen.has(n)) return { ok: false, why: 'replayed' };
    this.#seen.set(n, t + this.#windowSeconds);
    if (this.#seen.size > MAX_REMEMBERED) this.#seen.delete(this.#seen.keys().next().value!);
    return { ok: true, bodyDigest: d };
  }

  #forgetOld(now: number): void {
    // Nonces arrive roughly in time order; a late one stays until those before it go, which only
    // keeps it longer than needed.
    for (const [nonce, until] of this.#seen) {
      if (until >= now) break;
      this.#seen.delete(nonce);
    }
  }
}

function hmac(secret: Buffer, call: SignedCall, t: number, n: string, d: string): Buffer {
  const text = [VERSION, call.method.toUpperCase(), call.url, String(t), n, call.forwardedBy, call.client, call.contentType, d].join('\n');
  return createHmac('sha256', secret).update(text).digest();
}
