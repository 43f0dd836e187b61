/**
 * The ICE servers a WHIP endpoint lists (RFC 9725 §4.6: `Link: <turn:…>; rel="ice-server";
 * username="…"; credential="…"` on OPTIONS), so that publishers outside the cluster reach the media
 * pods through its TURN relay. The service mints short-lived TURN credentials per answer and limits
 * them per client (TURN_CREDENTIALS_PER_MINUTE), so one answer serves every session of a run for a
 * while and is fetched again before its credentials expire.
 */
import type { IceServerConfig } from '../client/peer.ts';

/** Fetched again after this long: well inside the service's TURN_CREDENTIAL_TTL_SECONDS (600 by default). */
const REFRESH_MS = 5 * 60_000;

/** The `rel="ice-server"` links of a Link header, as peer connection settings. */
export function parseIceServerLinks(header: string | null): IceServerConfig[] {
  if (header === null || header.trim() === '') return [];
  const servers: IceServerConfig[] = [];
  for (const link of header.split(/,\s*(?=<)/)) {
    const url = /^\s*<([^>]+)>/.exec(link)?.[1];
    if (url === undefined || !/;\s*rel="?ice-server"?/.test(link)) continue;
    const attribute = (name: string): string | undefined => new RegExp(`;\\s*${name}="((?:[^"\\\\]|\\\\.)*)"`).exec(link)?.[1]?.replace(/\\(.)/g, '$1');
    const username = attribute('username');
    const credential = attribute('credential');
    servers.push({ urls: url, ...(username === undefined ? {} : { username }), ...(credential === undefined ? {} : { credential }) });
  }
  return servers;
}

/** One run's ICE servers: asked for once, again when the credentials near their end; none when the endpoint lists none or does not answer. */
export class IceServerSource {
  readonly #whipUrl: string;
  readonly #headers: Record<string, string>;
  readonly #timeoutMs: number;
  #cached: { readonly atMs: number; readonly servers: Promise<IceServerConfig[]> } | undefined;

  constructor(whipUrl: string, token: string | undefined, timeoutMs: number) {
    this.#whipUrl = whipUrl;
    this.#headers = token === undefined ? {} : { authorization: `Bearer ${token}` };
    this.#timeoutMs = timeoutMs;
  }

  servers(): Promise<IceServerConfig[]> {
    const nowMs = performance.now();
    if (this.#cached === undefined || nowMs - this.#cached.atMs > REFRESH_MS) {
      const servers = fetch(this.#whipUrl, { method: 'OPTIONS', headers: this.#headers, signal: AbortSignal.timeout(this.#timeoutMs) }).then(
        async (res) => {
          await res.arrayBuffer();
          return res.ok ? parseIceServerLinks(res.headers.get('link')) : [];
        },
        () => [],
      );
      this.#cached = { atMs: nowMs, servers };
    }
    return this.#cached.servers;
  }
}
