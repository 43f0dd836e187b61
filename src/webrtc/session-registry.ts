import { randomBytes } from 'node:crypto';
import type { FastifyBaseLogger } from 'fastify';
import type { IceServer } from '../config.ts';
import { ConfigError } from '../config.ts';
import type { EffectJob } from '../effects/catalog.ts';
import type { EffectEngine } from '../engine/engine-types.ts';
import { badRequest, HttpError, notFound, OverloadedError, unprocessable, type RejectReason } from '../errors.ts';
import { mintSession, mintViewer, parsePublisherId, parseViewerId, secretMatches } from '../fleet/session-id.ts';
import type { Metrics } from '../metrics.ts';
import { RollingQuantile } from '../stats/rolling-quantile.ts';
import { AudioOutput, Peer, VideoOutput } from './peer.ts';
import { Denoiser } from '../audio/denoiser.ts';
import type { PcmFrame } from '../audio/pcm.ts';
import type { CaptionPipeline } from '../speech/caption-types.ts';
import { AudioPath } from './audio-path.ts';
import { DEFAULT_AUDIO_EFFECT, type AudioRequest, type CaptionsAvailability } from './audio-request.ts';
import type { SessionMedia, SpeechProvider } from './session-media.ts';
import { announceAddress, fragmentOf, iceUfragOf, parseSdpFragment, SdpError, validateOffer, withIceCredentials, withMaxMessageSize } from './sdp.ts';
import { candidatePolicy, candidateVerdict, filterSdpCandidates, type CandidateDropReason, type CandidatePolicy } from '../net/candidates.ts';
import { CONTROL_CHANNEL, Session, type SessionOutcome } from './publisher-session.ts';
import { TokenBucket } from './token-bucket.ts';
import { Viewer } from './viewer.ts';
import { DEFAULT_SEGMENTATION_SETTINGS } from '../segmentation/session-segmentation.ts';

export interface SessionsConfig {
  readonly maxSessions: number;
  readonly frameSloMs: number;
  readonly sloAdmission: boolean;
  readonly iceServers: readonly IceServer[];
  readonly rtcPortMin: number | undefined;
  readonly rtcPortMax: number | undefined;
  readonly announcedIp: string | undefined;
  readonly sessionIdleSeconds: number;
  readonly maxIters: number;
  readonly retryAfterSeconds: number;
  readonly p95WindowSeconds: number;
  /** MAX_SESSIONS_PER_CLIENT (0: no limit). */
  readonly maxSessionsPerClient?: number;
  /** SESSION_CONNECT_SECONDS: publishers and viewers not connected this long after their answer are closed. */
  readonly sessionConnectSeconds?: number;
  readonly maxFramePixels?: number;
  /** MAX_FRAME_EFFECT_MS (0: no cap). */
  readonly maxFrameEffectMs?: number;
  readonly effectChangesPerSecond?: number;
  /** MAX_OFFER_SECTIONS. */
  readonly maxOfferSections?: number;
  /** ICE_CANDIDATE_ALLOW_CIDRS, ICE_CANDIDATE_DENY_CIDRS: which remote candidates libwebrtc may be given. */
  readonly iceCandidateAllowCidrs?: readonly string[];
  readonly iceCandidateDenyCidrs?: readonly string[];
  /** MAX_REMOTE_CANDIDATES per peer connection and ICE session. Default: no cap. */
  readonly maxRemoteCandidates?: number;
  /** ICE_TRICKLE_PER_SECOND (burst twice that) and ICE_RESTARTS_PER_MINUTE per peer. Default: no limit. */
  readonly iceTricklePerSecond?: number;
  readonly iceRestartsPerMinute?: number;
  /** CONTROL_MESSAGE_MAX_BYTES. Default: no cap. */
  readonly controlMessageMaxBytes?: number;
  /** BACKDROP_UPLOADS_PER_MINUTE per session. Default: no limit. */
  readonly backdropUploadsPerMinute?: number;
  readonly segmentMaskSmoothing?: number;
  readonly segmentMaxMaskAgeFrames?: number;
  readonly segmentInferenceMaxFps?: number;
  readonly segmentDetectIntervalMs?: number;
  /** AUDIO_BUFFER_MS: denoise audio a session may hold waiting for the worker (default 60). */
  readonly audioBufferMs?: number;
  /** AUDIO_MAX_BLOCK_SAMPLES (default 1920). */
  readonly audioMaxBlockSamples?: number;
}

export interface SessionsDeps {
  readonly engine: Pick<EffectEngine, 'processFrame'>;
  readonly metrics: Metrics;
  readonly log: FastifyBaseLogger;
  /** True once the pod is shutting down (readiness failed): new sessions are refused. */
  readonly isDraining?: () => boolean;
  /** This replica's peer address, minted into session ids so any replica can route to it (default 127.0.0.1:0). */
  readonly selfAddress?: string;
  /** Captions, translation and subtitles (src/speech); absent: captions are unavailable on this pod. */
  readonly speech?: SpeechProvider;
}

/** Non-trickle answers wait this long for ICE gathering (STUN/TURN replies), then go with what they have. */
const GATHER_TIMEOUT_MS = 2500;
/** The frame p95 says little before this many frames are in the window. */
const MIN_SLO_SAMPLES = 60;
/** WebRTC audio comes in blocks of 10 ms. */
const AUDIO_BLOCK_MS = 10;
const NO_CAPTIONS: CaptionsAvailability = { available: false, languages: [], translations: [] };

export { notFound };

/** The result of a trickle-ICE PATCH: 204 for candidates, 200 with a fragment after an ICE restart. */
export type TrickleResult = { readonly restarted: false } | { readonly restarted: true; readonly fragment: string; readonly etag: string };

export function portRangeOf(config: Pick<SessionsConfig, 'rtcPortMin' | 'rtcPortMax'>): { min: number; max: number } | undefined {
  const { rtcPortMin: min, rtcPortMax: max } = config;
  if (min === undefined && max === undefined) return undefined;
  if (min === undefined || max === undefined) throw new ConfigError('RTC_PORT_MIN and RTC_PORT_MAX must be set together');
  if (min > max) throw new ConfigError(`RTC_PORT_MIN (${min}) must not be above RTC_PORT_MAX (${max})`);
  return { min, max };
}

const newEtag = (): string => `"${randomBytes(9).toString('base64url')}"`;

/** A peer's remote ICE: the usable candidates it gave in this ICE session, and its trickle and restart budgets. */
interface RemoteIce {
  candidates: number;
  readonly trickles: TokenBucket | undefined;
  readonly restarts: TokenBucket | undefined;
}

/**
 * The pod's WebRTC sessions: admission (MAX_SESSIONS peer connections, SLO-aware refusal, drain),
 * creation of publishers and viewers, lookup, and orderly shutdown. It owns what it makes: each
 * publisher's and viewer's peer connection and each publisher's output are made here and closed here,
 * when negotiation fails or when the session or viewer ends (a session's viewers end with it).
 */
export class SessionRegistry {
  /** Frame latency of every session over P95_WINDOW_SECONDS (app_frame_latency_seconds is the histogram). */
  readonly frameWindow: RollingQuantile;
  readonly #sessions = new Map<string, Session>();
  readonly #viewers = new Map<string, Viewer>();
  /** Publisher and viewer secrets, by session id and viewer id: only their holders may steer or end them. */
  readonly #secrets = new Map<string, string>();
  readonly #config: SessionsConfig;
  readonly #deps: SessionsDeps;
  readonly #portRange: { min: number; max: number } | undefined;
  #reserved = 0;
  /** Peer connections per client address (negotiating or open), for MAX_SESSIONS_PER_CLIENT. */
  readonly #perClient = new Map<string, number>();
  /** Remote ICE state per publisher and viewer (gone with them). */
  readonly #ice = new WeakMap<Session | Viewer, RemoteIce>();
  readonly #candidatePolicy: CandidatePolicy;
  #drain: Promise<void> | undefined;
  /** RNNoise for every session's denoise, in its own worker thread (started with the first one). */
  readonly #denoiser: Denoiser;
  #audioSessions = 0;

  constructor(config: SessionsConfig, deps: SessionsDeps) {
    this.#config = config;
    this.#deps = deps;
    this.#portRange = portRangeOf(config);
    try {
      this.#candidatePolicy = candidatePolicy(config.iceCandidateAllowCidrs ?? [], config.iceCandidateDenyCidrs ?? []);
    } catch (err) {
      throw new ConfigError(`ICE_CANDIDATE_ALLOW_CIDRS, ICE_CANDIDATE_DENY_CIDRS: ${err instanceof Error ? err.message : String(err)}`);
    }
    this.frameWindow = new RollingQuantile({ windowSeconds: config.p95WindowSeconds });
    this.#denoiser = new Denoiser({ onWorkerError: (err) => deps.log.error({ err }, 'denoise worker failed') });
  }

  /** What captions this pod offers (none without a speech engine). */
  captionsAvailability(): CaptionsAvailability {
    return this.#deps.speech?.availability() ?? NO_CAPTIONS;
  }

  /** Sessions whose publisher sends audio (each costs its decode, effect and encode: src/session-capacity.ts). */
  get audioSessions(): number {
    return this.#audioSessions;
  }

  /**
   * A session's captions, by its publisher resource id `<sessionId>.<secret>` or by its watch id
   * (what its viewers know); undefined for no such session or one without captions.
   */
  captions(id: string): CaptionPipeline | undefined {
    return (this.publisher(id) ?? this.#sessions.get(id))?.captions;
  }

  get size(): number {
    return this.#sessions.size;
  }

  /** Peer connections open or being negotiated: publishers and viewers. */
  get peerCount(): number {
    return this.#sessions.size + this.#viewers.size + this.#reserved;
  }

  /** A session by its watch id (what viewers know). */
  get(id: string): Session | undefined {
    return this.#sessions.get(id);
  }

  /** A session by its publisher resource id `<sessionId>.<secret>`, only with the right secret. */
  publisher(resourceId: string): Session | undefined {
    const parsed = parsePublisherId(resourceId);
    if (parsed === undefined) return undefined;
    const session = this.#sessions.get(parsed.sessionId);
    const secret = this.#secrets.get(parsed.sessionId);
    return session !== undefined && secret !== undefined && secretMatches(parsed.secret, secret) ? session : undefined;
  }

  /** A viewer by its resource `<sessionId>` + `<viewerId>.<secret>`, only with the right secret. */
  viewer(sessionId: string, viewerResource: string): Viewer | undefined {
    const parsed = parseViewerId(viewerResource);
    if (parsed === undefined) return undefined;
    const viewer = this.#viewers.get(parsed.viewerId);
    const secret = this.#secrets.get(parsed.viewerId);
    if (viewer?.session.id !== sessionId || secret === undefined) return undefined;
    return secretMatches(parsed.secret, secret) ? viewer : undefined;
  }

  /** Admits, negotiates and starts a publisher session. Returns it with the answer SDP. */
  async publish(
    offerSdp: string,
    job: EffectJob,
    client = '',
    audioRequest: AudioRequest = { effect: DEFAULT_AUDIO_EFFECT, captions: undefined, subtitles: 'off' },
  ): Promise<{ session: Session; publisherSecret: string; answerSdp: string }> {
    const offer = this.#checkOffer(offerSdp);
    const release = this.#admit('session');
    const leave = this.#hold(client, 'session', release);
    const { sessionId: id, publisherSecret } = mintSession(this.#deps.selfAddress ?? '127.0.0.1:0');
    // A publisher may open one data channel, the control channel; a viewer none.
    const peer = this.#newPeer([CONTROL_CHANNEL]);
    const output = new VideoOutput();
    const audioOutput = new AudioOutput();
    let media: SessionMedia = {};
    try {
      const answer = await this.#negotiate(peer, offer.sdp, output, { audio: audioOutput, receiveAudio: true });
      if (!answer.receiving) throw badRequest('a WHIP offer must send video (sendrecv or sendonly) in a codec the server decodes (VP8, VP9)');
      media = this.#media(answer, audioOutput, audioRequest);
      const session = new Session(id, peer, output, job, newEtag(), {
        engine: this.#deps.engine,
        metrics: this.#deps.metrics,
        frameWindow: this.frameWindow,
        log: this.#deps.log,
        idleSeconds: this.#config.sessionIdleSeconds,
        maxIters: this.#config.maxIters,
        ...(this.#config.maxFramePixels !== undefined ? { maxFramePixels: this.#config.maxFramePixels } : {}),
        ...(this.#config.maxFrameEffectMs !== undefined ? { maxFrameEffectMs: this.#config.maxFrameEffectMs } : {}),
        ...(this.#config.effectChangesPerSecond !== undefined ? { effectChangesPerSecond: this.#config.effectChangesPerSecond } : {}),
        ...(this.#config.controlMessageMaxBytes !== undefined ? { controlMessageMaxBytes: this.#config.controlMessageMaxBytes } : {}),
        ...(this.#config.backdropUploadsPerMinute !== undefined ? { backdropUploadsPerMinute: this.#config.backdropUploadsPerMinute } : {}),
        segmentation: {
          smoothing: this.#config.segmentMaskSmoothing ?? DEFAULT_SEGMENTATION_SETTINGS.smoothing,
          maxMaskAgeFrames: this.#config.segmentMaxMaskAgeFrames ?? DEFAULT_SEGMENTATION_SETTINGS.maxMaskAgeFrames,
          maxInferenceFps: this.#config.segmentInferenceMaxFps ?? DEFAULT_SEGMENTATION_SETTINGS.maxInferenceFps,
          ...(this.#config.segmentDetectIntervalMs !== undefined ? { detectIntervalMs: this.#config.segmentDetectIntervalMs } : {}),
        },
      }, media);
      this.#sessions.set(id, session);
      this.#secrets.set(id, publisherSecret);
      this.#ice.set(session, this.#remoteIce(offer.candidates));
      this.#deps.metrics.sessionsActive.inc();
      const hasAudio = media.audio !== undefined;
      if (hasAudio) {
        this.#audioSessions++;
        this.#deps.metrics.audioSessionsActive.inc();
      }
      const connectTimer = this.#connectDeadline(session);
      const sessionMedia = media;
      session.on('closed', (outcome) => {
        clearTimeout(connectTimer);
        for (const viewer of [...this.#viewers.values()]) if (viewer.session === session) viewer.close(outcome);
        peer.close();
        peer.removeAllListeners();
        output.close();
        this.#closeMedia(sessionMedia, audioOutput);
        if (hasAudio) {
          this.#audioSessions--;
          this.#deps.metrics.audioSessionsActive.dec();
        }
        leave();
        this.#sessions.delete(id);
        this.#secrets.delete(id);
        this.#deps.metrics.sessionsActive.dec();
        this.#deps.metrics.sessions.inc({ outcome });
      });
      this.#deps.log.info(
        { sessionId: id, effect: job.effect, sending: answer.sending, receiving: answer.receiving, audio: media.audio?.effect, captions: media.captions?.request },
        'session started',
      );
      const max = this.#config.controlMessageMaxBytes;
      return { session, publisherSecret, answerSdp: max === undefined ? answer.sdp : withMaxMessageSize(answer.sdp, max) };
    } catch (err) {
      peer.close();
      output.close();
      this.#closeMedia(media, audioOutput);
      leave();
      this.#deps.metrics.sessions.inc({ outcome: 'failed' });
      throw err;
    } finally {
      release();
    }
  }

  /** The audio path, captions and overlay of a new session, from what its offer sends. */
  #media(answer: { readonly audioReceiving: boolean }, audioOutput: AudioOutput, request: AudioRequest): SessionMedia {
    if (!answer.audioReceiving) {
      if (request.captions) throw unprocessable('captions need audio: the offer sends none (an audio section, sendrecv or sendonly)');
      return { audioOutput };
    }
    const speech = this.#deps.speech;
    if (request.captions && !speech) throw new HttpError('unsupported_language', 'captions are not available on this pod (no speech engine)');
    const pipeline = request.captions && speech?.createPipeline(request.captions);
    const audio = new AudioPath(request.effect, {
      denoiser: this.#denoiser,
      metrics: this.#deps.metrics,
      // Viewers hear it even when the publisher does not take audio back.
      send: (frame) => audioOutput.send(frame),
      // Captions hear the publisher's own audio, before the effect.
      ...(pipeline ? { onReceived: (frame: PcmFrame) => pipeline.push(frame) } : {}),
      bufferBlocks: Math.max(1, Math.floor((this.#config.audioBufferMs ?? 60) / AUDIO_BLOCK_MS)),
      maxBlockSamples: this.#config.audioMaxBlockSamples ?? 1920,
    });
    if (!request.captions || !pipeline || !speech) return { audio, audioOutput };
    return {
      audio,
      audioOutput,
      captions: { request: request.captions, pipeline },
      subtitles: request.subtitles,
      // Made with the captions (it renders nothing until asked): subtitles may be burnt in later by PATCH.
      overlay: speech.createOverlay(),
    };
  }

  #closeMedia(media: SessionMedia, audioOutput: AudioOutput): void {
    media.audio?.close();
    audioOutput.close();
    media.captions?.pipeline.close().catch((err: unknown) => this.#deps.log.warn({ err }, 'caption pipeline close failed'));
  }

  /** Admits and negotiates a WHEP viewer of a session's processed output. */
  async view(sessionId: string, offerSdp: string, client = ''): Promise<{ viewer: Viewer; viewerSecret: string; answerSdp: string }> {
    const session = this.#sessions.get(sessionId);
    if (!session) throw notFound(`no session ${sessionId}`);
    const offer = this.#checkOffer(offerSdp);
    const release = this.#admit('viewer');
    const leave = this.#hold(client, 'viewer', release);
    const peer = this.#newPeer([]);
    try {
      // A viewer only watches: its own video, if it offers any, is declined, never decoded.
      const answer = await this.#negotiate(peer, offer.sdp, session.output, { receive: false, ...(session.audioOutput ? { audio: session.audioOutput } : {}) });
      if (!answer.sending) throw badRequest('a WHEP offer must receive video (recvonly or sendrecv)');
      if (session.closed) throw notFound(`no session ${sessionId}`);
      const { viewerId, viewerSecret } = mintViewer();
      const viewer = new Viewer(viewerId, session, peer, newEtag(), { log: this.#deps.log, idleSeconds: this.#config.sessionIdleSeconds });
      session.addViewer(viewer);
      this.#viewers.set(viewer.id, viewer);
      this.#secrets.set(viewer.id, viewerSecret);
      this.#ice.set(viewer, this.#remoteIce(offer.candidates));
      const connectTimer = this.#connectDeadline(viewer);
      viewer.on('closed', () => {
        clearTimeout(connectTimer);
        session.removeViewer(viewer);
        peer.close();
        peer.removeAllListeners();
        leave();
        this.#viewers.delete(viewer.id);
        this.#secrets.delete(viewer.id);
      });
      this.#deps.log.info({ sessionId, viewerId: viewer.id }, 'viewer started');
      return { viewer, viewerSecret, answerSdp: answer.sdp };
    } catch (err) {
      peer.close();
      leave();
      throw err;
    } finally {
      release();
    }
  }

  /**
   * Counts a peer connection against its client's MAX_SESSIONS_PER_CLIENT (refusing it, after
   * `release`-ing its pod slot, when the client holds as many); returns the idempotent leave.
   */
  #hold(client: string, kind: 'session' | 'viewer', release: () => void): () => void {
    const max = this.#config.maxSessionsPerClient ?? 0;
    const held = this.#perClient.get(client) ?? 0;
    if (max > 0 && held >= max) {
      release();
      this.#deps.metrics.rejected.inc({ reason: 'sessions_per_client' });
      if (kind === 'session') this.#deps.metrics.sessions.inc({ outcome: 'rejected' });
      // The client's own doing, not the pod's state: another pod would refuse it too.
      throw new HttpError('too_many_sessions', `this address holds ${held} WebRTC peer connections (MAX_SESSIONS_PER_CLIENT ${max}); end one first`, {
        'retry-after': String(this.#config.retryAfterSeconds),
      });
    }
    this.#perClient.set(client, held + 1);
    let left = false;
    return () => {
      if (left) return;
      left = true;
      const n = (this.#perClient.get(client) ?? 1) - 1;
      if (n <= 0) this.#perClient.delete(client);
      else this.#perClient.set(client, n);
    };
  }

  /** Closes a publisher or viewer that is not connected SESSION_CONNECT_SECONDS after its answer. */
  #connectDeadline(target: { readonly peer: Peer; close(outcome: SessionOutcome): void }): NodeJS.Timeout | undefined {
    const seconds = this.#config.sessionConnectSeconds;
    if (seconds === undefined) return undefined;
    const timer = setTimeout(() => {
      if (target.peer.state !== 'connected') target.close('connect_timeout');
    }, seconds * 1000);
    timer.unref();
    return timer;
  }

  /**
   * Trickle ICE for a session or viewer (RFC 9725 §4.3): candidates are added; new ICE credentials
   * mean an ICE restart, answered with the new local fragment and a new ETag.
   */
  async trickle(target: Session | Viewer, body: string): Promise<TrickleResult> {
    let ice = this.#ice.get(target);
    if (ice === undefined) this.#ice.set(target, (ice = this.#remoteIce(0)));
    this.#takeIce(ice.trickles, `at most ${this.#config.iceTricklePerSecond} trickle-ICE PATCHes a second (ICE_TRICKLE_PER_SECOND)`);
    let fragment;
    try {
      fragment = parseSdpFragment(body);
    } catch (err) {
      if (err instanceof SdpError) throw badRequest(err.message);
      throw err;
    }
    // Candidates the policy drops never reach libwebrtc: the pod sends nothing to them.
    const candidates = fragment.candidates.filter((c) => {
      const reason = candidateVerdict(c.candidate, this.#candidatePolicy);
      if (reason !== undefined) this.#countDropped([reason]);
      return reason === undefined;
    });
    const remote = target.peer.remoteSdp;
    const currentUfrag = remote === undefined ? undefined : iceUfragOf(remote);
    if (fragment.iceUfrag !== undefined && fragment.icePwd !== undefined && fragment.iceUfrag !== currentUfrag && remote !== undefined) {
      this.#takeIce(ice.restarts, `at most ${this.#config.iceRestartsPerMinute} ICE restarts a minute (ICE_RESTARTS_PER_MINUTE)`);
      this.#checkCandidateCount(0, candidates.length);
      const localSdp = this.#announce(await target.peer.restartIce(withIceCredentials(remote, fragment.iceUfrag, fragment.icePwd)));
      // A new ICE session: its candidates are counted afresh.
      ice.candidates = candidates.length;
      await target.peer.addCandidates(candidates);
      const etag = newEtag();
      target.setEtag(etag);
      return { restarted: true, fragment: fragmentOf(localSdp), etag };
    }
    this.#checkCandidateCount(ice.candidates, candidates.length);
    ice.candidates += candidates.length;
    try {
      await target.peer.addCandidates(candidates);
    } catch (err) {
      throw badRequest(`candidate refused: ${err instanceof Error ? err.message : String(err)}`);
    }
    return { restarted: false };
  }

  #remoteIce(candidates: number): RemoteIce {
    const { iceTricklePerSecond: perSecond, iceRestartsPerMinute: perMinute } = this.#config;
    return {
      candidates,
      trickles: perSecond === undefined ? undefined : new TokenBucket(perSecond, 2 * perSecond),
      restarts: perMinute === undefined ? undefined : new TokenBucket(perMinute / 60, perMinute),
    };
  }

  /** Takes a token from a peer's trickle or restart budget, or refuses the PATCH (429, reason ice_rate). */
  #takeIce(bucket: TokenBucket | undefined, detail: string): void {
    if (!bucket || bucket.take()) return;
    this.#deps.metrics.rejected.inc({ reason: 'ice_rate' });
    throw new HttpError('rate_limited', detail, { 'retry-after': String(bucket.retryAfterSeconds()) });
  }

  /** Refuses a trickle PATCH that would give a peer more than MAX_REMOTE_CANDIDATES in its ICE session (422). */
  #checkCandidateCount(held: number, adding: number): void {
    const max = this.#config.maxRemoteCandidates;
    if (max === undefined || held + adding <= max) return;
    this.#deps.metrics.rejected.inc({ reason: 'ice_candidates' });
    throw unprocessable(`this connection has ${held} remote candidates and the fragment adds ${adding}; at most ${max} (MAX_REMOTE_CANDIDATES)`);
  }

  #countDropped(reasons: readonly CandidateDropReason[]): void {
    for (const reason of reasons) this.#deps.metrics.iceCandidatesDropped.inc({ reason });
  }

  /** Closes every session and viewer now, with `outcome` on the sessions' metric. */
  async closeAll(outcome: SessionOutcome): Promise<void> {
    for (const viewer of [...this.#viewers.values()]) viewer.close(outcome);
    for (const session of [...this.#sessions.values()]) session.close(outcome);
    await this.#denoiser.terminate();
  }

  /** Tells every publisher on the control channel that this pod is draining and its session ends within `seconds`. */
  announceDrain(seconds: number): void {
    for (const session of this.#sessions.values()) session.announceDrain(seconds);
  }

  /**
   * Refuses new sessions from now on, gives the running ones up to `seconds` to end on their own,
   * then closes the rest ('drained'). Calling it again returns the same drain.
   */
  drain(seconds: number): Promise<void> {
    this.#drain ??= (async () => {
      const deadlineMs = performance.now() + seconds * 1000;
      if (this.#sessions.size + this.#viewers.size > 0) {
        this.#deps.log.info({ sessions: this.#sessions.size, viewers: this.#viewers.size, drainSeconds: seconds }, 'draining sessions');
      }
      while (this.#sessions.size + this.#viewers.size + this.#reserved > 0 && performance.now() < deadlineMs) {
        await new Promise((resolve) => setTimeout(resolve, 200));
      }
      await this.closeAll('drained');
    })();
    return this.#drain;
  }

  /** The offer as libwebrtc may see it (the candidates the policy drops removed), and how many candidates it keeps. */
  #checkOffer(sdp: string): { readonly sdp: string; readonly candidates: number } {
    try {
      const summary = validateOffer(sdp);
      const max = this.#config.maxOfferSections;
      if (max !== undefined && summary.sections > max) throw new SdpError(`the offer has ${summary.sections} media sections; at most ${max} (MAX_OFFER_SECTIONS)`);
    } catch (err) {
      if (err instanceof SdpError) throw badRequest(`malformed SDP offer: ${err.message}`);
      throw err;
    }
    const filtered = filterSdpCandidates(sdp, this.#candidatePolicy);
    this.#countDropped(filtered.dropped);
    const max = this.#config.maxRemoteCandidates;
    if (max !== undefined && filtered.kept > max) {
      this.#deps.metrics.rejected.inc({ reason: 'ice_candidates' });
      throw badRequest(`the offer carries ${filtered.kept} usable ICE candidates; at most ${max} (MAX_REMOTE_CANDIDATES)`);
    }
    return { sdp: filtered.sdp, candidates: filtered.kept };
  }

  #admit(kind: 'session' | 'viewer'): () => void {
    const refuse = (reason: RejectReason, detail: string): never => {
      this.#deps.metrics.rejected.inc({ reason });
      if (kind === 'session') this.#deps.metrics.sessions.inc({ outcome: 'rejected' });
      throw new OverloadedError(detail, this.#config.retryAfterSeconds, reason, 'unavailable');
    };
    if (this.#drain !== undefined || this.#deps.isDraining?.()) refuse('draining', 'this pod is shutting down; retry on another');
    if (this.peerCount >= this.#config.maxSessions) {
      refuse('sessions_full', `this pod holds ${this.#config.maxSessions} WebRTC peer connections (MAX_SESSIONS); retry later`);
    }
    if (this.#config.sloAdmission && this.frameWindow.count() >= MIN_SLO_SAMPLES) {
      const p95Ms = this.frameWindow.quantileSeconds(0.95) * 1000;
      if (p95Ms > this.#config.frameSloMs) {
        refuse('frame_slo', `frame latency p95 ${p95Ms.toFixed(1)} ms is above FRAME_SLO_MS ${this.#config.frameSloMs}; retry later`);
      }
    }
    this.#reserved++;
    let released = false;
    return () => {
      if (!released) this.#reserved--;
      released = true;
    };
  }

  #newPeer(channelLabels: readonly string[]): Peer {
    const peer = new Peer({
      channelLabels,
      iceServers: this.#config.iceServers,
      portRange: this.#portRange,
      gatherTimeoutMs: GATHER_TIMEOUT_MS,
      onListenerError: (err, event) => this.#deps.log.error({ err, event }, 'peer listener failed'),
    });
    peer.on('channelrefused', () => this.#deps.metrics.rejected.inc({ reason: 'data_channel' }));
    return peer;
  }

  async #negotiate(peer: Peer, offerSdp: string, output: VideoOutput, options: { receive?: boolean; audio?: AudioOutput; receiveAudio?: boolean } = {}) {
    let answer;
    try {
      answer = await peer.answer(offerSdp, output, options);
    } catch (err) {
      throw badRequest(`the SDP offer was refused: ${err instanceof Error ? err.message : String(err)}`);
    }
    return { ...answer, sdp: this.#announce(answer.sdp) };
  }

  #announce(sdp: string): string {
    return this.#config.announcedIp === undefined ? sdp : announceAddress(sdp, this.#config.announcedIp);
  }
}
