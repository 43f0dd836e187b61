import type { Histogram } from 'hdr-histogram-js';
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
      const publisher = await WhipPublisher.publish(settings.whipUrl, {
        timeoutMs: settings.timeoutMs,
        ...(settings.token === undefined ? {} : { token: settings.token }),
      });
      this.#publisher = publisher;
      this.answeredAtMs = performance.now();
      this.status = 'established';
      if (this.#closed) return;
      publisher.peer.on('frame', (frame, receivedAtMs) => this.#onFrame(frame, receivedAtMs));
      publisher.peer.on('state', (state) => {
        if (state === 'failed' || state === 'disconnected') this.connectionProblems++;
      });
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
