/**
 * WHIP publisher and WHEP viewer clients in Node, on the same libwebrtc module as the server:
 * used by the tests, the benchmark and load tools.
 */
import { frameBytes } from '../frames/layout.ts';
import type { IceServer } from '../config.ts';
import { Peer, VideoOutput, type I420Frame } from './peer.ts';
import { CONTROL_CHANNEL } from './publisher-session.ts';

export interface ClientOptions {
  readonly token?: string;
  readonly iceServers?: readonly IceServer[];
  /** Bound on each HTTP exchange. */
  readonly timeoutMs?: number;
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

function newPeer(options: ClientOptions): Peer {
  return new Peer({
    iceServers: options.iceServers ?? [],
    gatherTimeoutMs: 2000,
    onListenerError: (err) => process.emitWarning(err instanceof Error ? err : new Error(String(err))),
  });
}

async function postOffer(url: string, sdp: string, options: ClientOptions): Promise<{ location: string; etag: string | null; answer: string }> {
  const headers: Record<string, string> = { 'content-type': 'application/sdp' };
  if (options.token !== undefined) headers.authorization = `Bearer ${options.token}`;
  const res = await fetch(url, { method: 'POST', headers, body: sdp, signal: AbortSignal.timeout(options.timeoutMs ?? 10_000) });
  const text = await res.text();
  if (res.status !== 201) throw new WhipHttpError(res.status, text);
  const location = res.headers.get('location');
  if (location === null) throw new WhipHttpError(res.status, 'no Location header');
  return { location: new URL(location, url).href, etag: res.headers.get('etag'), answer: text };
}

async function deleteResource(url: string, options: ClientOptions): Promise<number> {
  const headers: Record<string, string> = {};
  if (options.token !== undefined) headers.authorization = `Bearer ${options.token}`;
  const res = await fetch(url, { method: 'DELETE', headers, signal: AbortSignal.timeout(options.timeoutMs ?? 10_000) });
  await res.arrayBuffer();
  return res.status;
}

/** A publisher: sends frames, receives the processed ones on the same connection. */
export class WhipPublisher {
  readonly peer: Peer;
  readonly resourceUrl: string;
  readonly etag: string | null;
  readonly #output: VideoOutput;
  readonly #options: ClientOptions;

  private constructor(peer: Peer, output: VideoOutput, resourceUrl: string, etag: string | null, options: ClientOptions) {
    this.peer = peer;
    this.#output = output;
    this.resourceUrl = resourceUrl;
    this.etag = etag;
    this.#options = options;
  }

  /** POSTs an offer to `whipUrl` (e.g. `http://host/whip?effect=invert`) and applies the answer. */
  static async publish(whipUrl: string, options: ClientOptions & { readonly controlChannel?: boolean } = {}): Promise<WhipPublisher> {
    const peer = newPeer(options);
    const output = new VideoOutput();
    try {
      const offer = await peer.offer({ send: output, receive: true, ...(options.controlChannel ? { channel: CONTROL_CHANNEL } : {}) });
      const { location, etag, answer } = await postOffer(whipUrl, offer, options);
      await peer.acceptAnswer(answer);
      return new WhipPublisher(peer, output, location, etag, options);
    } catch (err) {
      peer.close();
      output.close();
      throw err;
    }
  }

  sendFrame(frame: I420Frame): void {
    this.#output.send(frame);
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
      this.#output.close();
    }
  }

  /** Closes the connection without telling the server (a publisher that vanished). */
  abandon(): void {
    this.peer.close();
    this.#output.close();
  }
}

/** A WHEP viewer of a session's processed output. */
export class WhepViewer {
  readonly peer: Peer;
  readonly resourceUrl: string;
  readonly #options: ClientOptions;

  private constructor(peer: Peer, resourceUrl: string, options: ClientOptions) {
    this.peer = peer;
    this.resourceUrl = resourceUrl;
    this.#options = options;
  }

  static async view(whepUrl: string, options: ClientOptions = {}): Promise<WhepViewer> {
    const peer = newPeer(options);
    try {
      const offer = await peer.offer({ receive: true });
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

/** An I420 frame of `width` x `height` filled by `fill(plane, x, y)` (plane 0 = Y, 1 = U, 2 = V). */
export function i420Frame(width: number, height: number, fill: (plane: 0 | 1 | 2, x: number, y: number) => number): I420Frame {
  const data = new Uint8Array(frameBytes({ format: 'i420', width, height }));
  const cw = (width + 1) >> 1;
  const ch = (height + 1) >> 1;
  let o = 0;
  for (let y = 0; y < height; y++) for (let x = 0; x < width; x++) data[o++] = fill(0, x, y);
  for (const plane of [1, 2] as const) for (let y = 0; y < ch; y++) for (let x = 0; x < cw; x++) data[o++] = fill(plane, x, y);
  return { width, height, data };
}
