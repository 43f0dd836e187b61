/**
 * Drop early, not late. libwebrtc's VP8 encoder drops the frames it cannot keep up with (its queue
 * holds one frame; the rate controller drops more when the bandwidth is short), and a frame it drops
 * has already cost its effect, its copies and the binding's copy into libwebrtc. The pacer watches
 * how many of the frames a session handed over were encoded (the connection's `framesEncoded`,
 * sampled once per interval) and, while the encoder keeps less than `keepRatio` of them, admits
 * frames only at the rate it did encode (a token bucket), so that the rest are skipped at arrival,
 * before anything beyond their decode. While the encoder keeps up, the rate steps back up until
 * every frame is admitted again. Pure logic: the session feeds it times and counters.
 */
export interface EncoderPacerOptions {
  /** Below this share of handed frames encoded, the encoder counts as behind. */
  readonly keepRatio: number;
  /** The admitted rate never goes below this (frames per second). */
  readonly minFps: number;
  /** Each interval the encoder keeps up, the admitted rate grows by this factor. */
  readonly stepUp: number;
  /** Intervals with fewer handed frames than this say nothing (start, pauses). */
  readonly minFramesPerInterval: number;
}

export const DEFAULT_ENCODER_PACER: EncoderPacerOptions = { keepRatio: 0.9, minFps: 5, stepUp: 1.15, minFramesPerInterval: 10 };

/** Above this the pacer is off: nothing a publisher sends comes close. */
const UNPACED_FPS = 120;

export class EncoderPacer {
  readonly #options: EncoderPacerOptions;
  /** Admitted frames per second; UNPACED_FPS or more: every frame. */
  #fps = UNPACED_FPS;
  #tokens = 1;
  #lastAdmitMs: number | undefined;
  #handed = 0;
  #lastEncoded: number | undefined;

  constructor(options: EncoderPacerOptions = DEFAULT_ENCODER_PACER) {
    this.#options = options;
  }

  /** The admitted rate in frames per second, or undefined while every frame is admitted. */
  get fps(): number | undefined {
    return this.#fps >= UNPACED_FPS ? undefined : this.#fps;
  }

  /** A frame arrived at `nowMs`: true to process it, false to skip it now. */
  admit(nowMs: number): boolean {
    if (this.#fps >= UNPACED_FPS) return true;
    const elapsedMs = this.#lastAdmitMs === undefined ? 0 : nowMs - this.#lastAdmitMs;
    // Credit is banked up to two frames: enough to keep the fractions between arrivals, too little
    // for a burst after a pause.
    this.#tokens = Math.min(2, this.#tokens + (elapsedMs * this.#fps) / 1000);
    this.#lastAdmitMs = nowMs;
    if (this.#tokens < 1) return false;
    this.#tokens -= 1;
    return true;
  }

  /** A processed frame was handed to the encoder. */
  handed(): void {
    this.#handed++;
  }

  /** Once per interval: the connection's cumulative frames encoded, and the interval's length. */
  sample(framesEncoded: number, intervalMs: number): void {
    const handed = this.#handed;
    const encoded = this.#lastEncoded === undefined ? undefined : framesEncoded - this.#lastEncoded;
    this.#lastEncoded = framesEncoded;
    this.#handed = 0;
    // A connection that never encoded has no encoder to pace for (a sendonly publisher: its output
    // goes to WHEP viewers only).
    if (framesEncoded === 0) return;
    if (encoded === undefined || handed < this.#options.minFramesPerInterval || intervalMs <= 0) return;
    if (encoded < handed * this.#options.keepRatio) {
      // Hand over what the encoder managed, a little less, so that its queue drains.
      const encodedFps = (encoded * 1000) / intervalMs;
      this.#fps = Math.max(this.#options.minFps, Math.min(this.#fps, encodedFps * 0.95));
    } else if (this.#fps < UNPACED_FPS) {
      this.#fps *= this.#options.stepUp;
    }
  }
}
