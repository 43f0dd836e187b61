/**
 * SDP text helpers for the WHIP/WHEP resources: validation of offers before they reach libwebrtc,
 * trickle-ICE fragments (RFC 8840), and the rewrites the service needs. Pure string functions.
 */
import { SdpError } from '../errors.ts';

/** Malformed SDP: 400 `bad_request` (src/errors.ts). */
export { SdpError };

export const MAX_SDP_BYTES = 64 * 1024;

export interface OfferSummary {
  /** Directions of the offer's video sections, in order. */
  readonly video: readonly string[];
  readonly iceUfrag: string;
  /** Media sections of every kind. */
  readonly sections: number;
}

const lines = (sdp: string): string[] => sdp.split(/\r?\n/).filter((l) => l !== '');

/** The m-sections of an SDP, each from its kind (`video 9 UDP/...`) to the next `m=` line. */
const sectionsOf = (sdp: string): string[] => sdp.split(/\r?\nm=/).slice(1);
const directionOf = (section: string): string => /^a=(sendrecv|sendonly|recvonly|inactive)\r?$/m.exec(section)?.[1] ?? 'sendrecv';
const midOf = (section: string): string | null => /^a=mid:(\S+)/m.exec(section)?.[1] ?? null;

export interface MediaSection {
  /** audio, video, application. */
  readonly kind: string;
  readonly mid: string | null;
  /** sendrecv when the section does not say. */
  readonly direction: string;
}

/** The m-sections of an SDP in order, with their mid and direction. */
export function mediaSections(sdp: string): MediaSection[] {
  return sectionsOf(sdp).map((section) => ({ kind: section.split(' ', 1)[0] ?? '', mid: midOf(section), direction: directionOf(section) }));
}

/** The session's ICE username fragment (the first a=ice-ufrag line), if any. */
export function iceUfragOf(sdp: string): string | undefined {
  return /^a=ice-ufrag:(\S+)/m.exec(sdp)?.[1];
}

/**
 * Checks that `sdp` is an offer we can answer: SDP structure, at least one video section, ICE
 * credentials and a DTLS fingerprint. Throws SdpError naming the problem.
 */
export function validateOffer(sdp: string): OfferSummary {
  if (sdp.length > MAX_SDP_BYTES) throw new SdpError(`SDP is larger than ${MAX_SDP_BYTES} bytes`);
  const all = lines(sdp);
  if (all[0] !== 'v=0') throw new SdpError('SDP must start with v=0');
  for (const line of all) {
    if (!/^[a-z]=/.test(line)) throw new SdpError(`not an SDP line: ${JSON.stringify(line.slice(0, 60))}`);
  }
  if (!all.some((l) => l.startsWith('o='))) throw new SdpError('SDP has no o= line');
  const sections = sectionsOf(sdp);
  if (sections.length === 0) throw new SdpError('SDP has no media section');
  const video = sections.filter((s) => s.startsWith('video ')).map(directionOf);
  if (video.length === 0) throw new SdpError('SDP has no video section');
  const iceUfrag = iceUfragOf(sdp);
  if (iceUfrag === undefined || !/^a=ice-pwd:\S+/m.test(sdp)) throw new SdpError('SDP has no ICE credentials (a=ice-ufrag, a=ice-pwd)');
  if (!/^a=fingerprint:\S+ \S+/m.test(sdp)) throw new SdpError('SDP has no DTLS fingerprint (a=fingerprint)');
  return { video, iceUfrag, sections: sections.length };
}

export interface SdpFragment {
  readonly iceUfrag: string | undefined;
  readonly icePwd: string | undefined;
  readonly candidates: readonly { readonly candidate: string; readonly mid: string | null }[];
  readonly endOfCandidates: boolean;
}

/** Parses an `application/trickle-ice-sdpfrag` body (RFC 8840). */
export function parseSdpFragment(body: string): SdpFragment {
  if (body.length > MAX_SDP_BYTES) throw new SdpError(`fragment is larger than ${MAX_SDP_BYTES} bytes`);
  let iceUfrag: string | undefined;
  let icePwd: string | undefined;
  let mid: string | null = null;
  let endOfCandidates = false;
  const candidates: { candidate: string; mid: string | null }[] = [];
  for (const line of lines(body)) {
    if (!/^[a-z]=/.test(line)) throw new SdpError(`not an SDP line: ${JSON.stringify(line.slice(0, 60))}`);
    if (line.startsWith('a=ice-ufrag:')) iceUfrag = line.slice('a=ice-ufrag:'.length).trim();
    else if (line.startsWith('a=ice-pwd:')) icePwd = line.slice('a=ice-pwd:'.length).trim();
    else if (line.startsWith('a=mid:')) mid = line.slice('a=mid:'.length).trim();
    else if (line.startsWith('a=candidate:')) {
      if (line.split(' ').length < 8) throw new SdpError(`malformed candidate: ${JSON.stringify(line.slice(0, 80))}`);
      candidates.push({ candidate: line.slice(2), mid });
    } else if (line === 'a=end-of-candidates') endOfCandidates = true;
  }
  if ((iceUfrag === undefined) !== (icePwd === undefined)) throw new SdpError('an ICE restart needs both a=ice-ufrag and a=ice-pwd');
  return { iceUfrag, icePwd, candidates, endOfCandidates };
}

/** The remote offer again with new ICE credentials and without its old candidates (ICE restart). */
export function withIceCredentials(sdp: string, ufrag: string, pwd: string): string {
  return sdp
    .split('\r\n')
    .filter((l) => !l.startsWith('a=candidate:') && l !== 'a=end-of-candidates')
    .map((l) => (l.startsWith('a=ice-ufrag:') ? `a=ice-ufrag:${ufrag}` : l.startsWith('a=ice-pwd:') ? `a=ice-pwd:${pwd}` : l))
    .join('\r\n');
}

/** An RFC 8840 fragment of a local description: its ICE credentials and candidates, per bundled mid. */
export function fragmentOf(sdp: string): string {
  const ufrag = /^a=ice-ufrag:(\S+)/m.exec(sdp)?.[1];
  const pwd = /^a=ice-pwd:(\S+)/m.exec(sdp)?.[1];
  const out = [`a=ice-ufrag:${ufrag ?? ''}`, `a=ice-pwd:${pwd ?? ''}`];
  const first = sdp.split(/\r?\nm=/)[1];
  if (first !== undefined) {
    out.push(`m=${first.split(/\r?\n/)[0]}`);
    const mid = /^a=mid:(\S+)/m.exec(first)?.[1];
    if (mid !== undefined) out.push(`a=mid:${mid}`);
    for (const line of lines(first)) if (line.startsWith('a=candidate:')) out.push(line);
    out.push('a=end-of-candidates');
  }
  return `${out.join('\r\n')}\r\n`;
}

/**
 * Replaces the address of every host candidate with `ip` (hostNetwork, hostPort or 1:1 NAT, where
 * the pod's own address is not the one clients reach). Candidates that become identical are kept
 * once; the c= lines follow.
 */
export function announceAddress(sdp: string, ip: string): string {
  const family = ip.includes(':') ? 'IP6' : 'IP4';
  const seen = new Set<string>();
  return sdp
    .split('\r\n')
    .flatMap((line) => {
      if (line.startsWith('c=IN ')) return [`c=IN ${family} ${ip}`];
      if (!line.startsWith('a=candidate:')) return [line];
      const f = line.split(' ');
      // a=candidate:foundation component transport priority address port typ host ...
      if (f[7] !== 'host') return [line];
      f[4] = ip;
      const key = `${f[1]} ${f[2]?.toLowerCase()} ${f[5]} ${f.slice(8).join(' ').replace(/ network-id \d+| network-cost \d+| generation \d+/g, '')}`;
      if (seen.has(key)) return [];
      seen.add(key);
      return [f.join(' ')];
    })
    .join('\r\n');
}

/**
 * Lowers the answer's `a=max-message-size` (what we are willing to receive on data channels, RFC
 * 8841) to `bytes`: a compliant client then refuses to send a larger message itself.
 */
export function withMaxMessageSize(sdp: string, bytes: number): string {
  return sdp.replace(/^a=max-message-size:(\d+)(\r?)$/gm, (_line, current: string, cr: string) => `a=max-message-size:${Math.min(Number(current), bytes)}${cr}`);
}
