import type { FastifyBaseLogger } from 'fastify';
import { SafeEmitter } from './events.ts';
import type { Peer } from './peer.ts';
import type { Session, SessionOutcome } from './publisher-session.ts';

export type ViewerEvents = { closed: [outcome: SessionOutcome] };

/**
 * A WHEP viewer of a session's processed output. It ends with its session, when its connection
 * fails, or when it has not been connected for `idleSeconds` (a client that never completed ICE).
 * The registry makes its peer, adds it to the session, and undoes both when it ends.
 */
export class Viewer extends SafeEmitter<ViewerEvents> {
  readonly id: string;
  readonly session: Session;
  readonly #peer: Peer;
  readonly #log: FastifyBaseLogger;
  #etag: string;
  #timer: NodeJS.Timeout;
  #closed = false;

  constructor(id: string, session: Session, peer: Peer, etag: string, options: { log: FastifyBaseLogger; idleSeconds: number }) {
    super((err, event) => options.log.error({ err, event, viewerId: id }, 'viewer listener failed'));
    this.id = id;
    this.session = session;
    this.#peer = peer;
    this.#etag = etag;
    this.#log = options.log;
    let lastConnectedMs = performance.now();
    peer.on('state', (state) => {
      if (state === 'failed') setImmediate(() => this.close('failed'));
    });
    this.#timer = setInterval(() => {
      if (peer.state === 'connected') lastConnectedMs = performance.now();
      else if (performance.now() - lastConnectedMs > options.idleSeconds * 1000) this.close('idle');
    }, Math.min(1000, options.idleSeconds * 500));
    this.#timer.unref();
  }

  get peer(): Peer {
    return this.#peer;
  }

  get etag(): string {
    return this.#etag;
  }

  setEtag(etag: string): void {
    this.#etag = etag;
  }

  close(outcome: SessionOutcome): void {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#timer);
    this.#log.info({ sessionId: this.session.id, viewerId: this.id, outcome }, 'viewer ended');
    this.safeEmit('closed', outcome);
    this.removeAllListeners();
  }
}
