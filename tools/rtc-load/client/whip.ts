/**
 * WHIP publisher and WHEP viewer clients (RFC 9725 and the WHEP draft) over plain HTTP: what the
 * load tool, the tests and the benchmarks use to talk to the service as any client would.
 */
import type { I420Frame } from './i420.ts';
import { ClientPeer, type IceServerConfig } from './peer.ts';

/** The data channel the service reads effect changes from (its wire protocol, see docs/webrtc.md). */
export const CONTROL_CHANNEL = 'control';

export interface ClientOptions {
  readonly token?: string;
  readonly iceServers?: readonly IceServerConfig[];
  /** Bound on each HTTP exchange. */
  readonly timeoutMs?: number;
  /** Offer an audio section too (sent by a publisher, received by both). */
  readonly audio?: boolean;
}

export class WhipHttpError extends Error {
  readonly status: number;
  readonly body: string;
  constructor(status: number, body: string) {
    super(`WHIP/WHEP request failed with ${status}: ${body.slice(0, 200)}`);
    this.name = 'WhipHttpError';
    this.status = status;
    this.body = body;
  }
}

const DEFAULT_TIMEOUT_MS = 10_000;

function authorization(options: ClientOptions): Record<string, string> {
  return options.token === undefined ? {} : { authorization: `Bearer ${options.token}` };
}

async function postOffer(url: string, sdp: string, options: ClientOptions): Promise<{ location: string; etag: string | null; answer: string }> {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/sdp', ...authorization(options) },
    body: sdp,
    signal: AbortSignal.timeout(options.timeoutMs ?? DEFAULT_TIMEOUT_MS),
  });
  const text = await res.text();
  if (res.status !== 201) throw new WhipHttpError(res.status, text);
  const location = res.headers.get('location');
  if (location === null) throw new WhipHttpError(res.status, 'no Location header');
  return { location: new URL(location, url).href, etag: res.headers.get('etag'), answer: text };
}

async function deleteResource(url: string, options: ClientOptions): Promise<number> {
  const res = await fetch(url, { method: 'DELETE', headers: authorization(options), signal: AbortSignal.timeout(options.timeoutMs ?? DEFAULT_TIMEOUT_MS) });
  await res.arrayBuffer();
  return res.status;
}

/** A publisher: sends frames, receives the processed ones on the same connection. */
export class WhipPublisher {
  readonly peer: ClientPeer;
  readonly resourceUrl: string;
  readonly etag: string | null;
  readonly #options: ClientOptions;

  private constructor(peer: ClientPeer, resourceUrl: string, etag: string | null, options: ClientOptions) {
    this.peer = peer;
    this.resourceUrl = resourceUrl;
    this.etag = etag;
    this.#options = options;
  }

  /** POSTs an offer to `whipUrl` (e.g. `http://host/whip?effect=invert`) and applies the answer. */
  static async publish(whipUrl: string, options: ClientOptions & { readonly controlChannel?: boolean } = {}): Promise<WhipPublisher> {
    const peer = new ClientPeer({ iceServers: options.iceServers ?? [] });
    try {
      const offer = await peer.offer({ send: true, receive: true, audio: options.audio ?? false, ...(options.controlChannel ? { channel: CONTROL_CHANNEL } : {}) });
      const { location, etag, answer } = await postOffer(whipUrl, offer, options);
      await peer.acceptAnswer(answer);
      return new WhipPublisher(peer, location, etag, options);
    } catch (err) {
      peer.close();
      throw err;
    }
  }

  sendFrame(frame: I420Frame): void {
    this.peer.sendFrame(frame);
  }

  /** Sends synthetic frames from `next` at `fps` until the returned function is called. */
  startFrames(fps: number, next: (index: number) => I420Frame): () => void {
    let index = 0;
    const timer = setInterval(() => this.sendFrame(next(index++)), 1000 / fps);
    return () => clearInterval(timer);
  }

  /** Ends the session (DELETE) and closes the connection; returns the DELETE status. */
  async close(): Promise<number> {
    try {
      return await deleteResource(this.resourceUrl, this.#options);
    } finally {
      this.peer.close();
    }
  }

  /** Closes the connection without telling the server (a publisher that vanished). */
  abandon(): void {
    this.peer.close();
  }
}

/** A WHEP viewer of a session's processed output. */
export class WhepViewer {
  readonly peer: ClientPeer;
  readonly resourceUrl: string;
  readonly #options: ClientOptions;

  private constructor(peer: ClientPeer, resourceUrl: string, options: ClientOptions) {
    this.peer = peer;
    this.resourceUrl = resourceUrl;
    this.#options = options;
  }

  static async view(whepUrl: string, options: ClientOptions = {}): Promise<WhepViewer> {
    const peer = new ClientPeer({ iceServers: options.iceServers ?? [] });
    try {
      const offer = await peer.offer({ send: false, receive: true, audio: options.audio ?? false });
      const { location, answer } = await postOffer(whepUrl, offer, options);
      await peer.acceptAnswer(answer);
      return new WhepViewer(peer, location, options);
    } catch (err) {
      peer.close();
      throw err;
    }
  }

  async close(): Promise<number> {
    try {
      return await deleteResource(this.resourceUrl, this.#options);
    } finally {
      this.peer.close();
    }
  }
}
