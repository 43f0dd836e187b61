import type { FastifyBaseLogger } from 'fastify';
import { isSegmentationEffect, type EffectJob } from '../effects/catalog.ts';
import type { EffectEngine } from '../engine/engine-types.ts';
import { SessionSegmentation, type Backdrop, type SegmentationSettings } from '../segmentation/session-segmentation.ts';
import { HttpError, InvalidEffectError, isControlErrorCode, OverloadedError, TooCostlyError, type ControlErrorCode } from '../errors.ts';
import { frameBytes, type FrameLayout } from '../frames/layout.ts';
import type { FrameDropReason, Metrics, SessionMetricOutcome } from '../metrics.ts';
import type { RollingQuantile } from '../stats/rolling-quantile.ts';
import { controlReplyText } from './control.ts';
import { SafeEmitter } from './events.ts';
import { LatestFrameLoop } from './frame-loop.ts';
import { TokenBucket } from './token-bucket.ts';
import { parseJob } from './job.ts';
import type { AudioOutput, Peer, VideoOutput } from './peer.ts';
import type { I420Frame, PeerState } from './peer-types.ts';
import type { AudioEffect } from '../audio/pcm.ts';
import type { Caption, CaptionPipeline, CaptionRequest } from '../speech/caption-types.ts';
import type { AudioPath, AudioPathStats } from './audio-path.ts';
import { parseAudioEffect, parseSubtitles, type SubtitlesMode } from './audio-request.ts';
import type { SessionMedia, SubtitleRenderer } from './session-media.ts';

/**
 * connect_timeout: not connected within SESSION_CONNECT_SECONDS; frame_too_large: nothing but frames
 * over MAX_FRAME_PIXELS for SESSION_IDLE_SECONDS.
 */
export type SessionOutcome = Exclude<SessionMetricOutcome, 'rejected'>;

/** The data channel a publisher may open to change the effect (same JSON as PATCH /whip/{id}). */
export const CONTROL_CHANNEL = 'control';

export interface SessionDeps {
  readonly engine: Pick<EffectEngine, 'processFrame'> & Partial<Pick<EffectEngine, 'updateMask' | 'predictFrameSeconds'>>;
  readonly metrics: Metrics;
  /** The pod's frame latency window (SLO-aware admission reads its p95). */
  readonly frameWindow: RollingQuantile;
  readonly log: FastifyBaseLogger;
  readonly idleSeconds: number;
  readonly maxIters: number;
  /**
   * MAX_FRAME_PIXELS: a larger frame is dropped on arrival (too_large), the publisher told once per
   * size; a session that sends nothing else for `idleSeconds` ends (frame_too_large). Default: no cap.
   */
  readonly maxFramePixels?: number;
  /**
   * MAX_FRAME_EFFECT_MS: the most compute one frame's effect may be predicted to take at the
   * session's frame size; a costlier effect is refused when chosen (422 too_costly) and its frames
   * are dropped (too_costly) before they reach the engine. Default: no cap.
   */
  readonly maxFrameEffectMs?: number;
  /** EFFECT_CHANGES_PER_SECOND (burst twice that): PATCHes and control messages, malformed ones too. Default: no limit. */
  readonly effectChangesPerSecond?: number;
  /** CONTROL_MESSAGE_MAX_BYTES: a larger control message is refused before it is parsed. Default: no cap. */
  readonly controlMessageMaxBytes?: number;
  /** BACKDROP_UPLOADS_PER_MINUTE (a burst of that many). Default: no limit. */
  readonly backdropUploadsPerMinute?: number;
  /** Segmentation effects: mask smoothing and the longest mask reuse (defaults: src/segmentation/). */
  readonly segmentation?: SegmentationSettings;
}

export type SessionEvents = { closed: [outcome: SessionOutcome] };

export interface SessionStats {
  readonly id: string;
  readonly state: PeerState;
  readonly effect: string;
  readonly params: Readonly<Record<string, number>>;
  readonly iters: number;
  readonly ageSeconds: number;
  readonly framesReceived: number;
  readonly framesProcessed: number;
  readonly framesDropped: number;
  /** p95 / last of the server frame latency over the session's last 128 frames. */
  readonly frameLatencyP95Ms: number | undefined;
  readonly frameLatencyLastMs: number | undefined;
  readonly inboundFramesPerSecond: number | undefined;
  readonly outboundFramesPerSecond: number | undefined;
  /** Frames libwebrtc encoded for this connection (what it sent back; the encoder drops frames it cannot keep up with). */
  readonly framesEncoded: number;
  readonly roundTripSeconds: number | undefined;
  readonly viewers: number;
  /** The publisher's audio (absent: it sends none). */
  readonly audio: AudioPathStats | undefined;
  readonly captions: CaptionRequest | undefined;
  readonly subtitles: SubtitlesMode;
}

/** A change request's answer: the video job and the audio choices now in force. */
export interface SessionChoices {
  readonly effect: EffectJob['effect'];
  readonly params: EffectJob['params'];
  readonly iters: number;
  readonly audio?: AudioEffect;
  readonly subtitles?: SubtitlesMode;
}

interface ReceivedFrame {
  readonly frame: I420Frame;
  readonly receivedAtMs: number;
}

const LATENCY_RING = 128;
/** A publisher over its control-message budget hears so at most once in this long (its excess is dropped unanswered). */
const LIMIT_NOTICE_INTERVAL_MS = 1000;

/** A decoded frame whose byte count does not match its size (the binding's contract broken). */
class InvalidFrameError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'InvalidFrameError';
  }
}

/**
 * One WHIP publisher: the frame loop that sends every frame its peer connection receives through the
 * engine into the processed output (sent back on the same connection and to WHEP viewers). The
 * registry makes the peer and the output, and closes them when the session ends.
 */
export class Session extends SafeEmitter<SessionEvents> {
  readonly id: string;
  readonly output: VideoOutput;
  readonly #peer: Peer;
  readonly #deps: SessionDeps;
  readonly #loop: LatestFrameLoop<ReceivedFrame>;
  readonly #createdAtMs = performance.now();
  readonly #latenciesMs = new Float64Array(LATENCY_RING);
  /** Its WHEP viewers, as the registry adds and removes them (counted in stats). */
  readonly #viewers = new Set<{ readonly id: string }>();
  #job: EffectJob;
  #etag: string;
  #scratch = new Uint8Array(0);
  /** Made with the first segmentation effect (mask state, backdrop); dropped with the session. */
  #segmentation: SessionSegmentation | undefined;
  #lastActivityMs = performance.now();
  #framesReceived = 0;
  #framesProcessed = 0;
  #framesDropped = 0;
  #idleTimer: NodeJS.Timeout;
  #closed = false;
  /** When the last frame over MAX_FRAME_PIXELS arrived (-Infinity: none), and the size the publisher was last told about. */
  #lastOversizeMs = Number.NEGATIVE_INFINITY;
  #toldTooLarge: string | undefined;
  #lastLimitNoticeMs = Number.NEGATIVE_INFINITY;
  /** The layout of the last frame received, new only when the size changes (what effects are priced at). */
  #frameLayout: FrameLayout | undefined;
  /** The job and layout the control channel was last told cost too much (told once each). */
  #toldTooCostly: { readonly job: EffectJob; readonly layout: FrameLayout } | undefined;
  readonly #changes: TokenBucket | undefined;
  /** When the draining pod ends this session (performance.now()); undefined while the pod is not draining. */
  #drainDeadlineMs: number | undefined;
  readonly #backdrops: TokenBucket | undefined;
  readonly #audio: AudioPath | undefined;
  readonly #audioOutput: AudioOutput | undefined;
  readonly #captions: SessionMedia['captions'];
  readonly #overlay: SubtitleRenderer | undefined;
  #subtitles: SubtitlesMode;
  #unsubscribeCaptions: (() => void) | undefined;

  constructor(id: string, peer: Peer, output: VideoOutput, job: EffectJob, etag: string, deps: SessionDeps, media: SessionMedia = {}) {
    super((err, event) => deps.log.error({ err, event, sessionId: id }, 'session listener failed'));
    this.id = id;
    this.#peer = peer;
    this.output = output;
    this.#job = job;
    this.#etag = etag;
    this.#deps = deps;
    this.#changes = deps.effectChangesPerSecond === undefined ? undefined : new TokenBucket(deps.effectChangesPerSecond, 2 * deps.effectChangesPerSecond);
    this.#backdrops = deps.backdropUploadsPerMinute === undefined ? undefined : new TokenBucket(deps.backdropUploadsPerMinute / 60, deps.backdropUploadsPerMinute);
    this.#loop = new LatestFrameLoop<ReceivedFrame>({
      run: (f) => this.#process(f),
      onDropped: () => this.#dropped('superseded'),
      onError: (err) => {
        if (err instanceof OverloadedError) return this.#dropped('overloaded');
        this.#dropped(err instanceof InvalidFrameError ? 'invalid' : 'failed');
        if (!(err instanceof InvalidFrameError)) deps.log.warn({ err, sessionId: id }, 'frame processing failed');
      },
    });
    peer.on('frame', (frame, receivedAtMs) => {
      this.#framesReceived++;
      if (deps.maxFramePixels !== undefined && frame.width * frame.height > deps.maxFramePixels) return this.#frameTooLarge(frame, receivedAtMs);
      this.#lastActivityMs = receivedAtMs;
      let layout = this.#frameLayout;
      if (layout?.width !== frame.width || layout.height !== frame.height) layout = this.#frameLayout = { format: 'i420', width: frame.width, height: frame.height };
      // Priced before anything but the decode is spent on it; the estimate follows the workers' pace.
      const overMs = this.#frameCostOver(this.#job, layout);
      if (overMs !== undefined) return this.#tooCostly(layout, overMs);
      this.#loop.push({ frame, receivedAtMs });
    });
    this.#audio = media.audio;
    this.#audioOutput = media.audioOutput;
    this.#captions = media.captions;
    this.#overlay = media.overlay;
    this.#subtitles = media.subtitles ?? 'off';
    const audio = media.audio;
    if (audio) peer.on('audio', (frame) => audio.push(frame));
    this.#unsubscribeCaptions = media.captions?.pipeline.subscribe((caption) => this.#caption(caption));
    peer.on('state', (state) => {
      deps.log.debug({ sessionId: id, state }, 'session connection state');
      // Closing from inside a libwebrtc callback is not safe; leave the callback first.
      if (state === 'failed') setImmediate(() => this.close('failed'));
    });
    // The peer keeps at most one channel, labelled control (the registry says so): any other is closed.
    peer.on('message', (label, data) => {
      if (label === CONTROL_CHANNEL) this.#control(data);
    });
    // A publisher that connects while the pod drains hears the notice as soon as it can.
    peer.on('channelopen', (label) => {
      if (label === CONTROL_CHANNEL) this.#sendDrainNotice();
    });
    const tickMs = Math.min(1000, deps.idleSeconds * 500);
    this.#idleTimer = setInterval(() => {
      if (performance.now() - this.#lastActivityMs <= deps.idleSeconds * 1000) return;
      // No usable frame for that long: if frames kept coming, they were all too large.
      this.close(this.#lastOversizeMs > this.#lastActivityMs ? 'frame_too_large' : 'idle');
    }, tickMs);
    this.#idleTimer.unref();
  }

  get job(): EffectJob {
    return this.#job;
  }

  get etag(): string {
    return this.#etag;
  }

  get closed(): boolean {
    return this.#closed;
  }

  get peer(): Peer {
    return this.#peer;
  }

  /** The processed audio its publisher and viewers hear (absent: the offer took no audio back). */
  get audioOutput(): AudioOutput | undefined {
    return this.#audioOutput;
  }

  /** The session's captions (captions= or translate= in its WHIP query), for SSE and WebVTT. */
  get captions(): CaptionPipeline | undefined {
    return this.#captions?.pipeline;
  }

  /**
   * Applies a change request (`{effect?, params?, iters?, audio?, subtitles?}`); throws 422
   * (InvalidEffectError, too_costly), 429 over EFFECT_CHANGES_PER_SECOND.
   */
  changeEffect(request: Readonly<Record<string, unknown>>): SessionChoices {
    if (this.#changes && !this.#changes.take()) {
      this.#deps.metrics.rejected.inc({ reason: 'rate_limited' });
      throw new HttpError('rate_limited', `at most ${this.#deps.effectChangesPerSecond} effect changes a second (EFFECT_CHANGES_PER_SECOND)`, {
        'retry-after': String(this.#changes.retryAfterSeconds()),
      });
    }
    return this.#applyChange(request);
  }

  /**
   * Takes one of the session's BACKDROP_UPLOADS_PER_MINUTE; undefined when taken, else the seconds
   * until the next one (the upload is refused).
   */
  takeBackdropUpload(): number | undefined {
    if (!this.#backdrops || this.#backdrops.take()) return undefined;
    return this.#backdrops.retryAfterSeconds();
  }

  /** Everything in the request is checked before anything of it is applied. */
  #applyChange(request: Readonly<Record<string, unknown>>): SessionChoices {
    if (request.captions !== undefined || request.translate !== undefined) {
      throw new InvalidEffectError('captions and translate are chosen when the session starts (the WHIP query); start a new session to change them');
    }
    if (request.audio !== undefined && !this.#audio) throw new InvalidEffectError('this session has no audio: its offer sends none');
    const audioEffect = this.#audio ? parseAudioEffect(request.audio, this.#audio.effect) : undefined;
    const subtitles = parseSubtitles(request.subtitles, this.#subtitles);
    if (subtitles === 'burn' && (!this.#captions || !this.#overlay)) throw new InvalidEffectError('subtitles "burn" needs captions, chosen when the session starts (captions=<lang>)');
    const job = parseJob(request, this.#deps.maxIters, this.#job);
    const layout = this.#frameLayout;
    const overMs = layout && this.#frameCostOver(job, layout);
    if (layout && overMs !== undefined) {
      this.#deps.metrics.rejected.inc({ reason: 'cost' });
      throw new TooCostlyError(this.#tooCostlyDetail(job, layout, overMs));
    }
    this.#job = job;
    if (audioEffect !== undefined) this.#audio?.setEffect(audioEffect);
    if (subtitles !== this.#subtitles) {
      this.#subtitles = subtitles;
      if (subtitles === 'burn') this.#renderSubtitle(this.#captions?.pipeline.latest());
    }
    this.#deps.log.info(
      { sessionId: this.id, effect: job.effect, params: job.params, iters: job.iters, audio: audioEffect, subtitles },
      'session effect changed',
    );
    return this.#choices();
  }

  #choices(): SessionChoices {
    const job = this.#job;
    return {
      effect: job.effect,
      params: job.params,
      iters: job.iters,
      ...(this.#audio ? { audio: this.#audio.effect } : {}),
      ...(this.#captions ? { subtitles: this.#subtitles } : {}),
    };
  }

  /** A caption from the pipeline: to the publisher on the control channel, and onto the video when burnt in. */
  #caption(caption: Caption): void {
    if (this.#closed) return;
    const { type, lang, text, final, startMs, endMs, translation } = caption;
    this.#peer.sendMessage(CONTROL_CHANNEL, controlReplyText({ type, lang, text, final, startMs, endMs, ...(translation ? { translation } : {}) }));
    if (this.#subtitles === 'burn') this.#renderSubtitle(caption);
  }

  #renderSubtitle(caption: Caption | undefined): void {
    this.#overlay?.update(caption).catch((err: unknown) => this.#deps.log.warn({ err, sessionId: this.id }, 'subtitle rendering failed'));
  }

  /** The image background-replace puts behind the person (undefined: back to the colour). */
  setBackdrop(image: Backdrop | undefined): void {
    if (image === undefined && !this.#segmentation) return;
    this.#segmentationState().setBackdrop(image);
  }

  #segmentationState(): SessionSegmentation {
    this.#segmentation ??= new SessionSegmentation(this.#deps.segmentation);
    return this.#segmentation;
  }

  setEtag(etag: string): void {
    this.#etag = etag;
  }

  addViewer(viewer: { readonly id: string }): void {
    this.#viewers.add(viewer);
  }

  removeViewer(viewer: { readonly id: string }): void {
    this.#viewers.delete(viewer);
  }

  get viewerCount(): number {
    return this.#viewers.size;
  }

  async stats(): Promise<SessionStats> {
    const peer = await this.#peer.stats();
    const n = Math.min(this.#framesProcessed, LATENCY_RING);
    const recent = Array.from(this.#latenciesMs.subarray(0, n)).sort((a, b) => a - b);
    const last = this.#framesProcessed > 0 ? this.#latenciesMs[(this.#framesProcessed - 1) % LATENCY_RING] : undefined;
    return {
      id: this.id,
      state: this.#peer.state,
      effect: this.#job.effect,
      params: this.#job.params,
      iters: this.#job.iters,
      ageSeconds: (performance.now() - this.#createdAtMs) / 1000,
      framesReceived: this.#framesReceived,
      framesProcessed: this.#framesProcessed,
      framesDropped: this.#framesDropped,
      frameLatencyP95Ms: n > 0 ? recent[Math.min(n - 1, Math.ceil(0.95 * n) - 1)] : undefined,
      frameLatencyLastMs: last,
      inboundFramesPerSecond: peer.inboundFramesPerSecond,
      outboundFramesPerSecond: peer.outboundFramesPerSecond,
      framesEncoded: peer.framesEncoded,
      roundTripSeconds: peer.roundTripSeconds,
      viewers: this.#viewers.size,
      audio: this.#audio?.stats(),
      captions: this.#captions?.request,
      subtitles: this.#subtitles,
    };
  }

  /**
   * Ends the session; the frame in progress is not sent. Its peer, output and viewers are the
   * registry's, which made them: it closes them on 'closed'. Idempotent.
   */
  close(outcome: SessionOutcome): void {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#idleTimer);
    this.#unsubscribeCaptions?.();
    this.#unsubscribeCaptions = undefined;
    void this.#loop.stop();
    this.#segmentation = undefined;
    this.#deps.log.info(
      { sessionId: this.id, outcome, framesReceived: this.#framesReceived, framesProcessed: this.#framesProcessed, framesDropped: this.#framesDropped },
      'session ended',
    );
    this.safeEmit('closed', outcome);
    this.removeAllListeners();
  }

  async #process({ frame, receivedAtMs }: ReceivedFrame): Promise<void> {
    const layout: FrameLayout = { format: 'i420', width: frame.width, height: frame.height };
    const bytes = frameBytes(layout);
    if (frame.data.length < bytes) throw new InvalidFrameError(`frame of ${frame.width}x${frame.height} has ${frame.data.length} bytes, expected ${bytes}`);
    const segmentation = isSegmentationEffect(this.#job.effect) ? this.#segmentationState() : undefined;
    // The model runs in its own job beside the frames (one at a time); this frame uses the last mask.
    const maskTask = segmentation && this.#deps.engine.updateMask ? segmentation.maskJob(receivedAtMs) : undefined;
    if (segmentation && maskTask) {
      this.#deps.engine
        .updateMask!(layout, this.#job, frame.data, maskTask)
        .catch((err: unknown) => {
          if (!(err instanceof OverloadedError)) this.#deps.log.warn({ err, sessionId: this.id }, 'mask job failed');
        })
        .finally(() => segmentation.maskJobDone());
    }
    // The decoded frame's buffer is the binding's, new for every frame and ours alone (the mask job
    // above copied what it needs already): it moves to the worker instead of being copied here.
    // Frames take the media lane: their own workers, and ahead of every /process job.
    const extras = { movePixels: true, lane: 'media' as const, ...(segmentation ? { segmentation: segmentation.task(receivedAtMs) } : {}) };
    await this.#deps.engine.processFrame(layout, this.#job, frame.data, (processed, timings) => {
      if (this.#closed) return;
      segmentation?.observe(timings.maskReused === true, (performance.now() - receivedAtMs) / 1000);
      // The result comes back in shared memory, which libwebrtc refuses, so one plain buffer per
      // session carries it into onFrame (where libwebrtc copies it into its own frame).
      if (this.#scratch.length !== bytes) this.#scratch = new Uint8Array(bytes);
      this.#scratch.set(processed.subarray(0, bytes));
      if (this.#subtitles === 'burn') this.#overlay?.blendI420(this.#scratch, frame.width, frame.height);
      const latencySeconds = (performance.now() - receivedAtMs) / 1000;
      this.output.send({ width: frame.width, height: frame.height, data: this.#scratch });
      this.#latenciesMs[this.#framesProcessed % LATENCY_RING] = latencySeconds * 1000;
      this.#framesProcessed++;
      this.#deps.metrics.frameLatency.observe(latencySeconds);
      this.#deps.frameWindow.recordSeconds(latencySeconds);
    }, extras);
  }

  /**
   * Drops a frame over MAX_FRAME_PIXELS before anything but its decode is spent on it, telling the
   * publisher once per size: a camera that changes resolution (or a sender scaled down with
   * scaleResolutionDownBy) goes on without renegotiating. Only a session that sends nothing else
   * for SESSION_IDLE_SECONDS ends (the idle check, as frame_too_large).
   */
  #frameTooLarge(frame: { width: number; height: number }, receivedAtMs: number): void {
    this.#lastOversizeMs = receivedAtMs;
    this.#dropped('too_large');
    const size = `${frame.width}x${frame.height}`;
    if (this.#toldTooLarge === size) return;
    this.#toldTooLarge = size;
    const detail = `a ${size} frame is over MAX_FRAME_PIXELS (${this.#deps.maxFramePixels} pixels): it is dropped; send a smaller resolution (e.g. RTCRtpSender.setParameters with scaleResolutionDownBy)`;
    this.#tell('payload_too_large', detail);
    this.#deps.log.warn({ sessionId: this.id, width: frame.width, height: frame.height }, 'session frames too large');
  }

  /** The predicted milliseconds of `job` on one frame of `layout` when over MAX_FRAME_EFFECT_MS, else undefined. */
  #frameCostOver(job: EffectJob, layout: FrameLayout): number | undefined {
    const capMs = this.#deps.maxFrameEffectMs;
    const engine = this.#deps.engine;
    if (capMs === undefined || capMs <= 0 || engine.predictFrameSeconds === undefined) return undefined;
    const ms = engine.predictFrameSeconds(layout, job) * 1000;
    return ms > capMs ? ms : undefined;
  }

  #tooCostlyDetail(job: EffectJob, layout: FrameLayout, predictedMs: number): string {
    return `${job.effect} x ${job.iters} would take about ${predictedMs.toFixed(1)} ms of compute on each ${layout.width}x${layout.height} frame; the limit is ${this.#deps.maxFrameEffectMs} ms (MAX_FRAME_EFFECT_MS): choose fewer passes, a smaller radius or a smaller resolution`;
  }

  /** Drops a frame the session's effect costs too much for, telling the publisher once per job and size. */
  #tooCostly(layout: FrameLayout, predictedMs: number): void {
    this.#dropped('too_costly');
    const told = this.#toldTooCostly;
    if (told?.job === this.#job && told.layout === layout) return;
    this.#toldTooCostly = { job: this.#job, layout };
    this.#tell('too_costly', this.#tooCostlyDetail(this.#job, layout, predictedMs));
    this.#deps.log.warn({ sessionId: this.id, effect: this.#job.effect, iters: this.#job.iters, width: layout.width, height: layout.height }, 'session effect too costly for its frames');
  }

  #dropped(reason: FrameDropReason): void {
    this.#framesDropped++;
    this.#deps.metrics.framesDropped.inc({ reason });
  }

  /**
   * Tells the publisher this pod is draining: `{type: "drain", seconds, detail}` on the control
   * channel (a publisher without one hears nothing and is closed at the end of the drain).
   */
  announceDrain(seconds: number): void {
    if (this.#closed) return;
    this.#drainDeadlineMs = performance.now() + seconds * 1000;
    this.#sendDrainNotice();
  }

  /** The drain notice, with the seconds left; also when the control channel opens after the announcement. */
  #sendDrainNotice(): void {
    if (this.#drainDeadlineMs === undefined || this.#closed) return;
    const seconds = Math.max(0, Math.ceil((this.#drainDeadlineMs - performance.now()) / 1000));
    const detail = `this pod is shutting down: publish again (POST the WHIP endpoint) to move to another pod, then DELETE this session; it ends within ${seconds} s`;
    this.#peer.sendMessage(CONTROL_CHANNEL, controlReplyText({ type: 'drain', seconds, detail }));
  }

  /** An error on the control channel, `{type: "error", error: <catalog code>, detail}`. */
  #tell(error: ControlErrorCode, detail: string): void {
    this.#peer.sendMessage(CONTROL_CHANNEL, controlReplyText({ type: 'error', error, detail }));
  }

  /**
   * One message on the control channel. Every message takes a token from the session's effect-change
   * budget before anything else, malformed ones too, and only those that got one are answered: a
   * publisher cannot make this thread parse or reply faster than EFFECT_CHANGES_PER_SECOND. Over
   * budget it hears so at most once a second; a message over CONTROL_MESSAGE_MAX_BYTES is refused
   * unparsed.
   */
  #control(data: string | Uint8Array): void {
    if (this.#changes && !this.#changes.take()) {
      this.#deps.metrics.rejected.inc({ reason: 'rate_limited' });
      const nowMs = performance.now();
      if (nowMs - this.#lastLimitNoticeMs < LIMIT_NOTICE_INTERVAL_MS) return;
      this.#lastLimitNoticeMs = nowMs;
      return this.#tell('rate_limited', `at most ${this.#deps.effectChangesPerSecond} control messages a second (EFFECT_CHANGES_PER_SECOND); the others are dropped unanswered`);
    }
    const maxBytes = this.#deps.controlMessageMaxBytes;
    const bytes = typeof data === 'string' ? Buffer.byteLength(data) : data.byteLength;
    if (maxBytes !== undefined && bytes > maxBytes) {
      this.#deps.metrics.rejected.inc({ reason: 'data_channel' });
      return this.#tell('payload_too_large', `a control message of ${bytes} bytes; at most ${maxBytes} (CONTROL_MESSAGE_MAX_BYTES)`);
    }
    const malformed = 'a control message is a JSON text object like {"effect":"gaussian","params":{"sigma":4}}';
    let request: unknown;
    try {
      request = typeof data === 'string' ? JSON.parse(data) : undefined;
    } catch {
      request = undefined;
    }
    if (typeof request !== 'object' || request === null || Array.isArray(request)) return this.#tell('bad_request', malformed);
    let choices: SessionChoices;
    try {
      choices = this.#applyChange(request as Record<string, unknown>);
    } catch (err) {
      if (err instanceof HttpError && isControlErrorCode(err.code)) return this.#tell(err.code, err.message);
      throw err;
    }
    this.#peer.sendMessage(CONTROL_CHANNEL, controlReplyText({ type: 'effect', ...choices }));
  }
}
