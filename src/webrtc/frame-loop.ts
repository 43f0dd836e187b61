/**
 * Latest frame wins: at most one frame is being processed and at most one waits. A frame that
 * arrives while another waits replaces it, and the replaced one is reported as dropped, so falling
 * behind costs frames, never latency (no queue builds up).
 */
export interface FrameLoopHandlers<F> {
  /** Processes and delivers one frame. A rejection is reported to `onError`; the loop goes on. */
  readonly run: (frame: F) => Promise<void>;
  readonly onDropped: (frame: F) => void;
  readonly onError: (err: unknown, frame: F) => void;
}

export class LatestFrameLoop<F> {
  readonly #handlers: FrameLoopHandlers<F>;
  #pending: F | undefined;
  #running: Promise<void> | undefined;
  #stopped = false;

  constructor(handlers: FrameLoopHandlers<F>) {
    this.#handlers = handlers;
  }

  get busy(): boolean {
    return this.#running !== undefined;
  }

  push(frame: F): void {
    if (this.#stopped) return;
    if (this.#running === undefined) {
      this.#running = this.#drain(frame);
      return;
    }
    if (this.#pending !== undefined) this.#handlers.onDropped(this.#pending);
    this.#pending = frame;
  }

  /** Stops taking frames; resolves when the frame in progress (if any) has finished. */
  async stop(): Promise<void> {
    this.#stopped = true;
    this.#pending = undefined;
    await this.#running;
  }

  async #drain(first: F): Promise<void> {
    let frame: F | undefined = first;
    while (frame !== undefined) {
      try {
        await this.#handlers.run(frame);
      } catch (err) {
        this.#handlers.onError(err, frame);
      }
      frame = this.#pending;
      this.#pending = undefined;
    }
    this.#running = undefined;
  }
}
