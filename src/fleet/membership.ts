import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';

/**
 * Who is in the fleet: the only addresses a replica ever forwards to. An address named by a session
 * id is a client's claim; it is checked against this set, never connected to on trust.
 */
export interface Membership {
  /** True when `address` (`host:port`) is a current member. May resolve DNS (bounded: see DnsMembership). */
  isMember(address: string): Promise<boolean>;
  /** Current members (for logs and tests). */
  members(): Promise<readonly string[]>;
}

/** `host:port` with IPv6 hosts in brackets, as session ids carry them. */
export const joinHostPort = (host: string, port: number): string => (isIP(host) === 6 ? `[${host}]:${port}` : `${host}:${port}`);

/** A fixed list (PEERS): local fleets and docker compose. */
export class StaticMembership implements Membership {
  readonly #members: ReadonlySet<string>;

  constructor(peers: readonly string[], maxPeers: number) {
    this.#members = new Set(peers.slice(0, maxPeers));
  }

  async isMember(address: string): Promise<boolean> {
    return this.#members.has(address);
  }

  async members(): Promise<readonly string[]> {
    return [...this.#members];
  }
}

export type Resolver = (name: string) => Promise<readonly string[]>;

/** Every address of a name (A and AAAA), through the system resolver as the rest of the pod sees it. */
export const systemResolver: Resolver = async (name) => (await lookup(name, { all: true, verbatim: true })).map((a) => a.address);

export interface DnsMembershipOptions {
  /** The headless Service's name, e.g. gpu-media-peers.gpu-media.svc.cluster.local. */
  readonly name: string;
  /** The port every replica listens on. */
  readonly port: number;
  /** Answers are reused this long. */
  readonly refreshSeconds: number;
  /** At most this many members are kept. */
  readonly maxPeers: number;
  readonly resolve?: Resolver;
  /** Clock, for tests. */
  readonly nowMs?: () => number;
  readonly onError?: (err: unknown) => void;
}

/** An address unknown to the cache triggers a fresh lookup at most this often (forged ids cost nothing more). */
const EARLY_REFRESH_MIN_MS = 1000;

/**
 * The fleet as a headless Service's DNS answer (every ready or, with publishNotReadyAddresses,
 * not-yet-ready and draining pod). The answer is cached for `refreshSeconds`; a lookup for an
 * address not in the cache may refresh early (a pod that just started), but only once a second and
 * never more than one lookup at a time, so a stream of forged ids cannot turn into a stream of DNS
 * queries. The set is capped at `maxPeers`.
 */
export class DnsMembership implements Membership {
  readonly #options: DnsMembershipOptions;
  readonly #resolve: Resolver;
  readonly #now: () => number;
  #members: ReadonlySet<string> = new Set();
  #resolvedAtMs = Number.NEGATIVE_INFINITY;
  #inflight: Promise<void> | undefined;

  constructor(options: DnsMembershipOptions) {
    this.#options = options;
    this.#resolve = options.resolve ?? systemResolver;
    this.#now = options.nowMs ?? (() => performance.now());
  }

  async isMember(address: string): Promise<boolean> {
    const age = this.#now() - this.#resolvedAtMs;
    if (age > this.#options.refreshSeconds * 1000) await this.#refresh();
    else if (!this.#members.has(address) && age > EARLY_REFRESH_MIN_MS) await this.#refresh();
    return this.#members.has(address);
  }

  async members(): Promise<readonly string[]> {
    if (this.#now() - this.#resolvedAtMs > this.#options.refreshSeconds * 1000) await this.#refresh();
    return [...this.#members];
  }

  #refresh(): Promise<void> {
    this.#inflight ??= (async () => {
      try {
        const addresses = await this.#resolve(this.#options.name);
        this.#members = new Set(addresses.slice(0, this.#options.maxPeers).map((host) => joinHostPort(host, this.#options.port)));
      } catch (err) {
        // Keep the last answer: a DNS hiccup must not make every forwarded call a 404. A name that
        // does not resolve at all leaves the set empty, which forwards nothing.
        this.#options.onError?.(err);
      } finally {
        this.#resolvedAtMs = this.#now();
        this.#inflight = undefined;
      }
    })();
    return this.#inflight;
  }
}
