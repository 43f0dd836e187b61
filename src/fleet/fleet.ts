import { createHash } from 'node:crypto';
import os from 'node:os';
import { Transform } from 'node:stream';
import type { FastifyBaseLogger, FastifyReply, FastifyRequest, preHandlerAsyncHookHandler } from 'fastify';
import { ConfigError, type Config } from '../config.ts';
import { HttpError } from '../errors.ts';
import { countAs } from '../net/client-key.ts';
import type { Metrics } from '../metrics.ts';
import { Forwarder, HOP_HEADER, sessionGone, type StreamedAnswer } from './forward.ts';
import { CLIENT_HEADER, EMPTY_DIGEST, FleetSignature, isClientKey, SIGNATURE_HEADER } from './signature.ts';
import { DnsMembership, joinHostPort, StaticMembership, type Membership, type Resolver } from './membership.ts';
import { ownerKeyOf, parseId } from './session-id.ts';

export type FleetConfig = Pick<
  Config,
  | 'port'
  | 'selfAddress'
  | 'podIp'
  | 'peers'
  | 'peerDns'
  | 'peerDnsRefreshSeconds'
  | 'maxPeers'
  | 'forwardTimeoutSeconds'
  | 'forwardConnectTimeoutMs'
  | 'forwardMaxBodyBytes'
  | 'forwardMaxInflight'
  | 'forwardMaxStreams'
  | 'retryAfterSeconds'
  | 'fleetSecret'
  | 'fleetSignatureWindowSeconds'
>;

/** The headers only a replica sets on a call it forwards; a call carrying any of them must be signed. */
const FLEET_HEADERS = [HOP_HEADER, CLIENT_HEADER, SIGNATURE_HEADER] as const;

/**
 * A fleet (PEERS or PEER_DNS) without FLEET_SECRET cannot tell its members' calls from anyone's: refuse
 * to start rather than forward unsigned calls, or refuse every forwarded one and fail every session
 * whose calls land on another replica.
 */
export function fleetSecretProblem(config: Pick<Config, 'peers' | 'peerDns' | 'fleetSecret'>): string | undefined {
  if (config.fleetSecret.length > 0 || (config.peers.length === 0 && config.peerDns === undefined)) return undefined;
  return 'FLEET_SECRET is required when PEERS or PEER_DNS is set: replicas sign the calls they forward to each other with it (docs/kubernetes.md, "Many replicas, one service"); leave PEERS and PEER_DNS unset for a single replica';
}

/** What a verified forwarded call carries, kept for the body check and the route. */
interface Forwarded {
  readonly by: string;
  readonly bodyDigest: string;
  /** The digest of the body the route reads, once it is read. */
  digest?: string;
}

/**
 * SELF_ADDRESS, else POD_IP:PORT; else, in a DNS-discovered fleet (docker compose replicas), this
 * host's first non-loopback IPv4 address, which is what the peers' DNS name resolves to; else
 * 127.0.0.1:PORT (a replica alone, or a local fleet that sets SELF_ADDRESS).
 */
export function selfAddressOf(
  config: Pick<Config, 'selfAddress' | 'podIp' | 'port' | 'peerDns'>,
  interfaces: () => ReturnType<typeof os.networkInterfaces> = os.networkInterfaces,
): string {
  if (config.selfAddress !== undefined) return config.selfAddress;
  if (config.podIp !== undefined) return joinHostPort(config.podIp, config.port);
  if (config.peerDns !== undefined) {
    const own = Object.values(interfaces())
      .flat()
      .find((i) => i !== undefined && i.family === 'IPv4' && !i.internal);
    if (own) return joinHostPort(own.address, config.port);
  }
  return joinHostPort('127.0.0.1', config.port);
}

/**
 * This replica's place in the fleet: its own address (minted into session ids), who the other members
 * are, and the route hook that sends calls for other replicas' sessions to their owner.
 */
export class Fleet {
  readonly selfAddress: string;
  readonly selfKey: string;
  readonly membership: Membership;
  readonly #forwarder: Forwarder;
  readonly #signature: FleetSignature;
  readonly #metrics: Pick<Metrics, 'rejected'>;
  readonly #forwarded = new WeakMap<FastifyRequest, Forwarded>();
  /** JSON bodies as their bytes, so that a forwarded PATCH reaches the owner exactly as it was sent. */
  readonly #rawJson = new WeakMap<FastifyRequest, Buffer>();

  constructor(config: FleetConfig, deps: { metrics: Metrics; log: FastifyBaseLogger; resolve?: Resolver }) {
    const problem = fleetSecretProblem(config);
    if (problem !== undefined) throw new ConfigError(problem);
    this.#metrics = deps.metrics;
    this.#signature = new FleetSignature(config.fleetSecret, config.fleetSignatureWindowSeconds);
    this.selfAddress = selfAddressOf(config);
    this.selfKey = ownerKeyOf(this.selfAddress);
    this.membership =
      config.peerDns !== undefined
        ? new DnsMembership({
            name: config.peerDns,
            port: config.port,
            refreshSeconds: config.peerDnsRefreshSeconds,
            maxPeers: config.maxPeers,
            ...(deps.resolve ? { resolve: deps.resolve } : {}),
            onError: (err) => deps.log.warn({ err, peerDns: config.peerDns }, 'fleet DNS lookup failed'),
          })
        : new StaticMembership(config.peers, config.maxPeers);
    this.#forwarder = new Forwarder({
      selfAddress: this.selfAddress,
      signature: this.#signature,
      timeoutSeconds: config.forwardTimeoutSeconds,
      connectTimeoutMs: config.forwardConnectTimeoutMs,
      maxBodyBytes: config.forwardMaxBodyBytes,
      maxInflight: config.forwardMaxInflight,
      maxStreams: config.forwardMaxStreams,
      retryAfterSeconds: config.retryAfterSeconds,
      metrics: deps.metrics,
    });
  }

  /**
   * True when `request` is a call another member forwarded: its fleet signature was checked on arrival.
   * Such calls were already rate-limited by the replica the client reached.
   */
  isForwardedByMember(request: FastifyRequest): boolean {
    return this.#forwarded.has(request);
  }

  /**
   * A preHandler for routes whose `param` is a session id: calls for this replica's sessions (and ids
   * that are not ours to route: malformed ones) go on to the route; calls for a member's session are
   * forwarded to it and its answer is sent as it came; anything else is 404 without a connection.
   */
  routeToOwner(param: string): preHandlerAsyncHookHandler {
    return async (request: FastifyRequest, reply: FastifyReply) => {
      const owner = await this.#ownerElsewhere(request, param);
      if (owner === undefined) return;
      // JSON goes as the bytes the client sent (`"invert"` or `null` parse to values that re-serialise
      // to another body, and the owner would answer 400 where it answers 422 directly).
      const raw = request.body;
      const body =
        this.#rawJson.get(request) ??
        (raw === undefined || raw === null ? undefined : typeof raw === 'string' || Buffer.isBuffer(raw) ? raw : Buffer.from(JSON.stringify(raw)));
      const answer = await this.#forwarder.forward(owner, {
        method: request.method,
        url: request.url,
        headers: request.headers,
        body,
        clientIp: request.ip,
        client: request.client,
      });
      reply.code(answer.status).headers(answer.headers);
      return reply.send(answer.body.length > 0 ? answer.body : undefined);
    };
  }

  /**
   * For a GET whose `param` names a member's session: the owner's answer, its body relayed as it
   * comes (at most `maxSeconds`; FORWARD_MAX_STREAMS at once). Undefined for this replica's sessions
   * and ids not ours to route (the route serves them); 404 session_gone, without a connection, for
   * non-members and calls already forwarded.
   */
  async streamFromOwner(request: FastifyRequest, param: string, maxSeconds: number): Promise<StreamedAnswer | undefined> {
    const owner = await this.#ownerElsewhere(request, param);
    if (owner === undefined) return undefined;
    return this.#forwarder.stream(owner, { method: request.method, url: request.url, headers: request.headers, body: undefined, clientIp: request.ip, client: request.client }, maxSeconds);
  }

  /** The member that owns the session `param` names, when it is another; throws session_gone for a non-member or a second hop. */
  async #ownerElsewhere(request: FastifyRequest, param: string): Promise<string | undefined> {
    const segment = (request.params as Record<string, string | undefined>)[param] ?? '';
    const parsed = parseId(segment);
    if (parsed === undefined || parsed.ownerKey === this.selfKey) return undefined;
    // A forwarded call is never forwarded again: the sender thought we owned it, so the fleet
    // disagrees about membership; a 404 ends it (no loops, no amplification).
    if (this.#forwarded.has(request)) {
      this.#forwarder.refused('loop');
      throw sessionGone();
    }
    if (!(await this.membership.isMember(parsed.owner))) {
      this.#forwarder.refused('non_member');
      throw sessionGone();
    }
    return parsed.owner;
  }

  /**
   * onRequest hook: a call that carries any of the fleet's headers claims to come from a member, and
   * must prove it with a valid signature (time, nonce, secret) before anything counts it; otherwise it
   * is refused (403 invalid_fleet_signature, app_rejected_total{reason="fleet_signature"}). A verified
   * call is counted under the client it carries. Its body is checked against the signed digest before
   * the route runs (checkForwardedBody).
   */
  readonly authenticateForwarded = async (request: FastifyRequest): Promise<void> => {
    if (FLEET_HEADERS.every((name) => request.headers[name] === undefined)) return;
    const by = request.headers[HOP_HEADER];
    const client = request.headers[CLIENT_HEADER];
    if (!this.#signature.enabled) throw this.#refuse('this replica is not in a fleet (no FLEET_SECRET): it takes no forwarded call');
    if (typeof by !== 'string' || typeof client !== 'string' || !isClientKey(client)) throw this.#refuse('malformed fleet headers');
    const contentType = request.headers['content-type'] ?? '';
    const verdict = this.#signature.verify({ method: request.method, url: request.url, forwardedBy: by, client, contentType }, header(request, SIGNATURE_HEADER));
    if (!verdict.ok) throw this.#refuse(`fleet signature ${verdict.why.replace('_', ' ')}`);
    this.#forwarded.set(request, { by, bodyDigest: verdict.bodyDigest });
    countAs(request, client);
  };

  /**
   * preParsing hook: the body of a verified forwarded call is hashed as it is read (for
   * checkForwardedBody), and a JSON body is kept as its bytes (for forwarding it unchanged).
   */
  readonly readBody = async (request: FastifyRequest, _reply: FastifyReply, payload: NodeJS.ReadableStream): Promise<NodeJS.ReadableStream> => {
    const forwarded = this.#forwarded.get(request);
    const json = (request.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase() === 'application/json';
    if (!forwarded && !json) return payload;
    const hash = forwarded ? createHash('sha256') : undefined;
    const chunks: Buffer[] = [];
    const rawJson = this.#rawJson;
    const tee = new Transform({
      transform(chunk: Buffer, _encoding, done) {
        hash?.update(chunk);
        if (json) chunks.push(chunk);
        done(null, chunk);
      },
      flush(done) {
        if (forwarded && hash) forwarded.digest = hash.digest('base64url');
        if (json) rawJson.set(request, Buffer.concat(chunks));
        done();
      },
    });
    payload.pipe(tee);
    payload.on('error', (err) => tee.destroy(err));
    return tee;
  };

  /** preValidation hook: a verified forwarded call's body must be the one its signature names. */
  readonly checkForwardedBody = async (request: FastifyRequest): Promise<void> => {
    const forwarded = this.#forwarded.get(request);
    if (!forwarded) return;
    // A body the route reads has been hashed by now (the parser reads to its end); a call whose body
    // is not read (GET, DELETE) reaches the route with none.
    const actual = forwarded.digest ?? EMPTY_DIGEST;
    if (actual !== forwarded.bodyDigest) throw this.#refuse('the body is not the one the fleet signature names');
  };

  #refuse(detail: string): HttpError {
    this.#metrics.rejected.inc({ reason: 'fleet_signature' });
    return new HttpError('invalid_fleet_signature', `${detail}: only replicas of this fleet forward calls to each other`);
  }

  close(): Promise<void> {
    return this.#forwarder.close();
  }
}

const header = (request: FastifyRequest, name: string): string | undefined => {
  const value = request.headers[name];
  return typeof value === 'string' ? value : undefined;
};
