/**
 * Which remote ICE candidates the pod may send connectivity checks (STUN, TCP connects) to. A
 * candidate is only a claim in a client's SDP: without this policy a client could make the pod probe
 * its own loopback, the cluster network or a cloud metadata endpoint (SSRF through ICE). Pure
 * functions over SDP text; the registry applies them before libwebrtc sees a candidate.
 *
 * Dropping a client's candidate never stops its connection from working: the client's own checks
 * reach the pod's candidates (which it has from the answer), and the pod answers them from the
 * address they came from (a peer-reflexive candidate), so the pod only ever talks to addresses that
 * proved they hold the session's ICE credentials.
 */
import { isIP } from 'node:net';

/** Why a candidate was dropped: the `reason` label of app_ice_candidates_dropped_total. */
export const CANDIDATE_DROP_REASONS = [
  'loopback',
  'unspecified',
  'multicast',
  'metadata',
  'link_local',
  'private',
  'reserved',
  'denied',
  'hostname',
  'malformed',
] as const;
export type CandidateDropReason = (typeof CANDIDATE_DROP_REASONS)[number];

interface Cidr {
  readonly family: 4 | 6;
  readonly bytes: Uint8Array;
  readonly bits: number;
}

export interface CandidatePolicy {
  /** ICE_CANDIDATE_ALLOW_CIDRS: private, link-local or reserved ranges whose candidates are used. */
  readonly allow: readonly Cidr[];
  /** ICE_CANDIDATE_DENY_CIDRS: more ranges never used (public cluster or node ranges); before `allow`. */
  readonly deny: readonly Cidr[];
}

/** The 4 or 16 bytes of an IP address, or undefined when `text` is not one (zones are not addresses here). */
function ipBytes(text: string): Uint8Array | undefined {
  const family = isIP(text);
  if (family === 4) return Uint8Array.from(text.split('.').map(Number));
  if (family !== 6) return undefined;
  // An embedded dotted quad (::ffff:127.0.0.1) is the last two words.
  const hex = text.replace(/(\d+)\.(\d+)\.(\d+)\.(\d+)$/, (_m, a: string, b: string, c: string, d: string) =>
    `${((Number(a) << 8) | Number(b)).toString(16)}:${((Number(c) << 8) | Number(d)).toString(16)}`,
  );
  const [left = '', right] = hex.split('::') as [string, string | undefined];
  const words = (part: string) => (part === '' ? [] : part.split(':').map((w) => parseInt(w, 16)));
  const l = words(left);
  const r = words(right ?? '');
  const all = right === undefined ? l : [...l, ...Array<number>(8 - l.length - r.length).fill(0), ...r];
  if (all.length !== 8) return undefined;
  const out = new Uint8Array(16);
  all.forEach((w, i) => {
    out[2 * i] = w >> 8;
    out[2 * i + 1] = w & 0xff;
  });
  return out;
}

/** `10.0.0.0/8`, `fd00::/8` or a single address (a /32 or /128). Throws on anything else. */
export function parseCidr(text: string): Cidr {
  const [address = '', bitsText, extra] = text.trim().split('/');
  const bytes = ipBytes(address);
  const family = bytes?.length === 4 ? 4 : 6;
  const max = family === 4 ? 32 : 128;
  const bits = bitsText === undefined ? max : Number(bitsText);
  if (bytes === undefined || extra !== undefined || !Number.isInteger(bits) || bits < 0 || bits > max || (bitsText !== undefined && !/^\d{1,3}$/.test(bitsText))) {
    throw new Error(`not an address or CIDR: ${JSON.stringify(text)}`);
  }
  return { family, bytes, bits };
}

function contains(cidr: Cidr, bytes: Uint8Array): boolean {
  if (cidr.bytes.length !== bytes.length) return false;
  for (let bit = 0; bit < cidr.bits; bit += 8) {
    const take = Math.min(8, cidr.bits - bit);
    const mask = (0xff << (8 - take)) & 0xff;
    if (((cidr.bytes[bit / 8]! ^ bytes[bit / 8]!) & mask) !== 0) return false;
  }
  return true;
}

const ranges = (...texts: string[]): readonly Cidr[] => texts.map(parseCidr);

/** Never used, whatever ICE_CANDIDATE_ALLOW_CIDRS says: nothing a remote client can be reached at. */
const NEVER: readonly (readonly [CandidateDropReason, readonly Cidr[]])[] = [
  ['unspecified', ranges('0.0.0.0/8', '::/128')],
  ['loopback', ranges('127.0.0.0/8', '::1/128')],
  ['multicast', ranges('224.0.0.0/4', 'ff00::/8')],
  // AWS, GCP, Azure, OpenStack (169.254.169.254), ECS task metadata, Alibaba, AWS over IPv6.
  ['metadata', ranges('169.254.169.254/32', '169.254.170.2/32', '100.100.100.200/32', 'fd00:ec2::254/128')],
];

/** Not used unless ICE_CANDIDATE_ALLOW_CIDRS covers them: a LAN, a VPN, the cluster network. */
const UNLESS_ALLOWED: readonly (readonly [CandidateDropReason, readonly Cidr[]])[] = [
  ['link_local', ranges('169.254.0.0/16', 'fe80::/10')],
  // RFC 1918, carrier-grade NAT (RFC 6598: also many VPNs and some clusters), unique local and
  // deprecated site-local IPv6, local-use NAT64.
  ['private', ranges('10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16', '100.64.0.0/10', 'fc00::/7', 'fec0::/10', '64:ff9b:1::/48')],
  // IETF protocol assignments, documentation, benchmarking, the old class E and broadcast; IPv6
  // discard-only, documentation and benchmarking.
  ['reserved', ranges('192.0.0.0/24', '192.0.2.0/24', '198.51.100.0/24', '203.0.113.0/24', '198.18.0.0/15', '240.0.0.0/4', '100::/64', '2001:db8::/32', '2001:2::/48')],
];

/** IPv6 forms that carry an IPv4 address, which is what they reach: IPv4-mapped and NAT64. */
const EMBEDS_IPV4 = ranges('::ffff:0:0/96', '64:ff9b::/96');

export function candidatePolicy(allow: readonly string[], deny: readonly string[]): CandidatePolicy {
  return { allow: allow.map(parseCidr), deny: deny.map(parseCidr) };
}

/** Why the policy drops an address, or undefined when the pod may send to it. */
export function addressVerdict(address: string, policy: CandidatePolicy): CandidateDropReason | undefined {
  let bytes = ipBytes(address);
  // mDNS names (`<uuid>.local`, what browsers write instead of their host addresses) and any other
  // name: a pod cannot resolve mDNS, and a name its DNS resolves could point anywhere.
  if (bytes === undefined) return 'hostname';
  if (bytes.length === 16 && EMBEDS_IPV4.some((c) => contains(c, bytes!))) bytes = bytes.subarray(12);
  const ip = bytes;
  for (const [reason, cidrs] of NEVER) if (cidrs.some((c) => contains(c, ip))) return reason;
  if (policy.deny.some((c) => contains(c, ip))) return 'denied';
  if (policy.allow.some((c) => contains(c, ip))) return undefined;
  for (const [reason, cidrs] of UNLESS_ALLOWED) if (cidrs.some((c) => contains(c, ip))) return reason;
  return undefined;
}

/**
 * Why the policy drops a candidate (`candidate:...` or `a=candidate:...`), or undefined to use it.
 * `candidate:<foundation> <component> <transport> <priority> <address> <port> typ <type> ...`
 */
export function candidateVerdict(candidate: string, policy: CandidatePolicy): CandidateDropReason | undefined {
  const fields = candidate.replace(/^a=/, '').split(' ');
  if (fields.length < 8 || fields[6] !== 'typ' || !/^\d{1,5}$/.test(fields[5] ?? '')) return 'malformed';
  return addressVerdict(fields[4]!, policy);
}

/** An SDP with the candidates the policy drops removed, how many it kept, and why each other went. */
export function filterSdpCandidates(sdp: string, policy: CandidatePolicy): { sdp: string; kept: number; dropped: CandidateDropReason[] } {
  const dropped: CandidateDropReason[] = [];
  let kept = 0;
  const out = sdp
    .split('\n')
    .filter((line) => {
      if (!line.startsWith('a=candidate:')) return true;
      const reason = candidateVerdict(line.replace(/\r$/, ''), policy);
      if (reason === undefined) kept++;
      else dropped.push(reason);
      return reason === undefined;
    })
    .join('\n');
  return { sdp: out, kept, dropped };
}
