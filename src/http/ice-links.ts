import { createHmac, randomBytes } from 'node:crypto';
import type { FastifyRequest } from 'fastify';
import type { IceServer } from '../config.ts';
import { HttpError, type RejectReason } from '../errors.ts';
import { iceServerLinks } from './whip-support.ts';

/**
 * The ICE servers a WHIP/WHEP answer lists (RFC 9725 §4.6 Link headers), with TURN credentials minted
 * for that answer from the relay's shared secret: the TURN REST API scheme coturn implements with
 * use-auth-secret. Nothing a client receives outlives TURN_CREDENTIAL_TTL_SECONDS, and no two
 * answers share a credential.
 */

export interface TurnCredential {
  readonly username: string;
  readonly credential: string;
}

/** username = `<unix expiry>:<id>`, password = base64(HMAC-SHA1(secret, username)). */
export function mintTurnCredential(secret: string, expiresAtSeconds: number, id: string = randomBytes(9).toString('base64url')): TurnCredential {
  const username = `${Math.floor(expiresAtSeconds)}:${id}`;
  return { username, credential: createHmac('sha1', secret).update(username).digest('base64') };
}

export interface IceLinksOptions {
  readonly servers: readonly IceServer[];
  /** TURN_SECRET: TURN servers listed without credentials get minted ones. */
  readonly turnSecret: string | undefined;
  readonly ttlSeconds: number;
  /** TURN_CREDENTIALS_PER_MINUTE: OPTIONS answers with credentials per client address per minute. */
  readonly perClientPerMinute: number;
  readonly retryAfterSeconds: number;
  readonly onRejected: (reason: RejectReason) => void;
  readonly nowMs?: () => number;
}

const isTurn = (server: IceServer): boolean => server.urls.some((u) => /^turns?:/.test(u));

/** Clients counted in one minute's window; more distinct addresses than this in a minute are refused. */
const MAX_CLIENTS_PER_WINDOW = 65_536;

export class IceLinks {
  readonly #options: IceLinksOptions;
  readonly #now: () => number;
  readonly #minted: boolean;
  #windowStartMs = Number.NEGATIVE_INFINITY;
  #counts = new Map<string, number>();

  constructor(options: IceLinksOptions) {
    this.#options = options;
    this.#now = options.nowMs ?? Date.now;
    this.#minted = options.turnSecret !== undefined && options.servers.some(isTurn);
  }

  /**
   * The servers for the pod's own peer connections: those whose credentials are minted are left out.
   * That relay is the clients' way in: it relays to the media pods and nowhere else, so an
   * allocation of the pod's own there could reach no client; the pod offers its host (and STUN)
   * candidates, which the clients' relayed candidates reach.
   */
  get podIceServers(): readonly IceServer[] {
    return this.#minted ? this.#options.servers.filter((s) => !(isTurn(s) && s.username === undefined)) : this.#options.servers;
  }

  /** The Link header values for one answer (the 201 of a new session): credentials minted now. */
  forAnswer(): string[] {
    const secret = this.#options.turnSecret;
    if (!this.#minted || secret === undefined) return iceServerLinks(this.#options.servers);
    const credential = mintTurnCredential(secret, this.#now() / 1000 + this.#options.ttlSeconds);
    return iceServerLinks(this.#options.servers.map((s) => (isTurn(s) && s.username === undefined ? { ...s, ...credential } : s)));
  }

  /**
   * For OPTIONS: the same, within the client's TURN_CREDENTIALS_PER_MINUTE (then 429, reason
   * turn_credentials). A CORS preflight gets the servers without credentials: a browser reads no
   * Link header from it.
   */
  forOptions(request: FastifyRequest): string[] {
    if (!this.#minted) return this.forAnswer();
    if (request.headers['access-control-request-method'] !== undefined) return iceServerLinks(this.#options.servers);
    const now = this.#now();
    if (now - this.#windowStartMs >= 60_000) {
      this.#windowStartMs = now;
      this.#counts = new Map();
    }
    const count = (this.#counts.get(request.client) ?? 0) + 1;
    if (count > this.#options.perClientPerMinute || (count === 1 && this.#counts.size >= MAX_CLIENTS_PER_WINDOW)) {
      this.#options.onRejected('turn_credentials');
      const retryAfter = Math.max(this.#options.retryAfterSeconds, Math.ceil((this.#windowStartMs + 60_000 - now) / 1000));
      throw new HttpError('rate_limited', `TURN credentials: ${this.#options.perClientPerMinute} a minute for one address (TURN_CREDENTIALS_PER_MINUTE)`, {
        'retry-after': String(retryAfter),
      });
    }
    this.#counts.set(request.client, count);
    return this.forAnswer();
  }
}
