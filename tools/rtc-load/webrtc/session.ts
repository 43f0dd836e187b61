import type { Histogram } from 'hdr-histogram-js';
import type { IceServerConfig } from '../client/peer.ts';
import { WhipHttpError, WhipPublisher } from '../client/whip.ts';
import type { I420Frame } from '../client/i420.ts';
import { errorCause } from '../core/error-cause.ts';
import { newLatencyHistogram } from '../core/recorder.ts';
import { MAX_FRAME_ID, readFrameId } from './frame-id.ts';
import { FrameSource } from './frames.ts';

export interface PublisherSettings {
  /** The WHIP endpoint with the effect in its query, e.g. http://host/whip?effect=blur. */
  readonly whipUrl: string;
  readonly width: number;
  readonly height: number;
  readonly fps: number;
  /** Bound on each WHIP HTTP exchange (POST, DELETE). */
  readonly timeoutMs: number;
  readonly token?: string | undefined;
  /** The endpoint's ICE servers (its TURN relay), asked for before each publish. */
  readonly iceServers?: () => Promise<IceServerConfig[]>;
}

/** What the run as a whole wants to hear about, as it happens (timelines, progress). */
export interface SessionObserver {
  frameSent(atMs: number): void;
  /** A returned frame; `roundTripMs` when its id could be read and matched to a sent frame. */
  frameReceived(session: SyntheticSession, atMs: number, roundTripMs: number | undefined): void;
}

export type SessionStatus = 'pending' | 'established' | 'rejected' | 'failed';

export interface SessionError {
  /** HTTP status of a refused POST; absent for transport errors and failures after the answer. */
  readonly status?: number;
  /** `503 unavailable: ...` from the server's JSON error, or a transport cause. */
  readonly message: string;
}

/** Sent frames remembered for matching; at 60 fps this is over a minute of frames. */
const SEND_RING = 4096;
/** After a refused re-publish (it reached the draining pod, or a full one), the next try waits this long. */
const REPUBLISH_RETRY_MS = 250;

/** A move's new connection, and the old one it replaces once it returns a frame. */
interface PendingMove {
  readonly publisher: WhipPublisher;
  readonly old: WhipPublisher;
  readonly move: { gapMs: number | undefined };
}

/** What the server may say on the control channel that the session acts on. */
interface DrainNotice {
  readonly type: 'drain';
  readonly seconds: number;
}

function drainNotice(text: string): DrainNotice | undefined {
  try {
    const message = JSON.parse(text) as { type?: unknown; seconds?: unknown };
    if (message.type === 'drain' && typeof message.seconds === 'number') return { type: 'drain', seconds: message.seconds };
  } catch {
    // not JSON: nothing to act on
  }
  return undefined;
}

/** `{ error, detail }` JSON from the service, else the text itself, shortened. */
function serverError(status: number, body: string): string {
  try {
    const parsed = JSON.parse(body) as { error?: unknown; detail?: unknown; message?: unknown };
    const code = typeof parsed.error === 'string' ? parsed.error : undefined;
    const detail = typeof parsed.detail === 'string' ? parsed.detail : typeof parsed.message === 'string' ? parsed.message : undefined;
    if (code !== undefined || detail !== undefined) return `${status} ${[code, detail].filter((s) => s !== undefined).join(': ')}`;
  } catch {
    // not JSON: fall through to the text
  }
  const text = body.trim().replace(/\s+/g, ' ').slice(0, 120);
  return text === '' ? String(status) : `${status} ${text}`;
}

/** A short cause for a failed publish: a known transport cause, a timeout, or the innermost message. */
function failureMessage(error: unknown): string {
  const cause = errorCause(error);
  if (cause !== 'other') return cause;
  if (error instanceof Error && error.name === 'TimeoutError') return 'timeout';
  const messages: string[] = [];
  let current: unknown = error;
  for (let depth = 0; depth < 4 && current instanceof Error; depth++) {
    messages.push(current.message);
    current = current.cause;
  }
  return messages.join(': ').slice(0, 160) || 'unknown error';
}

/**
 * One synthetic WHIP publisher: publishes, sends the id-carrying test card at a fixed rate on an
 * absolute timetable (a tick that falls behind by more than a frame skips, as a camera would), and
 * matches every returned frame to the send time of its id.
 */
export class SyntheticSession {
  readonly index: number;
  readonly settings: PublisherSettings;
  status: SessionStatus = 'pending';
  error: SessionError | undefined;
  /** performance.now() when the offer was started (the POST leaves once ICE gathering ends). */
  startedAtMs: number | undefined;
  /** When the 201 answer was applied. */
  answeredAtMs: number | undefined;
  firstFrameAtMs: number | undefined;
  lastFrameAtMs: number | undefined;
  stoppedAtMs: number | undefined;
  sent = 0;
  received = 0;
  /** Returned frames whose id was read and matched a sent frame. */
  withId = 0;
  /** Returned frames whose id could not be read (or matched nothing sent recently). */
  withoutId = 0;
  /** Frames received before sending stopped: the fps window. */
  receivedWhileSending = 0;
  firstReturnedId: number | undefined;
  lastSentId = -1;
  returnedSize: string | undefined;
  deleteStatus: number | undefined;
  /** Peer connection state changes to failed or disconnected while the session ran. */
  connectionProblems = 0;
  /** Drain notices heard on the control channel. */
  drainNotices = 0;
  /**
   * Each move to another pod after a drain notice: the gap in the returned video, from the last
   * frame the draining pod returned to the first the new one did (ms), or undefined for a move that
   * never got a frame back.
   */
  readonly moves: { readonly gapMs: number | undefined; readonly attempts: number }[] = [];
  /** Drain notices after which no new publish succeeded before the old session's end. */
  moveFailures = 0;
  readonly roundTripUs: Histogram = newLatencyHistogram(2);

  readonly #observer: SessionObserver;
  readonly #sendTimes = new Float64Array(SEND_RING);
  readonly #sendIds = new Int32Array(SEND_RING).fill(-1);
  readonly #returned = new Uint8Array(SEND_RING);
  #frames: FrameSource | undefined;
  #publisher: WhipPublisher | undefined;
  #timer: NodeJS.Timeout | undefined;
  #sending = false;
  #closed = false;
  #moving = false;
  /** The new connection of a move, sent to beside the old one until it returns its first frame. */
  #next: PendingMove | undefined;

  constructor(index: number, settings: PublisherSettings, observer: SessionObserver) {
    this.index = index;
    this.settings = settings;
    this.#observer = observer;
  }

  /** POST → first returned frame, in ms (offer creation and ICE gathering included). */
  get setupMs(): number | undefined {
    return this.firstFrameAtMs === undefined || this.startedAtMs === undefined ? undefined : this.firstFrameAtMs - this.startedAtMs;
  }

  /** Returned frames per second between the first returned frame and the end of sending. */
  get returnedFps(): number {
    if (this.firstFrameAtMs === undefined) return 0;
    const end = this.stoppedAtMs ?? this.lastFrameAtMs ?? this.firstFrameAtMs;
    const seconds = (end - this.firstFrameAtMs) / 1000;
    return seconds > 0 ? Math.max(0, this.receivedWhileSending - 1) / seconds : 0;
  }

  /** Sent frames from the first returned id on that never came back (the server's "latest frame wins" drops included). */
  get lost(): number {
    if (this.firstReturnedId === undefined) return 0;
    return Math.max(0, this.lastSentId - this.firstReturnedId + 1 - this.withId);
  }

  /** Publishes and starts sending; never throws: a refusal or failure is kept in `status` and `error`. */
  async start(): Promise<void> {
    const { settings } = this;
    this.startedAtMs = performance.now();
    try {
      this.#frames = new FrameSource(settings.width, settings.height);
      const publisher = await this.#publish();
      this.#publisher = publisher;
      this.answeredAtMs = performance.now();
      this.status = 'established';
      if (this.#closed) return;
      this.#listen(publisher);
      this.#startSending();
    } catch (error) {
      if (error instanceof WhipHttpError) {
        this.status = error.status === 503 ? 'rejected' : 'failed';
        this.error = { status: error.status, message: serverError(error.status, error.body) };
      } else {
        this.status = 'failed';
        this.error = { message: failureMessage(error) };
      }
    }
  }

  /** A new publish of this session's stream, with the control channel the drain notice comes on. */
  async #publish(): Promise<WhipPublisher> {
    const { settings } = this;
    const iceServers = (await settings.iceServers?.()) ?? [];
    return WhipPublisher.publish(settings.whipUrl, {
      timeoutMs: settings.timeoutMs,
      controlChannel: true,
      iceServers,
      ...(settings.token === undefined ? {} : { token: settings.token }),
    });
  }

  /** Frames, state and control messages of `publisher`, while it is the session's current one. */
  #listen(publisher: WhipPublisher): void {
    const current = (): boolean => this.#publisher === publisher;
    publisher.peer.on('frame', (frame, receivedAtMs) => {
      if (this.#next?.publisher === publisher) this.#switchTo(this.#next, receivedAtMs);
      if (current()) this.#onFrame(frame, receivedAtMs);
    });
    publisher.peer.on('state', (state) => {
      if (current() && (state === 'failed' || state === 'disconnected')) this.connectionProblems++;
    });
    publisher.peer.on('message', (_label, text) => {
      const notice = drainNotice(text);
      if (!notice || !current()) return;
      this.drainNotices++;
      void this.#move(publisher, performance.now() + notice.seconds * 1000);
    });
  }

  /**
   * The pod is draining: publish again (the balancer sends it to another pod; a refusal, from the
   * draining pod itself or a full one, is retried until the drain's deadline), send the frames to
   * both connections until the new one returns its first, then switch to it and DELETE the old
   * session: make before break, as the demo page does. The gap is from the old connection's last
   * returned frame to the new one's first.
   */
  async #move(old: WhipPublisher, deadlineMs: number): Promise<void> {
    if (this.#moving) return;
    this.#moving = true;
    let attempts = 0;
    try {
      while (!this.#closed && performance.now() < deadlineMs) {
        attempts++;
        let publisher: WhipPublisher;
        try {
          publisher = await this.#publish();
        } catch {
          await new Promise((resolve) => setTimeout(resolve, REPUBLISH_RETRY_MS));
          continue;
        }
        if (this.#closed || this.#publisher !== old) {
          publisher.abandon();
          return;
        }
        const move: { gapMs: number | undefined; attempts: number } = { gapMs: undefined, attempts };
        this.moves.push(move);
        this.#next = { publisher, old, move };
        this.#listen(publisher);
        return;
      }
      if (!this.#closed) this.moveFailures++;
    } finally {
      this.#moving = false;
    }
  }

  /** The new connection returned its first frame: it is the session's from now on, and the old one ends. */
  #switchTo(next: PendingMove, receivedAtMs: number): void {
    this.#next = undefined;
    next.move.gapMs = this.lastFrameAtMs === undefined ? undefined : Math.max(0, receivedAtMs - this.lastFrameAtMs);
    this.#publisher = next.publisher;
    // The draining pod would end it anyway.
    next.old.close().catch(() => undefined);
  }

  stopSending(): void {
    if (!this.#sending) return;
    this.#sending = false;
    this.stoppedAtMs = performance.now();
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  /** DELETEs the session and closes the connection (idempotent); a failed DELETE is kept as status 0. */
  async close(): Promise<void> {
    this.stopSending();
    if (this.#closed) return;
    this.#closed = true;
    // A move still waiting for its first frame: end the new session too.
    const pending = this.#next;
    this.#next = undefined;
    if (pending) await pending.publisher.close().catch(() => 0);
    const publisher = this.#publisher;
    if (publisher === undefined) return;
    try {
      this.deleteStatus = await publisher.close();
    } catch {
      this.deleteStatus = 0;
    }
  }

  #startSending(): void {
    const periodMs = 1000 / this.settings.fps;
    const origin = performance.now();
    let tick = 0;
    this.#sending = true;
    const send = (): void => {
      if (!this.#sending) return;
      const now = performance.now();
      // Behind by more than a frame (a busy event loop): skip to the current slot rather than burst.
      const due = Math.floor((now - origin) / periodMs);
      if (due > tick) tick = due;
      this.#sendFrame(now);
      tick++;
      this.#timer = setTimeout(send, Math.max(0, origin + tick * periodMs - performance.now()));
    };
    send();
  }

  #sendFrame(nowMs: number): void {
    const publisher = this.#publisher;
    const frames = this.#frames;
    if (publisher === undefined || frames === undefined) return;
    const id = (this.lastSentId + 1) % (MAX_FRAME_ID + 1);
    const slot = id % SEND_RING;
    const frame = frames.frame(id);
    this.#sendIds[slot] = id;
    this.#returned[slot] = 0;
    this.#sendTimes[slot] = performance.now();
    publisher.sendFrame(frame);
    // A move in progress: the new connection gets the same frames until it returns one.
    this.#next?.publisher.sendFrame(frame);
    this.lastSentId = id;
    this.sent++;
    this.#observer.frameSent(nowMs);
  }

  #onFrame(frame: I420Frame, receivedAtMs: number): void {
    if (this.#closed) return;
    this.received++;
    if (this.#sending) this.receivedWhileSending++;
    this.firstFrameAtMs ??= receivedAtMs;
    this.lastFrameAtMs = receivedAtMs;
    this.returnedSize = `${frame.width}x${frame.height}`;
    const id = readFrameId(frame.data, frame.width, frame.height, this.settings.width, this.settings.height, this.#frames?.geometry);
    let roundTripMs: number | undefined;
    if (id !== undefined) {
      const slot = id % SEND_RING;
      if (this.#sendIds[slot] === id && this.#returned[slot] === 0) {
        this.#returned[slot] = 1;
        roundTripMs = receivedAtMs - (this.#sendTimes[slot] ?? receivedAtMs);
        this.firstReturnedId ??= id;
        this.withId++;
        this.roundTripUs.recordValue(Math.max(1, Math.round(roundTripMs * 1000)));
      }
    }
    if (roundTripMs === undefined) this.withoutId++;
    this.#observer.frameReceived(this, receivedAtMs, roundTripMs);
  }
}
