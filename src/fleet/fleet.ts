import os from 'node:os';
import type { FastifyBaseLogger, FastifyReply, FastifyRequest, preHandlerAsyncHookHandler } from 'fastify';
import type { Config } from '../config.ts';
import type { Metrics } from '../metrics.ts';
import { Forwarder, HOP_HEADER, sessionGone } from './forward.ts';
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
  | 'retryAfterSeconds'
>;

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

  constructor(config: FleetConfig, deps: { metrics: Metrics; log: FastifyBaseLogger; resolve?: Resolver }) {
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
      timeoutSeconds: config.forwardTimeoutSeconds,
      connectTimeoutMs: config.forwardConnectTimeoutMs,
      maxBodyBytes: config.forwardMaxBodyBytes,
      maxInflight: config.forwardMaxInflight,
      retryAfterSeconds: config.retryAfterSeconds,
      metrics: deps.metrics,
    });
  }

  /**
   * True when `request` is a call another member forwarded: it carries the hop header and comes from
   * a member's host. Such calls were already rate-limited by the replica the client reached.
   */
  async isForwardedByMember(request: FastifyRequest): Promise<boolean> {
    const by = request.headers[HOP_HEADER];
    if (typeof by !== 'string' || !(await this.membership.isMember(by))) return false;
    const host = by.replace(/:\d+$/, '').replace(/^\[(.*)\]$/, '$1');
    const remote = (request.socket.remoteAddress ?? '').replace(/^::ffff:/, '');
    return remote === host;
  }

  /**
   * A preHandler for routes whose `param` is a session id: calls for this replica's sessions (and ids
   * that are not ours to route: malformed ones) go on to the route; calls for a member's session are
   * forwarded to it and its answer is sent as it came; anything else is 404 without a connection.
   */
  routeToOwner(param: string): preHandlerAsyncHookHandler {
    return async (request: FastifyRequest, reply: FastifyReply) => {
      const segment = (request.params as Record<string, string | undefined>)[param] ?? '';
      const parsed = parseId(segment);
      if (parsed === undefined || parsed.ownerKey === this.selfKey) return;
      // A forwarded call is never forwarded again: the sender thought we owned it, so the fleet
      // disagrees about membership; a 404 ends it (no loops, no amplification).
      if (request.headers[HOP_HEADER] !== undefined) {
        this.#forwarder.refused('loop');
        throw sessionGone();
      }
      if (!(await this.membership.isMember(parsed.owner))) {
        this.#forwarder.refused('non_member');
        throw sessionGone();
      }
      const raw = request.body;
      const body = raw === undefined || raw === null ? undefined : typeof raw === 'string' || Buffer.isBuffer(raw) ? raw : JSON.stringify(raw);
      const answer = await this.#forwarder.forward(parsed.owner, {
        method: request.method,
        url: request.url,
        headers: request.headers,
        body,
        clientIp: request.ip,
      });
      reply.code(answer.status).headers(answer.headers);
      return reply.send(answer.body.length > 0 ? answer.body : undefined);
    };
  }

  /**
   * onRequest hook: a hop header from anyone but a member is a client's forgery and is dropped, so
   * nothing downstream mistakes the call for a forwarded one. One naming this replica itself is kept
   * whoever sent it: it is our own call come back (a replica whose SELF_ADDRESS is not the address its
   * peers know it by), and keeping it ends the loop at the second hop.
   */
  readonly stripForgedHopHeader = async (request: FastifyRequest): Promise<void> => {
    const by = request.headers[HOP_HEADER];
    if (by === undefined || by === this.selfAddress) return;
    if (!(await this.isForwardedByMember(request))) delete request.headers[HOP_HEADER];
  };

  close(): Promise<void> {
    return this.#forwarder.close();
  }
}
