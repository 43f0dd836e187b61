import type { FastifyInstance, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import { isIP } from 'node:net';

/**
 * The key per-client limits count under (MAX_SESSIONS_PER_CLIENT, CLIENT_QUEUE_SHARE,
 * MEMORY_CLIENT_SHARE, SESSION_RATE_LIMIT_PER_MINUTE). An IPv4 address is one client. An IPv6 host
 * is usually handed a whole /64 and can pick a fresh address in it for every request, so IPv6
 * addresses count by their first `ipv6PrefixBits` bits (CLIENT_IPV6_PREFIX_BITS; 128: each address).
 * An IPv4-mapped IPv6 address (::ffff:192.0.2.1, a dual-stack socket) and a NAT64 address
 * (64:ff9b::192.0.2.1, RFC 6052: an IPv6-only client reaching us through its carrier's NAT64) are
 * the IPv4 address they carry: every NAT64 client would otherwise share one /64.
 * Some proxies write `ip:port` or `[ipv6]:port` into X-Forwarded-For; the port names a connection,
 * not a client, and is dropped.
 */
export function clientKey(ip: string, ipv6PrefixBits: number): string {
  const address = withoutPort(ip).split('%')[0]!; // a zone (fe80::1%eth0) names the interface, not the client
  if (isIP(address) !== 6) return address;
  const groups = ipv6Groups(address);
  if (embedsIpv4(groups)) return [groups[6]! >> 8, groups[6]! & 0xff, groups[7]! >> 8, groups[7]! & 0xff].join('.');
  if (ipv6PrefixBits >= 128) return groups.map((g) => g.toString(16)).join(':');
  const kept = groups.map((group, i) => {
    const bits = Math.min(16, Math.max(0, ipv6PrefixBits - 16 * i));
    return bits === 0 ? 0 : group & ((0xffff << (16 - bits)) & 0xffff);
  });
  return `${kept.map((g) => g.toString(16)).join(':')}/${ipv6PrefixBits}`;
}

/** `192.0.2.1:443` → `192.0.2.1`, `[2001:db8::1]:443` and `[2001:db8::1]` → `2001:db8::1`; anything else as it is. */
function withoutPort(ip: string): string {
  const bracketed = /^\[([^\]]+)\](?::\d{1,5})?$/.exec(ip);
  if (bracketed) return bracketed[1]!;
  const v4 = /^(\d{1,3}(?:\.\d{1,3}){3}):\d{1,5}$/.exec(ip);
  return v4 ? v4[1]! : ip;
}

/** ::ffff:0:0/96 (IPv4-mapped) and 64:ff9b::/96 (the NAT64 well-known prefix). */
function embedsIpv4(groups: readonly number[]): boolean {
  const zeroTo = (end: number) => groups.slice(0, end).every((g) => g === 0);
  const mapped = zeroTo(5) && groups[5] === 0xffff;
  const nat64 = groups[0] === 0x64 && groups[1] === 0xff9b && groups.slice(2, 6).every((g) => g === 0);
  return mapped || nat64;
}

/** The eight 16-bit groups of a valid IPv6 address (`::` expanded, a dotted IPv4 tail converted). */
function ipv6Groups(address: string): number[] {
  let text = address.toLowerCase();
  const v4 = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(text);
  if (v4) {
    const [a, b, c, d] = v4.slice(1).map(Number) as [number, number, number, number];
    text = `${text.slice(0, v4.index)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head = '', tail] = text.split('::');
  const parse = (part: string) => (part === '' ? [] : part.split(':').map((g) => Number.parseInt(g, 16)));
  const front = parse(head);
  const back = tail === undefined ? [] : parse(tail);
  return [...front, ...new Array<number>(8 - front.length - back.length).fill(0), ...back];
}

declare module 'fastify' {
  interface FastifyRequest {
    /** The per-client limits' key for this request's address (see clientKey). */
    readonly client: string;
  }
}

/** Client keys carried by calls another replica forwarded, once their signature is checked (src/fleet). */
const carried = new WeakMap<FastifyRequest, string>();

/**
 * Counts `request` under `key`: the client a verified forwarded call speaks for, so that the owner of a
 * session counts a viewer who entered through another replica as that viewer, not as the replica.
 */
export function countAs(request: FastifyRequest, key: string): void {
  carried.set(request, key);
}

/** Decorates every request with `request.client`: the carried key, else from `request.ip` (after TRUST_PROXY). */
export const clientKeys = fp(async (app: FastifyInstance, options: { readonly ipv6PrefixBits: number }) => {
  app.decorateRequest('client', {
    getter(this: FastifyRequest) {
      return carried.get(this) ?? clientKey(this.ip, options.ipv6PrefixBits);
    },
  });
});
