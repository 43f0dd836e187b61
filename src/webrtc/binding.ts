/**
 * @roamhq/wrtc (libwebrtc), typed as far as this package uses it: the one module that loads the
 * binding. The server's peer (src/webrtc/peer.ts) and the Node client's (tools/rtc-load/client/peer.ts)
 * are built on it, and no other module touches the binding's objects. A leaf: it imports nothing of
 * the server, so the client may import it and still see the service only as a client does.
 */
import { createRequire } from 'node:module';

export type ConnectionState = 'new' | 'connecting' | 'connected' | 'disconnected' | 'failed' | 'closed';

/** A video frame as the binding takes and gives it. */
export interface I420Frame {
  readonly width: number;
  readonly height: number;
  /** Y, then U, then V, tightly packed; chroma planes are ceil(w/2) x ceil(h/2). */
  readonly data: Uint8Array;
}

export interface NativeTrack {
  readonly kind: string;
  stop(): void;
}
export interface NativeTransceiver {
  readonly mid: string | null;
  direction: string;
  readonly sender: { replaceTrack(track: NativeTrack | null): Promise<void> };
  readonly receiver: { readonly track: NativeTrack };
}
export interface NativeDataChannel {
  readonly label: string;
  readonly readyState: string;
  send(data: string): void;
  close(): void;
  onopen: (() => void) | null;
  onclose: (() => void) | null;
  onmessage: ((event: { data: unknown }) => void) | null;
}
interface NativeDescription {
  readonly type: string;
  readonly sdp: string;
}
interface NativeStatsReport {
  forEach(callback: (report: Record<string, unknown>) => void): void;
}
export interface NativePeerConnection {
  readonly connectionState: ConnectionState;
  readonly iceGatheringState: string;
  readonly localDescription: NativeDescription | null;
  readonly remoteDescription: NativeDescription | null;
  setRemoteDescription(description: NativeDescription): Promise<void>;
  setLocalDescription(description: NativeDescription): Promise<void>;
  createOffer(): Promise<NativeDescription>;
  createAnswer(): Promise<NativeDescription>;
  addTransceiver(trackOrKind: NativeTrack | string, init: { direction: string }): NativeTransceiver;
  getTransceivers(): NativeTransceiver[];
  createDataChannel(label: string): NativeDataChannel;
  addIceCandidate(candidate: { candidate: string; sdpMid: string; sdpMLineIndex: number }): Promise<void>;
  getStats(): Promise<NativeStatsReport>;
  close(): void;
  ontrack: ((event: { track: NativeTrack }) => void) | null;
  onconnectionstatechange: (() => void) | null;
  onicegatheringstatechange: (() => void) | null;
  ondatachannel: ((event: { channel: NativeDataChannel }) => void) | null;
}
export interface NativeVideoSink {
  stop(): void;
  onframe: ((event: { frame: I420Frame & { rotation: number } }) => void) | null;
}
export interface NativeVideoSource {
  createTrack(): NativeTrack;
  onFrame(frame: I420Frame): void;
}
/** A block of 16-bit PCM as the binding takes and gives it (interleaved channels; 10 ms blocks). */
export interface AudioData {
  readonly samples: Int16Array;
  readonly sampleRate: number;
  readonly bitsPerSample: number;
  readonly channelCount: number;
  /** Samples per channel. */
  readonly numberOfFrames: number;
}
export interface NativeAudioSink {
  stop(): void;
  ondata: ((data: AudioData) => void) | null;
}
export interface NativeAudioSource {
  createTrack(): NativeTrack;
  onData(data: AudioData): void;
}
interface Wrtc {
  RTCPeerConnection: new (config: Record<string, unknown>) => NativePeerConnection;
  nonstandard: {
    RTCVideoSink: new (track: NativeTrack) => NativeVideoSink;
    RTCVideoSource: new (init?: { isScreencast?: boolean; needsDenoising?: boolean }) => NativeVideoSource;
    RTCAudioSink: new (track: NativeTrack) => NativeAudioSink;
    RTCAudioSource: new () => NativeAudioSource;
  };
}

let binding: Wrtc | undefined;

function wrtc(): Wrtc {
  if (binding) return binding;
  binding = createRequire(import.meta.url)('@roamhq/wrtc') as Wrtc;
  // Once native sources or sinks exist, the binding's finalizers crash the process while Node tears
  // its environment down (WonderInventions/node-webrtc#7, #35). Ending with process.exit once the
  // event loop is empty skips that teardown and keeps the exit code.
  process.once('beforeExit', () => process.exit());
  return binding;
}

export interface IceServerInit {
  readonly urls: string | readonly string[];
  readonly username?: string;
  readonly credential?: string;
}

/** A peer connection with one bundled transport (max-bundle, RTCP multiplexed). */
export function createPeerConnection(options: {
  readonly iceServers: readonly IceServerInit[];
  readonly portRange?: { readonly min: number; readonly max: number } | undefined;
}): NativePeerConnection {
  const config: Record<string, unknown> = {
    iceServers: options.iceServers.map((s) => ({ ...s, urls: typeof s.urls === 'string' ? [s.urls] : [...s.urls] })),
    bundlePolicy: 'max-bundle',
    rtcpMuxPolicy: 'require',
  };
  if (options.portRange) config.portRange = { min: options.portRange.min, max: options.portRange.max };
  return new (wrtc().RTCPeerConnection)(config);
}

/** A sink that hands the track's decoded frames to `onframe`; stop() it when done (it keeps the event loop alive). */
export function createVideoSink(track: NativeTrack, onframe: (frame: I420Frame) => void): NativeVideoSink {
  const sink = new (wrtc().nonstandard.RTCVideoSink)(track);
  sink.onframe = ({ frame }) => onframe(frame);
  return sink;
}

/** A source of video frames for tracks (each encoded for its own connection). */
export function createVideoSource(): NativeVideoSource {
  return new (wrtc().nonstandard.RTCVideoSource)({ needsDenoising: false });
}

/**
 * A sink that hands the track's decoded audio to `ondata` (10 ms blocks, usually 48 kHz); stop() it
 * when done (it keeps the event loop alive).
 */
export function createAudioSink(track: NativeTrack, ondata: (data: AudioData) => void): NativeAudioSink {
  const sink = new (wrtc().nonstandard.RTCAudioSink)(track);
  sink.ondata = ondata;
  return sink;
}

/** A source of audio for tracks: `onData` takes 10 ms blocks of 16-bit PCM. */
export function createAudioSource(): NativeAudioSource {
  return new (wrtc().nonstandard.RTCAudioSource)();
}

/**
 * The local description once ICE gathering is complete, or once `timeoutMs` has passed (with the
 * candidates found so far): a non-trickle offer or answer.
 */
export async function gatheredLocalSdp(pc: NativePeerConnection, timeoutMs: number): Promise<string> {
  if (pc.iceGatheringState !== 'complete') {
    await new Promise<void>((resolve) => {
      const timer = setTimeout(done, timeoutMs);
      function done(): void {
        clearTimeout(timer);
        resolve();
      }
      pc.onicegatheringstatechange = () => {
        if (pc.iceGatheringState === 'complete') done();
      };
    });
    pc.onicegatheringstatechange = null;
  }
  const sdp = pc.localDescription?.sdp;
  if (sdp === undefined) throw new Error('no local description after negotiation');
  return sdp;
}
