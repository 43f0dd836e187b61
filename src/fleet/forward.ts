import type { Readable } from 'node:stream';
import { Agent, errors as undiciErrors } from 'undici';
import { HttpError, OverloadedError } from '../errors.ts';
import type { ForwardOutcome, Metrics } from '../metrics.ts';
import { CLIENT_HEADER, SIGNATURE_HEADER, type FleetSignature } from './signature.ts';

/**
 * Hands a WHIP/WHEP call to the replica that owns its session and returns that replica's answer as
 * it is. The one module that opens connections to other replicas; callers check membership first.
 */

/** Set on every forwarded call; a call that carries it is never forwarded again. Stripped from clients' calls. */
export const HOP_HEADER = 'x-rtc-scale-forwarded-by';

/** Request headers that travel to the owner (the client's credentials and preconditions among them). */
const REQUEST_HEADERS = ['content-type', 'authorization', 'if-match', 'if-none-match', 'origin', 'accept', 'user-agent'] as const;

/** Answer headers returned to the client as the owner sent them. */
const ANSWER_HEADERS = [
  'content-type',
  'cache-control',
  'x-accel-buffering',
  'location',
  'etag',
  'link',
  'retry-after',
  'www-authenticate',
  'accept-post',
  'vary',
  'access-control-allow-origin',
  'access-control-allow-credentials',
  'access-control-expose-headers',
  'access-control-allow-methods',
  'access-control-allow-headers',
  'access-control-max-age',
] as const;

export interface ForwardedCall {
  readonly method: string;
  /** Path and query, as the client sent them. */
  readonly url: string;
  readonly headers: Readonly<Record<string, string | string[] | undefined>>;
  /** The body as the client sent it: JSON as its bytes (never re-serialised), SDP as text, images as bytes. */
  readonly body: string | Buffer | undefined;
  /** The client's address as this replica sees it (appended to X-Forwarded-For, for logs). */
  readonly clientIp: string;
  /** The client key this replica counted the call under: signed, so the owner counts the same client. */
  readonly client: string;
}

export interface ForwardedAnswer {
  readonly status: number;
  readonly headers: Readonly<Record<string, string | string[]>>;
  readonly body: Buffer;
}

/** An owner's answer whose body is relayed as it comes (a captions stream). */
export interface StreamedAnswer {
  readonly status: number;
  readonly headers: Readonly<Record<string, string | string[]>>;
  /** Chunks as the owner sends them; it ends with the owner's answer, or errors when the call is cut. */
  readonly body: Readable;
  /** Ends the call to the owner (the client left, or this replica shuts down). */
  close(): void;
}

export interface ForwarderOptions {
  /** This replica's peer address, sent in the hop header. */
  readonly selfAddress: string;
  /** Signs every forwarded call (FLEET_SECRET): the owner refuses an unsigned one. */
  readonly signature: FleetSignature;
  readonly timeoutSeconds: number;
  readonly connectTimeoutMs: number;
  readonly maxBodyBytes: number;
  readonly maxInflight: number;
  /** Streams relayed at once (each holds a connection to its owner). */
  readonly maxStreams: number;
  readonly retryAfterSeconds: number;
  readonly metrics: Pick<Metrics, 'forwarded' | 'forwardDuration' | 'rejected'>;
}

export const sessionGone = (): HttpError => new HttpError('session_gone');

/** Connection-level failures that mean the owner is not there (as opposed to slow or broken). */
const UNREACHABLE_CODES = new Set(['ECONNREFUSED', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN', 'UND_ERR_CONNECT_TIMEOUT']);

function errorCode(err: unknown): string | undefined {
  for (let e: unknown = err, depth = 0; e instanceof Error && depth < 4; e = (e as { cause?: unknown }).cause, depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string' && code !== 'UND_ERR_SOCKET') return code;
  }
  return undefined;
}

class TooLargeError extends Error {}

export class Forwarder {
  readonly #options: ForwarderOptions;
  readonly #agent: Agent;
  /** Streams have no size bound and idle between events: their own pool, without maxResponseSize or body timeout. */
  readonly #streamAgent: Agent;
  #inflight = 0;
  #streams = 0;

  constructor(options: ForwarderOptions) {
    this.#options = options;
    this.#agent = new Agent({
      connect: { timeout: options.connectTimeoutMs },
      headersTimeout: options.timeoutSeconds * 1000,
      bodyTimeout: options.timeoutSeconds * 1000,
      // Calls to one owner are few and short; a small pool per owner bounds sockets per peer.
      connections: 16,
      pipelining: 1,
      keepAliveTimeout: 4000,
      maxResponseSize: options.maxBodyBytes,
    });
    this.#streamAgent = new Agent({
      connect: { timeout: options.connectTimeoutMs },
      headersTimeout: options.timeoutSeconds * 1000,
      // The owner's keep-alive comments come every 15 s; the stream's life is bounded by `maxSeconds`.
      bodyTimeout: 0,
      // Each stream holds its connection for its whole life.
      connections: options.maxStreams,
      pipelining: 1,
    });
  }

  /** Counts a call that was refused before any connection (a non-member owner, or a second hop). */
  refused(outcome: 'non_member' | 'loop'): void {
    this.#options.metrics.forwarded.inc({ outcome });
  }

  /**
   * Sends `call` to `owner` (a current member: the caller checked) and returns its answer, or throws
   * an HttpError: 404 session_gone when the owner cannot be reached, 504 when it does not answer in
   * time, 502 when the answer breaks off or is too large, 503 when too many calls are in flight.
   */
  async forward(owner: string, call: ForwardedCall): Promise<ForwardedAnswer> {
    const { metrics } = this.#options;
    if (this.#inflight >= this.#options.maxInflight) {
      metrics.forwarded.inc({ outcome: 'overloaded' });
      metrics.rejected.inc({ reason: 'forward_full' });
      throw new OverloadedError(`this replica is forwarding ${this.#options.maxInflight} calls (FORWARD_MAX_INFLIGHT); retry`, this.#options.retryAfterSeconds, 'forward_full');
    }
    this.#inflight++;
    const startedMs = performance.now();
    let outcome: ForwardOutcome = 'failed';
    try {
      const answer = await this.#send(owner, call);
      outcome = 'answered';
      return answer;
    } catch (err) {
      const failure = failureOf(err);
      outcome = failure.outcome;
      throw failure.error;
    } finally {
      this.#inflight--;
      metrics.forwarded.inc({ outcome });
      metrics.forwardDuration.observe((performance.now() - startedMs) / 1000);
    }
  }

  /**
   * Sends a GET `call` to `owner` (a current member: the caller checked) and hands back its answer as
   * soon as its status and headers arrive, the body still coming. The same signature, hop header and
   * connect/answer timeouts as `forward`; no size bound, but the call ends after `maxSeconds` (the
   * body then ends), and at most `maxStreams` are open at once (503 beyond). Throws as `forward` does.
   */
  async stream(owner: string, call: ForwardedCall, maxSeconds: number): Promise<StreamedAnswer> {
    const { metrics } = this.#options;
    if (this.#streams >= this.#options.maxStreams) {
      metrics.forwarded.inc({ outcome: 'overloaded' });
      metrics.rejected.inc({ reason: 'forward_full' });
      throw new OverloadedError(`this replica relays ${this.#options.maxStreams} streams (FORWARD_MAX_STREAMS); retry`, this.#options.retryAfterSeconds, 'forward_full');
    }
    this.#streams++;
    const controller = new AbortController();
    const lifetime = setTimeout(() => controller.abort(), maxSeconds * 1000);
    let released = false;
    const release = (): void => {
      if (released) return;
      released = true;
      clearTimeout(lifetime);
      this.#streams--;
    };
    try {
      const res = await this.#streamAgent.request({ ...this.#request(owner, call), signal: controller.signal });
      res.body.once('close', release);
      metrics.forwarded.inc({ outcome: 'streamed' });
      return {
        status: res.statusCode,
        headers: answerHeaders(res.headers),
        body: res.body,
        close: () => {
          controller.abort();
          res.body.destroy();
        },
      };
    } catch (err) {
      release();
      const failure = failureOf(err);
      metrics.forwarded.inc({ outcome: failure.outcome });
      throw failure.error;
    }
  }

  close(): Promise<void> {
    return Promise.all([this.#agent.close(), this.#streamAgent.destroy()]).then(() => undefined);
  }

  /** The call as the owner gets it: the client's headers that travel, the hop header, the signature. */
  #request(owner: string, call: ForwardedCall) {
    const headers: Record<string, string> = {};
    for (const name of REQUEST_HEADERS) {
      const value = call.headers[name];
      if (typeof value === 'string') headers[name] = value;
    }
    const forwardedFor = call.headers['x-forwarded-for'];
    headers['x-forwarded-for'] = typeof forwardedFor === 'string' && forwardedFor !== '' ? `${forwardedFor}, ${call.clientIp}` : call.clientIp;
    headers[HOP_HEADER] = this.#options.selfAddress;
    headers[CLIENT_HEADER] = call.client;
    headers[SIGNATURE_HEADER] = this.#options.signature.sign(
      { method: call.method, url: call.url, forwardedBy: this.#options.selfAddress, client: call.client, contentType: headers['content-type'] ?? '' },
      call.body,
    );
    return { origin: `http://${owner}`, path: call.url, method: call.method as 'GET', headers, body: call.body };
  }

  async #send(owner: string, call: ForwardedCall): Promise<ForwardedAnswer> {
    const res = await this.#agent.request(this.#request(owner, call));
    const declared = Number(res.headers['content-length'] ?? '0');
    if (declared > this.#options.maxBodyBytes) {
      res.body.destroy();
      throw new TooLargeError();
    }
    const chunks: Buffer[] = [];
    let bytes = 0;
    for await (const chunk of res.body) {
      bytes += (chunk as Buffer).length;
      if (bytes > this.#options.maxBodyBytes) {
        res.body.destroy();
        throw new TooLargeError();
      }
      chunks.push(chunk as Buffer);
    }
    return { status: res.statusCode, headers: answerHeaders(res.headers), body: Buffer.concat(chunks) };
  }
}

function answerHeaders(headers: Readonly<Record<string, string | string[] | undefined>>): Record<string, string | string[]> {
  const kept: Record<string, string | string[]> = {};
  for (const name of ANSWER_HEADERS) {
    const value = headers[name];
    if (value !== undefined) kept[name] = value;
  }
  return kept;
}

/** What a failed call to an owner is counted as, and what the client is told. */
function failureOf(err: unknown): { outcome: ForwardOutcome; error: HttpError } {
  const code = errorCode(err);
  if (err instanceof TooLargeError || err instanceof undiciErrors.ResponseExceededMaxSizeError) {
    return { outcome: 'too_large', error: new HttpError('bad_gateway', 'the owning replica sent an answer larger than FORWARD_MAX_BODY_BYTES') };
  }
  if (code !== undefined && UNREACHABLE_CODES.has(code)) return { outcome: 'gone', error: sessionGone() };
  if (code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'UND_ERR_BODY_TIMEOUT') return { outcome: 'timeout', error: new HttpError('gateway_timeout') };
  return { outcome: 'failed', error: new HttpError('bad_gateway', 'the replica that holds this session broke off its answer; retry') };
}
