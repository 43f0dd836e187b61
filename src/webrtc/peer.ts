/**
 * The server's side of libwebrtc: peers that answer (and offer, for Node tools), and the processed
 * video they send. Everything else sees I420 frames, SDP text and typed peer events; the binding's
 * objects (from binding.ts) never leave this file.
 */
import type { PcmFrame } from '../audio/pcm.ts';
import {
  createAudioSink,
  createAudioSource,
  createPeerConnection,
  createVideoSink,
  createVideoSource,
  gatheredLocalSdp,
  type NativeAudioSink,
  type NativeAudioSource,
  type NativeDataChannel,
  type NativePeerConnection,
  type NativeTrack,
  type NativeVideoSink,
  type NativeVideoSource,
} from './binding.ts';
import { SafeEmitter } from './events.ts';
import type { AnswerResult, I420Frame, PeerEvents, PeerOptions, PeerState, PeerStats, RemoteCandidate } from './peer-types.ts';
import { mediaSections, type MediaSection } from './sdp.ts';

// ---- outgoing video ------------------------------------------------------------------------------

/**
 * Processed video leaving the server: one libwebrtc source whose frames go to a track per peer
 * (the publisher itself and any WHEP viewers); each peer encodes for its own connection.
 */
export class VideoOutput {
  readonly #source: NativeVideoSource;
  #closed = false;

  constructor() {
    this.#source = createVideoSource();
  }

  /** Hands a frame to every track of this output. `frame.data` must not be a SharedArrayBuffer view. */
  send(frame: I420Frame): void {
    if (!this.#closed) this.#source.onFrame(frame);
  }

  /** @internal A new track fed by this output; the peer that adds it stops it. */
  createTrack(): NativeTrack {
    return this.#source.createTrack();
  }

  close(): void {
    this.#closed = true;
  }
}

// ---- outgoing audio ------------------------------------------------------------------------------

/**
 * Processed audio leaving the server: one libwebrtc audio source whose 10 ms blocks go to a track per
 * peer (the publisher and its WHEP viewers), each encoded for its own connection.
 */
export class AudioOutput {
  readonly #source: NativeAudioSource;
  #closed = false;

  constructor() {
    this.#source = createAudioSource();
  }

  /** Hands a block to every track of this output (libwebrtc copies it). */
  send(frame: PcmFrame): void {
    if (this.#closed) return;
    const channels = frame.channelCount;
    this.#source.onData({
      samples: frame.samples,
      sampleRate: frame.sampleRateHz,
      bitsPerSample: 16,
      channelCount: channels,
      numberOfFrames: Math.floor(frame.samples.length / channels),
    });
  }

  /** @internal A new track fed by this output; the peer that adds it stops it. */
  createTrack(): NativeTrack {
    return this.#source.createTrack();
  }

  close(): void {
    this.#closed = true;
  }
}

// ---- peers ---------------------------------------------------------------------------------------

/** The m-sections of one kind of an SDP with their mid and direction, in order. */
const sectionsOfKind = (sdp: string, kind: 'audio' | 'video'): MediaSection[] => mediaSections(sdp).filter((s) => s.kind === kind);

const sends = (direction: string): boolean => direction === 'sendrecv' || direction === 'sendonly';
const receives = (direction: string): boolean => direction === 'sendrecv' || direction === 'recvonly';

export class Peer extends SafeEmitter<PeerEvents> {
  readonly #pc: NativePeerConnection;
  readonly #gatherTimeoutMs: number;
  readonly #sinks: NativeVideoSink[] = [];
  readonly #audioSinks: NativeAudioSink[] = [];
  readonly #tracks: NativeTrack[] = [];
  readonly #channels = new Map<string, NativeDataChannel>();
  readonly #channelLabels: readonly string[] | undefined;
  #closed = false;
  /** False for an answerer that only sends (a WHEP viewer): incoming video is not decoded. */
  #receive = true;
  /** False unless the answerer takes audio (a publisher's session): incoming audio is not decoded. */
  #receiveAudio = false;

  constructor(options: PeerOptions) {
    super(options.onListenerError);
    this.#pc = createPeerConnection({ iceServers: options.iceServers, portRange: options.portRange });
    this.#gatherTimeoutMs = options.gatherTimeoutMs;
    this.#channelLabels = options.channelLabels;

    this.#pc.ontrack = ({ track }) => {
      if (this.#closed) return;
      // One sink of each kind at most: the answer receives one video and one audio section (see answer()).
      if (track.kind === 'audio') {
        if (!this.#receiveAudio || this.#audioSinks.length > 0) return;
        this.#audioSinks.push(
          createAudioSink(track, (data) =>
            this.safeEmit('audio', { samples: data.samples, sampleRateHz: data.sampleRate, channelCount: data.channelCount, receivedAtMs: performance.now() }),
          ),
        );
        return;
      }
      if (track.kind !== 'video' || !this.#receive || this.#sinks.length > 0) return;
      this.#sinks.push(createVideoSink(track, (frame) => this.safeEmit('frame', frame, performance.now())));
    };
    this.#pc.onconnectionstatechange = () => this.safeEmit('state', this.#pc.connectionState);
    this.#pc.ondatachannel = ({ channel }) => this.#accept(channel);
  }

  get state(): PeerState {
    return this.#closed ? 'closed' : this.#pc.connectionState;
  }

  /**
   * Answerer side (WHIP, WHEP): applies the offer, passes incoming video to 'frame' events, sends
   * `output` on the first video section that accepts it, and returns the answer once ICE gathering
   * is complete or the gathering bound has passed (a non-trickle answer). Audio is answered on the
   * first audio section only: received ('audio' events) when `receiveAudio`, sent when `audio` is
   * given; every other section of a kind, and audio when neither applies, is declined (inactive).
   */
  async answer(
    offerSdp: string,
    output: VideoOutput | undefined,
    options: { readonly receive?: boolean; readonly audio?: AudioOutput; readonly receiveAudio?: boolean } = {},
  ): Promise<AnswerResult> {
    const receive = options.receive ?? true;
    // Tracks arrive during setRemoteDescription: a peer that only sends makes no sink for them.
    this.#receive = receive;
    this.#receiveAudio = options.receiveAudio ?? false;
    await this.#pc.setRemoteDescription({ type: 'offer', sdp: offerSdp });
    const offered = { video: sectionsOfKind(offerSdp, 'video'), audio: sectionsOfKind(offerSdp, 'audio') };
    const done = { video: { sending: false, receiving: false }, audio: { sending: false, receiving: false } };
    for (const transceiver of this.#pc.getTransceivers()) {
      const kind = transceiver.receiver.track.kind;
      if (kind !== 'video' && kind !== 'audio') {
        transceiver.direction = 'inactive';
        continue;
      }
      const remote = offered[kind].find((o) => o.mid === transceiver.mid)?.direction ?? 'inactive';
      const state = done[kind];
      const source = kind === 'video' ? output : options.audio;
      const mayReceive = kind === 'video' ? receive : this.#receiveAudio;
      // Only the first section of a kind the remote sends on is received (decoding costs CPU, so a
      // viewer's media and a publisher's extra sections are declined: inactive in the answer).
      const remoteSends = mayReceive && !state.receiving && sends(remote);
      const remoteReceives = receives(remote) && source !== undefined && !state.sending;
      if (remoteReceives) {
        const track = source.createTrack();
        this.#tracks.push(track);
        await transceiver.sender.replaceTrack(track);
        state.sending = true;
      }
      state.receiving ||= remoteSends;
      transceiver.direction = remoteSends ? (remoteReceives ? 'sendrecv' : 'recvonly') : remoteReceives ? 'sendonly' : 'inactive';
    }
    await this.#pc.setLocalDescription(await this.#pc.createAnswer());
    return {
      sdp: await this.#gatheredSdp(),
      sending: done.video.sending,
      receiving: done.video.receiving,
      audioSending: done.audio.sending,
      audioReceiving: done.audio.receiving,
    };
  }

  /** Offerer side (Node clients: tests, benchmarks, load tools). Returns the offer after gathering. */
  async offer(init: { readonly send?: VideoOutput; readonly receive: boolean; readonly channel?: string }): Promise<string> {
    const direction = init.send ? (init.receive ? 'sendrecv' : 'sendonly') : 'recvonly';
    if (init.send) {
      const track = init.send.createTrack();
      this.#tracks.push(track);
      this.#pc.addTransceiver(track, { direction });
    } else {
      this.#pc.addTransceiver('video', { direction });
    }
    if (init.channel !== undefined) this.#adopt(this.#pc.createDataChannel(init.channel));
    await this.#pc.setLocalDescription(await this.#pc.createOffer());
    return this.#gatheredSdp();
  }

  async acceptAnswer(answerSdp: string): Promise<void> {
    await this.#pc.setRemoteDescription({ type: 'answer', sdp: answerSdp });
  }

  /** Trickled remote candidates (RFC 8840 fragments, already parsed). */
  async addCandidates(candidates: readonly RemoteCandidate[]): Promise<void> {
    // The binding wants both keys; the m-line index comes from the negotiated mids.
    const mids = mediaSections(this.#pc.remoteDescription?.sdp ?? '').map((s) => s.mid ?? undefined);
    for (const c of candidates) {
      const index = c.mid === null ? 0 : Math.max(0, mids.indexOf(c.mid));
      await this.#pc.addIceCandidate({ candidate: c.candidate, sdpMid: c.mid ?? mids[0] ?? '0', sdpMLineIndex: index });
    }
  }

  /**
   * ICE restart as the answerer: the remote offer is re-applied with the new credentials and a new
   * answer made; returns the new local SDP (new ufrag, pwd and candidates).
   */
  async restartIce(remoteOfferSdp: string): Promise<string> {
    await this.#pc.setRemoteDescription({ type: 'offer', sdp: remoteOfferSdp });
    await this.#pc.setLocalDescription(await this.#pc.createAnswer());
    return this.#gatheredSdp();
  }

  get remoteSdp(): string | undefined {
    return this.#pc.remoteDescription?.sdp;
  }

  /** Sends text on an open data channel; false when there is none by that label. */
  sendMessage(label: string, text: string): boolean {
    const channel = this.#channels.get(label);
    if (!channel || channel.readyState !== 'open') return false;
    channel.send(text);
    return true;
  }

  async stats(): Promise<PeerStats> {
    let roundTripSeconds: number | undefined;
    let inboundFramesPerSecond: number | undefined;
    let outboundFramesPerSecond: number | undefined;
    let framesDecoded = 0;
    let framesEncoded = 0;
    if (this.#closed) return { roundTripSeconds, inboundFramesPerSecond, outboundFramesPerSecond, framesDecoded, framesEncoded };
    const report = await this.#pc.getStats();
    report.forEach((r) => {
      const num = (key: string): number | undefined => (typeof r[key] === 'number' ? (r[key] as number) : undefined);
      if (r.type === 'candidate-pair' && r.nominated === true && num('currentRoundTripTime') !== undefined) {
        roundTripSeconds = num('currentRoundTripTime');
      } else if (r.type === 'inbound-rtp' && r.kind === 'video') {
        inboundFramesPerSecond = num('framesPerSecond') ?? inboundFramesPerSecond;
        framesDecoded += num('framesDecoded') ?? 0;
      } else if (r.type === 'outbound-rtp' && r.kind === 'video') {
        outboundFramesPerSecond = num('framesPerSecond') ?? outboundFramesPerSecond;
        framesEncoded += num('framesEncoded') ?? 0;
      }
    });
    return { roundTripSeconds, inboundFramesPerSecond, outboundFramesPerSecond, framesDecoded, framesEncoded };
  }

  /** Stops sinks and tracks (each keeps the event loop alive) and closes the connection. Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const sink of this.#sinks) {
      sink.onframe = null;
      sink.stop();
    }
    for (const sink of this.#audioSinks) {
      sink.ondata = null;
      sink.stop();
    }
    for (const track of this.#tracks) track.stop();
    for (const channel of this.#channels.values()) {
      channel.onmessage = null;
      channel.onopen = null;
      channel.onclose = null;
    }
    this.#pc.ontrack = null;
    this.#pc.ondatachannel = null;
    this.#pc.onicegatheringstatechange = null;
    this.#pc.close();
    this.#pc.onconnectionstatechange = null;
    this.safeEmit('state', 'closed');
  }

  /**
   * A channel the remote side opened: kept when its label is one it may open and it has no open
   * channel by that label yet, else closed before a message of it is read.
   */
  #accept(channel: NativeDataChannel): void {
    if (this.#closed) return;
    const allowed = this.#channelLabels;
    if (allowed !== undefined && (!allowed.includes(channel.label) || this.#channels.has(channel.label))) {
      // Closing from inside a libwebrtc callback is not safe; leave the callback first.
      setImmediate(() => channel.close());
      this.safeEmit('channelrefused', channel.label);
      return;
    }
    this.#adopt(channel);
  }

  #adopt(channel: NativeDataChannel): void {
    if (this.#closed) return;
    const label = channel.label;
    this.#channels.set(label, channel);
    channel.onopen = () => this.safeEmit('channelopen', label);
    // A closed channel frees its label: the remote side may open it again.
    channel.onclose = () => {
      if (this.#channels.get(label) === channel) this.#channels.delete(label);
    };
    channel.onmessage = ({ data }) => {
      if (typeof data === 'string') this.safeEmit('message', label, data);
      else if (data instanceof ArrayBuffer) this.safeEmit('message', label, new Uint8Array(data));
      else if (ArrayBuffer.isView(data)) this.safeEmit('message', label, new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
    };
  }

  #gatheredSdp(): Promise<string> {
    return gatheredLocalSdp(this.#pc, this.#gatherTimeoutMs);
  }
}
