import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import os from 'node:os';

/**
 * Every setting the service reads, from one table: the environment variable, how it parses, its
 * default and what it means. `loadConfig` reads `process.env` once at start-up; nothing else in the
 * code reads the environment. `docs/configuration.md` is generated from this table.
 */
type Setting<T> = {
  readonly env: string;
  readonly doc: string;
  readonly parse: (raw: string, env: string) => T;
  readonly default: T | (() => T);
};

import { ConfigError } from './errors.ts';
import { DEFAULT_MAX_SESSIONS } from './session-capacity.ts';

export { ConfigError };

function int(min: number, max: number) {
  return (raw: string, env: string): number => {
    if (!/^-?\d+$/.test(raw.trim())) throw new ConfigError(`${env} must be an integer, got ${JSON.stringify(raw)}`);
    const n = Number(raw);
    if (n < min || n > max) throw new ConfigError(`${env} must be within [${min}, ${max}], got ${n}`);
    return n;
  };
}

function num(min: number, max: number) {
  return (raw: string, env: string): number => {
    const n = Number(raw);
    if (raw.trim() === '' || !Number.isFinite(n)) throw new ConfigError(`${env} must be a number, got ${JSON.stringify(raw)}`);
    if (n < min || n > max) throw new ConfigError(`${env} must be within [${min}, ${max}], got ${n}`);
    return n;
  };
}

function oneOf<const T extends string>(...values: T[]) {
  return (raw: string, env: string): T => {
    const v = raw.trim().toLowerCase();
    if (!(values as string[]).includes(v)) throw new ConfigError(`${env} must be one of ${values.join('|')}, got ${JSON.stringify(raw)}`);
    return v as T;
  };
}

function bool(raw: string, env: string): boolean {
  const v = raw.trim().toLowerCase();
  if (['true', '1', 'yes'].includes(v)) return true;
  if (['false', '0', 'no'].includes(v)) return false;
  throw new ConfigError(`${env} must be true or false, got ${JSON.stringify(raw)}`);
}

function pixels(raw: string, env: string): number {
  const m = /^(\d+)x(\d+)$/.exec(raw.trim());
  const n = m ? Number(m[1]) * Number(m[2]) : Number(raw);
  if (!Number.isInteger(n) || n < 1) throw new ConfigError(`${env} must be a pixel count or WxH, got ${JSON.stringify(raw)}`);
  return n;
}

const text = (raw: string): string => raw;

function optional<T>(parse: (raw: string, env: string) => T) {
  return (raw: string, env: string): T | undefined => parse(raw, env);
}

function ipAddress(raw: string, env: string): string {
  const v = raw.trim();
  if (isIP(v) === 0) throw new ConfigError(`${env} must be an IPv4 or IPv6 address, got ${JSON.stringify(raw)}`);
  return v;
}

/** `host:port` as replicas reach each other (IPv4, [IPv6] or a DNS name). */
function peerAddress(raw: string, env: string): string {
  const v = raw.trim();
  const m = /^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]{1,253}):(\d{1,5})$/.exec(v);
  if (!m || Number(m[2]) < 1 || Number(m[2]) > 65535) throw new ConfigError(`${env} must be host:port (IPv6 in brackets), got ${JSON.stringify(raw)}`);
  return v;
}

function peerList(raw: string, env: string): readonly string[] {
  return list(raw).map((v) => peerAddress(v, env));
}

/**
 * A DNS name made absolute (with its trailing dot): the resolver then never tries it under the search
 * domains first, where a wildcard record would answer for it and name the fleet.
 */
function absoluteDnsName(raw: string, env: string): string {
  const v = raw.trim().replace(/\.$/, '');
  if (!/^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/.test(v) || v.length > 253) {
    throw new ConfigError(`${env} must be a DNS name, got ${JSON.stringify(raw)}`);
  }
  return `${v}.`;
}

/** Shared secrets, comma-separated, each long enough for an HMAC key (the first signs; all verify). */
function secretList(raw: string, env: string): readonly string[] {
  const secrets = list(raw);
  if (secrets.some((s) => s.length < 32)) throw new ConfigError(`${env} must be secrets of at least 32 characters each (e.g. openssl rand -base64 32), comma-separated`);
  return secrets;
}

/** One shared secret, long enough for an HMAC key. */
function secret(raw: string, env: string): string {
  const v = raw.trim();
  if (v.length < 32) throw new ConfigError(`${env} must be a secret of at least 32 characters (e.g. openssl rand -base64 32)`);
  return v;
}

function httpUrl(raw: string, env: string): string {
  let url: URL;
  try {
    url = new URL(raw.trim());
  } catch {
    throw new ConfigError(`${env} must be an http(s) URL, got ${JSON.stringify(raw)}`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new ConfigError(`${env} must be an http(s) URL, got ${JSON.stringify(raw)}`);
  return url.href.replace(/\/$/, '');
}

function list(raw: string): readonly string[] {
  return raw
    .split(',')
    .map((v) => v.trim())
    .filter((v) => v !== '');
}

/** Addresses and CIDRs (10.0.0.0/8, fd00::/8), as Fastify's trustProxy takes them. */
function addressList(raw: string, env: string): readonly string[] {
  const entries = list(raw);
  for (const entry of entries) {
    const [address, bits, extra] = entry.split('/');
    const family = isIP(address ?? '');
    const max = family === 4 ? 32 : 128;
    const prefixOk = bits === undefined || (/^\d{1,3}$/.test(bits) && Number(bits) <= max);
    if (family === 0 || !prefixOk || extra !== undefined) {
      throw new ConfigError(`${env} must be comma-separated IP addresses or CIDRs, got ${JSON.stringify(entry)}`);
    }
  }
  return entries;
}

export interface IceServer {
  readonly urls: readonly string[];
  readonly username?: string;
  readonly credential?: string;
}

function iceServers(raw: string, env: string): readonly IceServer[] {
  let value: unknown;
  try {
    value = JSON.parse(raw);
  } catch {
    throw new ConfigError(`${env} must be a JSON array of {urls, username?, credential?}, got invalid JSON`);
  }
  if (!Array.isArray(value)) throw new ConfigError(`${env} must be a JSON array of {urls, username?, credential?}`);
  return value.map((entry: unknown, i): IceServer => {
    const e = (typeof entry === 'object' && entry !== null ? entry : {}) as Record<string, unknown>;
    const urls = typeof e.urls === 'string' ? [e.urls] : e.urls;
    if (!Array.isArray(urls) || urls.length === 0 || !urls.every((u) => typeof u === 'string' && /^(stun|stuns|turn|turns):/.test(u))) {
      throw new ConfigError(`${env}[${i}].urls must be stun:, stuns:, turn: or turns: URLs`);
    }
    for (const key of ['username', 'credential'] as const) {
      if (e[key] !== undefined && typeof e[key] !== 'string') throw new ConfigError(`${env}[${i}].${key} must be a string`);
    }
    return {
      urls: urls as string[],
      ...(typeof e.username === 'string' ? { username: e.username } : {}),
      ...(typeof e.credential === 'string' ? { credential: e.credential } : {}),
    };
  });
}

export const SETTINGS = {
  port: { env: 'PORT', doc: 'HTTP port', parse: int(0, 65535), default: 8080 },
  host: { env: 'HOST', doc: 'address to listen on', parse: text, default: '0.0.0.0' },
  device: {
    env: 'DEVICE',
    doc: 'effect backend: auto (CUDA when available, else CPU), cpu, or cuda (fail at start-up without a GPU)',
    parse: oneOf('auto', 'cpu', 'cuda'),
    default: 'auto',
  },
  wasmRelaxedSimd: {
    env: 'WASM_RELAXED_SIMD',
    doc: "CPU kernels: auto uses their relaxed-SIMD build (fused multiply-adds in the recursive gaussian, about a tenth faster from sigma 5 on) where the runtime accepts it (Node 22; Node 20 only with --experimental-wasm-relaxed-simd), else the SIMD build; off always uses the SIMD build, whose output is the same on every x86 and Arm CPU (the relaxed one may differ by a level where a CPU has no fused multiply-add)",
    parse: oneOf('auto', 'off'),
    default: 'auto',
  },
  nativeKernels: {
    env: 'NATIVE_KERNELS',
    doc: "CPU kernels in native code beside the WASM ones (build/kernels-native.so, built by `npm run build` where a C++ compiler is on x86-64): the gaussian, grayscale and invert, bit-identical to their WASM kernels, the gaussian 2.5-3.5x faster with AVX-512; auto uses the best instruction set the CPU has (AVX-512BW/VL, else AVX2 with FMA), avx2 at most AVX2, off the WASM kernels alone; without the library or those instruction sets the WASM kernels serve, and the start-up log and app_cpu_kernels_info say which",
    parse: oneOf('auto', 'avx2', 'off'),
    default: 'auto',
  },
  cudaWanted: {
    env: 'CUDA_WANTED',
    doc: "the seed's switch: false forces the CPU backend; true is the same as DEVICE=auto",
    parse: bool,
    default: true,
  },
  workers: {
    env: 'WORKERS',
    doc: 'effect worker threads (default: the CPU cores available)',
    parse: int(1, 256),
    default: () => os.availableParallelism(),
  },
  maxQueue: {
    env: 'MAX_QUEUE',
    doc: '/process jobs that may wait for a worker (the waiting room); one more gets 503 at once with Connection: close (reason queue_full). A waiting request holds a socket and a few KiB; its body is in MEMORY_BUDGET_BYTES',
    parse: int(0, 100_000),
    default: 1024,
  },
  refusalHoldSeconds: {
    env: 'REFUSAL_HOLD_SECONDS',
    doc: 'a /process request the waiting room refuses (queue_full, queue_timeout) is answered no sooner than this after it arrived: a client that retries at once is slowed to one request per hold per connection, one that honours Retry-After loses nothing (0: answer at once). Unset: RETRY_AFTER_SECONDS',
    parse: optional(num(0, 60)),
    default: undefined,
  },
  maxHeldRefusals: {
    env: 'MAX_HELD_REFUSALS',
    doc: 'refusals held at once (REFUSAL_HOLD_SECONDS), each a socket and a few KiB; past it a refusal is answered at once with Connection: close',
    parse: int(0, 1_000_000),
    default: 4096,
  },
  mediaWorkers: {
    env: 'MEDIA_WORKERS',
    doc: 'worker threads for WebRTC frames only, beside WORKERS: a /process flood never holds a live frame (frames also go ahead of /process jobs on the WORKERS); 0: frames share the WORKERS, still first',
    parse: int(0, 64),
    default: 1,
  },
  queueLifoAfterSeconds: {
    env: 'QUEUE_LIFO_AFTER_SECONDS',
    doc: 'once the oldest /process job has waited this long for a worker, the newest waiting job goes first (adaptive LIFO: under overload the old ones time out at MAX_QUEUE_WAIT_SECONDS and the served ones keep a short wait); the /process p95 SLO by default, so that a closed loop just at capacity is still served in order',
    parse: num(0, 3600),
    default: 0.25,
  },
  maxPixels: { env: 'MAX_PIXELS', doc: 'largest frame, as a count or WxH (default 3840x2160)', parse: pixels, default: 3840 * 2160 },
  maxIters: { env: 'MAX_ITERS', doc: 'largest iters a request may ask for', parse: int(1, 100_000), default: 100 },
  maxBodyBytes: {
    env: 'MAX_BODY_BYTES',
    doc: 'largest request body (an image upload; default 36 MiB fits raw 4K RGBA)',
    parse: int(1024, 2 ** 31 - 1),
    default: 36 * 1024 * 1024,
  },
  p95WindowSeconds: {
    env: 'P95_WINDOW_SECONDS',
    doc: 'window of the rolling app_request_latency_p95_seconds gauge',
    parse: int(5, 3600),
    default: 60,
  },
  retryAfterSeconds: { env: 'RETRY_AFTER_SECONDS', doc: 'Retry-After sent with 503 when full', parse: int(1, 3600), default: 1 },
  maxEventLoopDelayMs: {
    env: 'MAX_EVENT_LOOP_DELAY_MS',
    doc: 'the API answers 503 (with Connection: close) while the main thread event-loop delay is above this: a stalled loop, not a busy one (0: off); health and metrics are exempt',
    parse: int(0, 60_000),
    default: 500,
  },
  maxEventLoopUtilization: {
    env: 'MAX_EVENT_LOOP_UTILIZATION',
    doc: 'the API answers 503 while main-thread event-loop utilisation is above this (0: off, the default: a loop kept busy by a storm of refusals would then refuse everything, the work its workers could still do included; the waiting room bounds the storm instead)',
    parse: num(0, 1),
    default: 0,
  },
  requestTimeoutSeconds: { env: 'REQUEST_TIMEOUT_SECONDS', doc: 'longest time to receive a whole request', parse: int(1, 3600), default: 60 },
  headersTimeoutSeconds: { env: 'HEADERS_TIMEOUT_SECONDS', doc: 'longest time to receive request headers', parse: int(1, 600), default: 10 },
  keepAliveTimeoutSeconds: {
    env: 'KEEP_ALIVE_TIMEOUT_SECONDS',
    doc: 'idle keep-alive connections close after this (longer than a load balancer idle timeout)',
    parse: int(1, 3600),
    default: 72,
  },
  metricsPort: {
    env: 'METRICS_PORT',
    doc: 'serve /metrics on this port only (not on PORT), so it need not be public; unset: /metrics on PORT',
    parse: optional(int(1, 65535)),
    default: undefined,
  },
  shutdownDelaySeconds: {
    env: 'SHUTDOWN_DELAY_SECONDS',
    doc: 'after SIGTERM, readiness fails at once but requests are served this long (endpoints take time to drop the pod)',
    parse: num(0, 600),
    default: 5,
  },
  logLevel: {
    env: 'LOG_LEVEL',
    doc: 'pino log level',
    parse: oneOf('fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'),
    default: 'info',
  },
  sessionRateLimitPerMinute: {
    env: 'SESSION_RATE_LIMIT_PER_MINUTE',
    doc: 'WHIP/WHEP sessions one client address may create per minute before 429 (0: no limit)',
    parse: int(0, 1_000_000),
    default: 30,
  },
  maxSessions: {
    env: 'MAX_SESSIONS',
    doc: 'WebRTC peer connections (WHIP publishers and WHEP viewers) per pod before new ones get 503 (default: a 2-core pod at 2 720p30 sessions per core, measured by bench/webrtc.ts; see src/session-capacity.ts)',
    parse: int(1, 10_000),
    default: DEFAULT_MAX_SESSIONS,
  },
  frameSloMs: {
    env: 'FRAME_SLO_MS',
    doc: 'WebRTC frame latency objective: with SLO_ADMISSION, new sessions get 503 while the p95 is above it',
    parse: num(1, 10_000),
    default: 20,
  },
  sloAdmission: {
    env: 'SLO_ADMISSION',
    doc: 'refuse new WebRTC sessions while the frame p95 over P95_WINDOW_SECONDS is above FRAME_SLO_MS',
    parse: bool,
    default: true,
  },
  iceServers: {
    env: 'ICE_SERVERS',
    doc: 'STUN/TURN servers as a JSON array of {"urls", "username", "credential"}, handed to clients in Link headers (OPTIONS /whip, the 201 of POST /whip). TURN URLs without credentials get credentials minted per answer from TURN_SECRET; static TURN credentials are refused unless WHIP_TOKEN is set (they would be handed to anyone)',
    parse: iceServers,
    default: [],
  },
  turnSecret: {
    env: 'TURN_SECRET',
    doc: "the TURN relay's shared secret (coturn use-auth-secret / static-auth-secret, the TURN REST API scheme): each answer that lists a TURN server carries a credential minted from it, username <expiry>:<random id>, password base64(HMAC-SHA1(secret, username)). At least 32 characters",
    parse: optional(secret),
    default: undefined,
  },
  turnCredentialTtlSeconds: {
    env: 'TURN_CREDENTIAL_TTL_SECONDS',
    doc: 'a minted TURN credential opens new relay allocations this long (coturn checks the expiry when a client allocates: a call outlives its credential, an ICE restart after it gets no relay until the client asks OPTIONS again)',
    parse: int(60, 86_400),
    default: 600,
  },
  turnCredentialsPerMinute: {
    env: 'TURN_CREDENTIALS_PER_MINUTE',
    doc: 'OPTIONS answers with minted TURN credentials one client address may get per minute on each replica; more get 429 (reason turn_credentials). The 201 of POST /whip carries credentials too, bounded by SESSION_RATE_LIMIT_PER_MINUTE',
    parse: int(1, 100_000),
    default: 30,
  },
  rtcPortMin: { env: 'RTC_PORT_MIN', doc: 'lowest UDP/TCP port for WebRTC media (set with RTC_PORT_MAX)', parse: optional(int(1, 65535)), default: undefined },
  rtcPortMax: { env: 'RTC_PORT_MAX', doc: 'highest UDP/TCP port for WebRTC media (set with RTC_PORT_MIN)', parse: optional(int(1, 65535)), default: undefined },
  announcedIp: {
    env: 'ANNOUNCED_IP',
    doc: 'address written into the host candidates of SDP answers (hostNetwork, hostPort or 1:1 NAT)',
    parse: optional(ipAddress),
    default: undefined,
  },
  corsOrigins: {
    env: 'CORS_ORIGINS',
    doc: 'origins allowed to call WHIP/WHEP from a browser, comma-separated (* for any; empty: same origin only)',
    parse: list,
    default: [],
  },
  sessionIdleSeconds: {
    env: 'SESSION_IDLE_SECONDS',
    doc: 'a WebRTC session that receives no frame for this long is closed',
    parse: int(1, 3600),
    default: 30,
  },
  sessionDrainSeconds: {
    env: 'SESSION_DRAIN_SECONDS',
    doc: 'on shutdown, running WebRTC sessions get this long to end before they are closed',
    parse: int(0, 3600),
    default: 60,
  },
  whipToken: {
    env: 'WHIP_TOKEN',
    doc: 'if set, WHIP/WHEP requests need "Authorization: Bearer <token>"',
    parse: optional(text),
    default: undefined,
  },
  maxFramePixels: {
    env: 'MAX_FRAME_PIXELS',
    doc: 'largest WebRTC frame a publisher may send, as a count or WxH; a larger frame is dropped before it reaches the engine (reason too_large) and the publisher told once on the control channel; a session that sends nothing but larger frames for SESSION_IDLE_SECONDS ends (outcome frame_too_large)',
    parse: pixels,
    default: 1920 * 1080,
  },
  maxFrameEffectMs: {
    env: 'MAX_FRAME_EFFECT_MS',
    doc: 'the most compute a WebRTC session\'s effect may be predicted to take on one of its frames (one frame interval at 30 fps by default): a costlier effect is refused when chosen (422 too_costly) and its frames are dropped (reason too_costly) before they reach a worker; 0: no cap',
    parse: num(0, 10_000),
    default: 33,
  },
  maxSessionsPerClient: {
    env: 'MAX_SESSIONS_PER_CLIENT',
    doc: 'WebRTC peer connections (publishers and viewers, negotiating or open) one client address may hold at once; one more gets 429 too_many_sessions (0: no limit)',
    parse: int(0, 10_000),
    default: 2,
  },
  sessionConnectSeconds: {
    env: 'SESSION_CONNECT_SECONDS',
    doc: 'a WebRTC publisher or viewer whose connection is not up this long after its answer is closed (outcome connect_timeout)',
    parse: int(1, 600),
    default: 10,
  },
  effectChangesPerSecond: {
    env: 'EFFECT_CHANGES_PER_SECOND',
    doc: 'effect changes (PATCH and data channel) one session may make per second, with a burst of twice that; more get 429',
    parse: num(0.1, 1000),
    default: 5,
  },
  maxOfferSections: {
    env: 'MAX_OFFER_SECTIONS',
    doc: 'media sections (m= lines) an SDP offer may carry; only the first video section is processed',
    parse: int(1, 64),
    default: 4,
  },
  iceCandidateAllowCidrs: {
    env: 'ICE_CANDIDATE_ALLOW_CIDRS',
    doc: 'private, link-local or reserved ranges (addresses or CIDRs, comma-separated) whose remote ICE candidates the pod may send checks to: a LAN or VPN whose clients reach the pod directly (e.g. 192.168.0.0/16, 100.64.0.0/10). Empty: public addresses only (clients on private networks still connect: their own checks reach the pod). Loopback, unspecified, multicast, cloud metadata and hostname (mDNS .local) candidates are never used',
    parse: addressList,
    default: [],
  },
  iceCandidateDenyCidrs: {
    env: 'ICE_CANDIDATE_DENY_CIDRS',
    doc: 'more ranges (addresses or CIDRs, comma-separated) whose remote ICE candidates are never used, ahead of ICE_CANDIDATE_ALLOW_CIDRS: the cluster\'s pod, service or node ranges where they are public addresses',
    parse: addressList,
    default: [],
  },
  maxRemoteCandidates: {
    env: 'MAX_REMOTE_CANDIDATES',
    doc: 'remote ICE candidates one publisher or viewer may give the pod per ICE session (offer and trickle together, counted after the address filter; an ICE restart starts again): an offer with more gets 400, a trickle PATCH that would pass it 422',
    parse: int(1, 1000),
    default: 32,
  },
  iceTricklePerSecond: {
    env: 'ICE_TRICKLE_PER_SECOND',
    doc: 'trickle-ICE PATCHes (candidates or restarts) one publisher or viewer may send per second, with a burst of twice that; more get 429 with Retry-After',
    parse: num(0.1, 1000),
    default: 10,
  },
  iceRestartsPerMinute: {
    env: 'ICE_RESTARTS_PER_MINUTE',
    doc: 'ICE restarts one publisher or viewer may make per minute (each gathers candidates again: TURN allocations where TURN is configured): that many at once, then one every 60/N seconds; more get 429 with Retry-After',
    parse: int(1, 600),
    default: 6,
  },
  controlMessageMaxBytes: {
    env: 'CONTROL_MESSAGE_MAX_BYTES',
    doc: 'largest message on a publisher\'s control data channel (an effect change is about 100 bytes): a larger one is refused before it is parsed (payload_too_large), and the answer\'s a=max-message-size says so to the publisher',
    parse: int(256, 256 * 1024),
    default: 4096,
  },
  trustProxy: {
    env: 'TRUST_PROXY',
    doc: 'proxies (addresses or CIDRs, comma-separated) whose X-Forwarded-For is believed: per-client limits then use the forwarded client address; empty: the socket address',
    parse: addressList,
    default: [],
  },
  memoryBudgetBytes: {
    env: 'MEMORY_BUDGET_BYTES',
    doc: 'bytes that requests in flight may hold on the main thread (bodies, decoded and encoded images, frames); over it new work gets 503 (reason memory). Unset: 75% of the cgroup memory limit less 256 MiB and the WORKER_MEMORY_BYTES of the WORKERS and MEDIA_WORKERS, at least 64 MiB; 512 MiB without a cgroup limit',
    parse: optional(int(1 << 20, Number.MAX_SAFE_INTEGER)),
    default: undefined,
  },
  memoryClientShare: {
    env: 'MEMORY_CLIENT_SHARE',
    doc: 'the part of MEMORY_BUDGET_BYTES one client address may hold (slow uploads from one address cannot take it all); more from it gets 503 (reason memory)',
    parse: num(0.01, 1),
    default: 0.5,
  },
  workerMemoryBytes: {
    env: 'WORKER_MEMORY_BYTES',
    doc: 'linear memory each CPU worker\'s kernels may grow to (it never shrinks). Unset: four MAX_PIXELS RGBA frames plus TEST_CARD_CACHE_BYTES plus 16 MiB',
    parse: optional(int(16 << 20, 4 * 1024 ** 3 - 65536)),
    default: undefined,
  },
  testCardCacheBytes: {
    env: 'TEST_CARD_CACHE_BYTES',
    doc: 'bytes of test cards (GET /process without a body) each worker keeps, least recently used first out',
    parse: int(0, 2 ** 31 - 1),
    default: 64 * 1024 * 1024,
  },
  maxQueueWaitSeconds: {
    env: 'MAX_QUEUE_WAIT_SECONDS',
    doc: 'a /process job that waited this long for a worker is answered 503 (reason queue_timeout): the held refusal that slows a client retrying at once; twice the 0.25 s /process p95 SLO',
    parse: num(0.001, 3600),
    default: 0.5,
  },
  maxJobSeconds: {
    env: 'MAX_JOB_SECONDS',
    doc: 'a job whose predicted compute time (pixels x passes x the effect\'s weight) is above this gets 422 (reason cost)',
    parse: num(0.001, 3600),
    default: 5,
  },
  clientQueueShare: {
    env: 'CLIENT_QUEUE_SHARE',
    doc: 'the part of MAX_QUEUE one client address\'s waiting jobs may fill (more gets 503 at once, reason queue_full); a job of a client already running one that is predicted to take longer than this part of MAX_QUEUE_WAIT_SECONDS never takes the last free worker, so another client waits at most that long (1: no per-client bound)',
    parse: num(0.01, 1),
    default: 0.5,
  },
  clientIpv6PrefixBits: {
    env: 'CLIENT_IPV6_PREFIX_BITS',
    doc: 'per-client limits count an IPv6 client by this many leading bits of its address (a host is usually handed a /64 and may use any address in it; 128: each address); IPv4 addresses are counted each on its own',
    parse: int(16, 128),
    default: 64,
  },
  requestDeadlineSeconds: {
    env: 'REQUEST_DEADLINE_SECONDS',
    doc: 'a /process job not finished this long after its request arrived is cancelled between passes and answered 503 (reason deadline)',
    parse: num(0.1, 3600),
    default: 15,
  },
  // ---- fleet: many replicas, one service (docs/kubernetes.md, ARCHITECTURE.md) ----
  selfAddress: {
    env: 'SELF_ADDRESS',
    doc: "this replica's peer address host:port, written into its session ids (default: POD_IP:PORT, else 127.0.0.1:PORT)",
    parse: optional(peerAddress),
    default: undefined,
  },
  podIp: { env: 'POD_IP', doc: "the pod's IP (Kubernetes downward API); gives SELF_ADDRESS its default", parse: optional(ipAddress), default: undefined },
  peers: {
    env: 'PEERS',
    doc: 'the fleet as a fixed list of peer addresses host:port, comma-separated (local fleets, docker compose)',
    parse: peerList,
    default: [],
  },
  peerDns: {
    env: 'PEER_DNS',
    doc: "the fleet as a DNS name whose addresses are the replicas' (a headless Service), each on PORT; always resolved as an absolute name (the resolver's search domains are never tried): give the full name",
    parse: optional(absoluteDnsName),
    default: undefined,
  },
  peerDnsRefreshSeconds: {
    env: 'PEER_DNS_REFRESH_SECONDS',
    doc: 'PEER_DNS answers are reused this long; an unknown owner triggers at most one early lookup per second',
    parse: num(0.5, 300),
    default: 5,
  },
  fleetSecret: {
    env: 'FLEET_SECRET',
    doc: 'the secret replicas sign the calls they forward to each other with (HMAC-SHA256 over method, path, time, nonce, client and body digest); required with PEERS or PEER_DNS, the same on every replica. At least 32 characters; a comma-separated list to rotate (the first signs, every one verifies). A call carrying the fleet headers without a valid signature gets 403 invalid_fleet_signature',
    parse: secretList,
    default: [],
  },
  fleetSignatureWindowSeconds: {
    env: 'FLEET_SIGNATURE_WINDOW_SECONDS',
    doc: "a forwarded call's signed time may differ from this replica's clock by at most this; each signature is accepted once within it (replays get 403)",
    parse: int(1, 300),
    default: 10,
  },
  maxPeers: { env: 'MAX_PEERS', doc: 'most fleet members kept from PEERS or PEER_DNS (the rest are ignored)', parse: int(1, 10_000), default: 1000 },
  forwardTimeoutSeconds: {
    env: 'FORWARD_TIMEOUT_SECONDS',
    doc: "longest wait for the owning replica's answer to a forwarded WHIP/WHEP call (then 504)",
    parse: num(0.5, 120),
    default: 10,
  },
  forwardConnectTimeoutMs: {
    env: 'FORWARD_CONNECT_TIMEOUT_MS',
    doc: 'longest wait to connect to the owning replica (then 404 session_gone)',
    parse: int(50, 60_000),
    default: 2000,
  },
  forwardMaxBodyBytes: {
    env: 'FORWARD_MAX_BODY_BYTES',
    doc: "largest answer body taken from the owning replica (an SDP answer; larger: 502)",
    parse: int(1024, 16 * 1024 * 1024),
    default: 256 * 1024,
  },
  forwardMaxInflight: {
    env: 'FORWARD_MAX_INFLIGHT',
    doc: 'forwarded WHIP/WHEP calls in flight from this replica before new ones get 503',
    parse: int(1, 100_000),
    default: 256,
  },
  forwardMaxStreams: {
    env: 'FORWARD_MAX_STREAMS',
    doc: "captions streams (SSE) this replica relays at once from the replicas that own their sessions, each holding a connection to its owner for up to CAPTIONS_SSE_MAX_SECONDS; one more gets 503 with Retry-After",
    parse: int(1, 100_000),
    default: 256,
  },
  podDeletionCost: {
    env: 'POD_DELETION_COST',
    doc: 'keep this pod\'s controller.kubernetes.io/pod-deletion-cost at its live session count (needs POD_NAME, POD_NAMESPACE and RBAC: k8s/components/pod-deletion-cost)',
    parse: bool,
    default: false,
  },
  podDeletionCostIntervalSeconds: {
    env: 'POD_DELETION_COST_INTERVAL_SECONDS',
    doc: 'the pod-deletion-cost annotation is patched at most this often, and only when the count changed',
    parse: num(1, 3600),
    default: 5,
  },
  podName: { env: 'POD_NAME', doc: "the pod's name (downward API), for the pod-deletion-cost updater", parse: optional(text), default: undefined },
  podNamespace: { env: 'POD_NAMESPACE', doc: "the pod's namespace (downward API), for the pod-deletion-cost updater", parse: optional(text), default: undefined },
  kubernetesApiUrl: {
    env: 'KUBERNETES_API_URL',
    doc: 'Kubernetes API base URL for the pod-deletion-cost updater (default: https://$KUBERNETES_SERVICE_HOST:$KUBERNETES_SERVICE_PORT)',
    parse: optional(httpUrl),
    default: undefined,
  },
  kubernetesServiceHost: { env: 'KUBERNETES_SERVICE_HOST', doc: 'set by Kubernetes in every pod: the API server address', parse: optional(text), default: undefined },
  kubernetesServicePort: { env: 'KUBERNETES_SERVICE_PORT', doc: 'set by Kubernetes in every pod: the API server port', parse: optional(int(1, 65535)), default: undefined },
  serviceAccountDir: {
    env: 'SERVICE_ACCOUNT_DIR',
    doc: "where the pod's service-account token and CA certificate are mounted",
    parse: text,
    default: '/var/run/secrets/kubernetes.io/serviceaccount',
  },
  segmentMaskSmoothing: {
    env: 'SEGMENT_MASK_SMOOTHING',
    doc: 'background effects on live video: weight of the previous mask when a new one is blended in (0: none; higher: steadier edges, slower to follow)',
    parse: num(0, 0.95),
    default: 0.5,
  },
  segmentInferenceMaxFps: {
    env: 'SEGMENT_INFERENCE_MAX_FPS',
    doc: 'background effects on live video: the model runs in its own job beside the frames, one at a time per session and at most this often; frames use the latest mask',
    parse: num(1, 120),
    default: 15,
  },
  segmentDetectIntervalMs: {
    env: 'SEGMENT_DETECT_INTERVAL_MS',
    doc: 'background effects on live video: how often the person detector looks at the whole frame for newcomers (and drops people gone for two looks); in between, the model runs on the people tracked from the last masks (a look costs about 3.5 to 4 model runs; a wide frame with nobody in it takes three looks)',
    parse: int(200, 60_000),
    default: 2000,
  },
  segmentMaxMaskAgeFrames: {
    env: 'SEGMENT_MAX_MASK_AGE_FRAMES',
    doc: 'background effects, engines without mask jobs: when frames fall behind, the model runs on one frame in up to this many and the others reuse its mask (1: every frame)',
    parse: int(1, 30),
    default: 6,
  },
  backdropMaxPixels: {
    env: 'BACKDROP_MAX_PIXELS',
    doc: 'largest backdrop image for background-replace (PUT /whip/{id}/background), pixels or WxH; it is kept in memory per session',
    parse: pixels,
    default: 1920 * 1080,
  },
  backdropMaxBytes: {
    env: 'BACKDROP_MAX_BYTES',
    doc: 'largest backdrop upload (PUT /whip/{id}/background), checked against Content-Length before a byte is read (413); the body and its decoded pixels are reserved in MEMORY_BUDGET_BYTES under the client\'s MEMORY_CLIENT_SHARE. 8 MiB fits any 1920x1080 PNG',
    parse: int(1024, 2 ** 31 - 1),
    default: 8 * 1024 * 1024,
  },
  backdropUploadsPerMinute: {
    env: 'BACKDROP_UPLOADS_PER_MINUTE',
    doc: 'backdrop uploads one client address may start per minute on each replica, and one session on its owner (a burst of that many, then one every 60/N seconds); more get 429 with Retry-After',
    parse: int(1, 10_000),
    default: 10,
  },
  audioBufferMs: {
    env: 'AUDIO_BUFFER_MS',
    doc: "WebRTC audio a session may hold waiting for its audio effect's engine (denoise), in 10 ms blocks; when full, the oldest block is dropped (app_audio_frames_dropped_total{reason=\"overflow\"}), so a slow engine costs audio, never delay",
    parse: int(10, 1000),
    default: 60,
  },
  audioMaxBlockSamples: {
    env: 'AUDIO_MAX_BLOCK_SAMPLES',
    doc: 'largest decoded WebRTC audio block, in samples of all channels (10 ms of 48 kHz stereo is 960); a larger one is dropped (too_large)',
    parse: int(480, 96_000),
    default: 1920,
  },
  // ---- captions and translation (src/speech, docs/audio.md) ----
  captionsEngineLibrary: {
    env: 'CAPTIONS_ENGINE_LIBRARY',
    doc: "the speech recogniser's shared library (PocketSphinx 5prealpha; its sphinxbase is loaded from beside it). Not loadable at start-up: captions are reported unavailable, everything else runs",
    parse: text,
    default: 'libpocketsphinx.so.3',
  },
  captionsModelDir: {
    env: 'CAPTIONS_MODEL_DIR',
    doc: "the recogniser's model: en-us/ (acoustic model), en-us.lm.bin and cmudict-en-us.dict (Debian pocketsphinx-en-us). Missing: captions unavailable",
    parse: text,
    default: '/usr/share/pocketsphinx/model/en-us',
  },
  captionsMaxSessions: {
    env: 'CAPTIONS_MAX_SESSIONS',
    doc: 'sessions captioned at once on this pod, each with its own recogniser thread (its model and thread take about 130 MB, and it decodes each utterance twice, streamed then whole: docs/audio.md); one more is refused 503 (reason captions_full). 2 fits the 2-core, 1.5 GiB pod of k8s/overlays/cpu beside the models of the background effects',
    parse: int(0, 256),
    default: 2,
  },
  captionsAudioQueueMs: {
    env: 'CAPTIONS_AUDIO_QUEUE_MS',
    doc: "audio a captioned session may hold waiting for its recogniser; when full the oldest is dropped (app_caption_audio_dropped_seconds_total{reason=\"queue_full\"}): a recogniser that falls behind loses words, captions never lag further",
    parse: int(100, 60_000),
    default: 3000,
  },
  captionsPartialIntervalMs: {
    env: 'CAPTIONS_PARTIAL_INTERVAL_MS',
    doc: 'while someone speaks, a partial caption at most this often (only when its text changed)',
    parse: int(100, 10_000),
    default: 500,
  },
  captionsMaxUtteranceSeconds: {
    env: 'CAPTIONS_MAX_UTTERANCE_SECONDS',
    doc: 'an utterance ends (final caption) after this long even while the speaker goes on: bounds the audio kept per session and the final decode',
    parse: int(2, 120),
    default: 15,
  },
  captionsFinalDecode: {
    env: 'CAPTIONS_FINAL_DECODE',
    doc: "how an utterance's final caption is made: whole (its audio decoded again at once when it ends: the engine's offline result, about twice the compute) or streamed (the streamed result as it stands: half the compute, fewer words right; docs/audio.md, Figures)",
    parse: oneOf('whole', 'streamed'),
    default: 'whole',
  },
  captionsMaxTextChars: {
    env: 'CAPTIONS_MAX_TEXT_CHARS',
    doc: "longest caption text (and translation) delivered; a longer one is cut at a word, ending in '…'",
    parse: int(16, 10_000),
    default: 500,
  },
  captionsWebvttMaxBytes: {
    env: 'CAPTIONS_WEBVTT_MAX_BYTES',
    doc: "the WebVTT file of a session's captions (GET /whip/{id}/captions.vtt) keeps at most this many bytes of cues; the oldest are dropped first",
    parse: int(1024, 64 * 1024 * 1024),
    default: 256 * 1024,
  },
  captionsSseMaxSubscribers: {
    env: 'CAPTIONS_SSE_MAX_SUBSCRIBERS',
    doc: "Server-Sent Events streams of one session's captions (GET /whip/{id}/captions) open at once; one more gets 429",
    parse: int(1, 10_000),
    default: 16,
  },
  captionsSseMaxSeconds: {
    env: 'CAPTIONS_SSE_MAX_SECONDS',
    doc: 'a captions event stream is closed after this long (EventSource reconnects by itself); it also ends with its session',
    parse: int(10, 86_400),
    default: 3600,
  },
  apertiumDataDir: {
    env: 'APERTIUM_DATA_DIR',
    doc: "Apertium's language data (modes/<pair>.mode): the pairs installed there from the recognised language are the translate= languages offered",
    parse: text,
    default: '/usr/share/apertium',
  },
  translateQueueMax: {
    env: 'TRANSLATE_QUEUE_MAX',
    doc: 'sentences that may wait for one language pair (all sessions of the pod); one more is not translated (app_translations_total{outcome="queue_full"}) and its caption goes out without a translation',
    parse: int(1, 10_000),
    default: 32,
  },
  translateTimeoutMs: {
    env: 'TRANSLATE_TIMEOUT_MS',
    doc: "a sentence's longest wait for its translation (the pair's first sentence includes its start, about 2 s); then the caption goes out without one and the pair's process is restarted",
    parse: int(100, 60_000),
    default: 5000,
  },
  subtitleFontFile: {
    env: 'SUBTITLE_FONT_FILE',
    doc: 'the font subtitles=burn draws captions with (Debian fonts-dejavu-core)',
    parse: text,
    default: '/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf',
  },
} as const satisfies Record<string, Setting<unknown>>;

type Settings = typeof SETTINGS;
export type Config = { readonly [K in keyof Settings]: ReturnType<Settings[K]['parse']> };

/** Reads and validates every setting; all problems are reported together. */
export function loadConfig(env: Readonly<Record<string, string | undefined>> = process.env): Config {
  const out: Record<string, unknown> = {};
  const problems: string[] = [];
  for (const [key, setting] of Object.entries(SETTINGS) as [string, Setting<unknown>][]) {
    const raw = env[setting.env];
    try {
      out[key] =
        raw === undefined || raw === ''
          ? typeof setting.default === 'function'
            ? (setting.default as () => unknown)()
            : setting.default
          : setting.parse(raw, setting.env);
    } catch (err) {
      problems.push(err instanceof Error ? err.message : String(err));
    }
  }
  const config = out as Mutable<Config>;
  if (problems.length === 0 && config.device === 'cuda' && env.CUDA_WANTED !== undefined && !config.cudaWanted) {
    problems.push('DEVICE=cuda contradicts CUDA_WANTED=false');
  }
  if (problems.length === 0 && config.fleetSecret.length === 0 && (config.peers.length > 0 || config.peerDns !== undefined)) {
    problems.push('FLEET_SECRET is required when PEERS or PEER_DNS is set: replicas sign the calls they forward to each other with it; leave PEERS and PEER_DNS unset for a single replica');
  }
  if (problems.length === 0) problems.push(...turnProblems(config));
  if (problems.length > 0) throw new ConfigError(`invalid configuration: ${problems.join('; ')}`);
  return config;
}

type Mutable<T> = { -readonly [K in keyof T]: T[K] };

const isTurn = (server: IceServer): boolean => server.urls.some((u) => /^turns?:/.test(u));

/**
 * TURN credentials are either minted (TURN_SECRET, TURN URLs without credentials) or static and
 * behind WHIP_TOKEN: static ones without a token would go to anyone who asks OPTIONS /whip.
 */
function turnProblems(config: Pick<Config, 'iceServers' | 'turnSecret' | 'whipToken'>): string[] {
  const problems: string[] = [];
  const turn = config.iceServers.filter(isTurn);
  const withStatic = turn.filter((s) => s.username !== undefined || s.credential !== undefined);
  if (withStatic.length > 0 && config.turnSecret !== undefined) {
    problems.push('ICE_SERVERS lists TURN credentials and TURN_SECRET is set: leave username and credential out of ICE_SERVERS (they are minted per answer from TURN_SECRET)');
  } else if (withStatic.length > 0 && config.whipToken === undefined) {
    problems.push('ICE_SERVERS lists static TURN credentials and WHIP_TOKEN is unset: they would be handed to anyone who asks OPTIONS /whip; set TURN_SECRET (the relay\'s use-auth-secret) and leave them out, or set WHIP_TOKEN');
  }
  if (turn.length > withStatic.length && config.turnSecret === undefined) {
    problems.push('ICE_SERVERS lists TURN URLs without credentials and TURN_SECRET is unset: set TURN_SECRET (the relay\'s static-auth-secret) so that credentials are minted for them');
  }
  return problems;
}

/** Test helper and programmatic use: defaults with some settings replaced. */
export function configWith(overrides: Partial<Config>): Config {
  return { ...loadConfig({}), ...overrides };
}

/** The container's memory limit (cgroup v2, else v1), or undefined when there is none. */
export function cgroupMemoryLimitBytes(read: (path: string) => string = (p) => readFileSync(p, 'utf8')): number | undefined {
  for (const path of ['/sys/fs/cgroup/memory.max', '/sys/fs/cgroup/memory/memory.limit_in_bytes']) {
    let raw: string;
    try {
      raw = read(path).trim();
    } catch {
      continue;
    }
    const n = Number(raw);
    // v2 says "max"; v1 says a number near 2^63 when unlimited.
    if (raw === 'max' || !Number.isSafeInteger(n) || n <= 0 || n >= 2 ** 60) return undefined;
    return n;
  }
  return undefined;
}

const MiB = 1024 * 1024;
/** Node, libwebrtc, sharp and the metrics before any request: kept out of the in-flight budget. */
export const PROCESS_BASE_BYTES = 256 * MiB;

/** WORKER_MEMORY_BYTES as set, or enough for one MAX_PIXELS job (source, result, two scratch frames) and the card cache. */
export function workerMemoryBytes(config: Pick<Config, 'workerMemoryBytes' | 'maxPixels' | 'testCardCacheBytes'>): number {
  return config.workerMemoryBytes ?? Math.min(4 * 1024 ** 3 - 65536, 4 * config.maxPixels * 4 + config.testCardCacheBytes + 16 * MiB);
}

/** MEMORY_BUDGET_BYTES as set, or derived from the container's memory limit with headroom. */
export function memoryBudgetBytes(
  config: Pick<Config, 'memoryBudgetBytes' | 'workerMemoryBytes' | 'maxPixels' | 'testCardCacheBytes' | 'workers' | 'mediaWorkers'>,
  limitBytes: number | undefined = cgroupMemoryLimitBytes(),
): number {
  if (config.memoryBudgetBytes !== undefined) return config.memoryBudgetBytes;
  if (limitBytes === undefined) return 512 * MiB;
  return Math.max(64 * MiB, Math.floor(limitBytes * 0.75) - PROCESS_BASE_BYTES - (config.workers + config.mediaWorkers) * workerMemoryBytes(config));
}
