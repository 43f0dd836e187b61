/**
 * The client side of a WebRTC connection (the offerer): sends I420 frames on one video track, hands
 * received frames to 'frame' listeners, and carries an optional data channel. The load tool, tests
 * and benchmarks use it as any WHIP/WHEP client would; it shares only the typed binding
 * (src/webrtc/binding.ts, a leaf) with the server, none of the server's sessions or peers.
 */
import {
  createAudioSink,
  createAudioSource,
  createPeerConnection,
  createVideoSink,
  createVideoSource,
  gatheredLocalSdp,
  type ConnectionState,
  type IceServerInit,
  type NativeAudioSink,
  type NativeAudioSource,
  type NativeDataChannel,
  type NativePeerConnection,
  type NativeTrack,
  type NativeVideoSink,
  type NativeVideoSource,
} from '../../../src/webrtc/binding.ts';
import type { I420Frame } from './i420.ts';

export type PeerState = ConnectionState;

export type ClientPeerEvents = {
  /** A decoded frame from the server; `receivedAtMs` is performance.now() on arrival. */
  frame: [frame: I420Frame, receivedAtMs: number];
  /** A decoded 10 ms block of the server's audio (16-bit PCM, interleaved channels). */
  audio: [block: ClientAudioBlock];
  state: [state: PeerState];
  /** A text message on a data channel. */
  message: [label: string, text: string];
  channelopen: [label: string];
};

export type IceServerConfig = IceServerInit;

export interface ClientAudioBlock {
  readonly samples: Int16Array;
  readonly sampleRateHz: number;
  readonly channelCount: number;
}

type Listener<A extends unknown[]> = (...args: A) => void;

/** A data channel opened with `openChannel`: its own handle, so that several may share a label. */
export interface ClientChannel {
  readonly label: string;
  /** connecting, open, closing, closed. */
  readonly state: string;
  /** Resolves once the channel is open; rejects if it closes first. */
  readonly opened: Promise<void>;
  /** Resolves once the channel is closed (by either side). */
  readonly closed: Promise<void>;
  /** Sends text; false when the channel is not open. */
  send(text: string): boolean;
}

export interface ClientPeerOptions {
  readonly iceServers?: readonly IceServerConfig[];
  /** How long `offer` waits for ICE gathering before sending the candidates found so far. */
  readonly gatherTimeoutMs?: number;
}

export class ClientPeer {
  readonly #pc: NativePeerConnection;
  readonly #gatherTimeoutMs: number;
  readonly #listeners = new Map<keyof ClientPeerEvents, Set<Listener<never[]>>>();
  readonly #sinks: NativeVideoSink[] = [];
  readonly #audioSinks: NativeAudioSink[] = [];
  #audioSource: NativeAudioSource | undefined;
  #audioTrack: NativeTrack | undefined;
  readonly #channels = new Map<string, NativeDataChannel>();
  #source: NativeVideoSource | undefined;
  #track: NativeTrack | undefined;
  #closed = false;

  constructor(options: ClientPeerOptions = {}) {
    this.#pc = createPeerConnection({ iceServers: options.iceServers ?? [] });
    this.#gatherTimeoutMs = options.gatherTimeoutMs ?? 2000;
    this.#pc.ontrack = ({ track }) => {
      if (this.#closed) return;
      if (track.kind === 'audio') {
        const sink = createAudioSink(track, (d) => this.#emit('audio', { samples: d.samples, sampleRateHz: d.sampleRate, channelCount: d.channelCount }));
        this.#audioSinks.push(sink);
        return;
      }
      if (track.kind !== 'video') return;
      this.#sinks.push(createVideoSink(track, (frame) => this.#emit('frame', frame, performance.now())));
    };
    this.#pc.onconnectionstatechange = () => this.#emit('state', this.#pc.connectionState);
  }

  on<K extends keyof ClientPeerEvents>(event: K, listener: Listener<ClientPeerEvents[K]>): this {
    let set = this.#listeners.get(event);
    if (!set) this.#listeners.set(event, (set = new Set()));
    set.add(listener as unknown as Listener<never[]>);
    return this;
  }

  off<K extends keyof ClientPeerEvents>(event: K, listener: Listener<ClientPeerEvents[K]>): this {
    this.#listeners.get(event)?.delete(listener as unknown as Listener<never[]>);
    return this;
  }

  get state(): PeerState {
    return this.#closed ? 'closed' : this.#pc.connectionState;
  }

  get remoteSdp(): string | undefined {
    return this.#pc.remoteDescription?.sdp;
  }

  /**
   * Makes the offer (a video track to send if `send`, receiving if `receive`; with `audio`, an audio
   * section in the same directions) and returns it after ICE gathering.
   */
  async offer(init: { readonly send: boolean; readonly receive: boolean; readonly channel?: string; readonly audio?: boolean }): Promise<string> {
    const direction = init.send ? (init.receive ? 'sendrecv' : 'sendonly') : 'recvonly';
    if (init.send) {
      this.#source = createVideoSource();
      this.#track = this.#source.createTrack();
      this.#pc.addTransceiver(this.#track, { direction });
    } else {
      this.#pc.addTransceiver('video', { direction });
    }
    if (init.audio && init.send) {
      this.#audioSource = createAudioSource();
      this.#audioTrack = this.#audioSource.createTrack();
      this.#pc.addTransceiver(this.#audioTrack, { direction });
    } else if (init.audio) {
      this.#pc.addTransceiver('audio', { direction });
    }
    if (init.channel !== undefined) this.#adopt(this.#pc.createDataChannel(init.channel));
    await this.#pc.setLocalDescription(await this.#pc.createOffer());
    return this.#gatheredSdp();
  }

  async acceptAnswer(answerSdp: string): Promise<void> {
    await this.#pc.setRemoteDescription({ type: 'answer', sdp: answerSdp });
  }

  /** Hands a frame to the encoder (libwebrtc copies it). No-op before `offer({ send: true })` or after close. */
  sendFrame(frame: I420Frame): void {
    if (!this.#closed) this.#source?.onFrame(frame);
  }

  /** Hands a block of 16-bit PCM (10 ms) to the audio encoder. No-op without `offer({ send: true, audio: true })` or after close. */
  sendAudio(samples: Int16Array, sampleRateHz: number, channelCount = 1): void {
    if (this.#closed || !this.#audioSource) return;
    this.#audioSource.onData({ samples, sampleRate: sampleRateHz, bitsPerSample: 16, channelCount, numberOfFrames: Math.floor(samples.length / channelCount) });
  }

  /** Sends text on an open data channel; false when there is none by that label. */
  sendMessage(label: string, text: string): boolean {
    const channel = this.#channels.get(label);
    if (!channel || channel.readyState !== 'open') return false;
    channel.send(text);
    return true;
  }

  /**
   * Opens one more data channel once the connection's data channels are negotiated (the offer had
   * a `channel`): tests use it to open channels the server does not expect.
   */
  openChannel(label: string): ClientChannel {
    const channel = this.#pc.createDataChannel(label);
    let closedDone: () => void = () => undefined;
    const closed = new Promise<void>((resolve) => (closedDone = resolve));
    const opened = new Promise<void>((resolve, reject) => {
      channel.onopen = () => resolve();
      channel.onclose = () => {
        reject(new Error(`data channel ${label} closed before it opened`));
        closedDone();
      };
    });
    opened.catch(() => undefined);
    return {
      label,
      get state() {
        return channel.readyState;
      },
      opened,
      closed,
      send: (text: string) => {
        if (channel.readyState !== 'open') return false;
        channel.send(text);
        return true;
      },
    };
  }

  /** Stops sinks and the track (each keeps the event loop alive) and closes the connection. Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const sink of this.#sinks) {
      sink.onframe = null;
      sink.stop();
    }
    this.#track?.stop();
    for (const sink of this.#audioSinks) {
      sink.ondata = null;
      sink.stop();
    }
    this.#audioTrack?.stop();
    for (const channel of this.#channels.values()) {
      channel.onmessage = null;
      channel.onopen = null;
    }
    this.#pc.ontrack = null;
    this.#pc.onicegatheringstatechange = null;
    this.#pc.close();
    this.#pc.onconnectionstatechange = null;
    this.#emit('state', 'closed');
  }

  #emit<K extends keyof ClientPeerEvents>(event: K, ...args: ClientPeerEvents[K]): void {
    const set = this.#listeners.get(event);
    if (!set) return;
    for (const listener of [...set]) {
      try {
        (listener as unknown as Listener<ClientPeerEvents[K]>)(...args);
      } catch (error) {
        // A listener's bug must not stop the frames of the other listeners.
        process.emitWarning(error instanceof Error ? error : new Error(String(error)));
      }
    }
  }

  #adopt(channel: NativeDataChannel): void {
    this.#channels.set(channel.label, channel);
    channel.onopen = () => this.#emit('channelopen', channel.label);
    channel.onmessage = ({ data }) => {
      if (typeof data === 'string') this.#emit('message', channel.label, data);
    };
  }

  #gatheredSdp(): Promise<string> {
    return gatheredLocalSdp(this.#pc, this.#gatherTimeoutMs);
  }
}
