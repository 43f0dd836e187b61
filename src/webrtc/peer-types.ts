/**
 * The types at the libwebrtc boundary (peer.ts): frames, states, events and stats. Consumers import
 * these, never the module that loads the binding.
 */
import type { PcmFrame } from '../audio/pcm.ts';
import type { IceServer } from '../config.ts';
import type { ConnectionState, I420Frame } from './binding.ts';
import type { ListenerErrorHandler } from './events.ts';

export type { I420Frame };

export type PeerState = ConnectionState;

export type PeerEvents = {
  /** A decoded frame from the remote side; `receivedAtMs` is performance.now() on arrival. */
  frame: [frame: I420Frame, receivedAtMs: number];
  /** A decoded 10 ms block of the remote side's audio (the first audio section it sends on). */
  audio: [frame: PcmFrame];
  state: [state: PeerState];
  /** A message on a data channel the remote side opened (or we opened with `offer`): text, or binary. */
  message: [label: string, data: string | Uint8Array];
  channelopen: [label: string];
  /** A data channel the remote side opened and this peer closed at once (not in `channelLabels`, or a second one). */
  channelrefused: [label: string];
};

export interface PeerOptions {
  readonly iceServers: readonly IceServer[];
  readonly portRange?: { readonly min: number; readonly max: number } | undefined;
  /** How long `answer`/`offer` wait for ICE gathering before returning the candidates found so far. */
  readonly gatherTimeoutMs: number;
  readonly onListenerError: ListenerErrorHandler;
  /**
   * The labels of the data channels the remote side may open, one channel each; any other channel
   * is closed as it arrives ('channelrefused'). Unset: any (the offering side, tools).
   */
  readonly channelLabels?: readonly string[];
}

export interface AnswerResult {
  readonly sdp: string;
  /** The remote side receives our video (its offer was sendrecv or recvonly). */
  readonly sending: boolean;
  /** The remote side sends video to us. */
  readonly receiving: boolean;
  /** The remote side receives our audio (an audio output was given and its offer takes audio). */
  readonly audioSending: boolean;
  /** The remote side sends audio to us. */
  readonly audioReceiving: boolean;
}

export interface PeerStats {
  readonly roundTripSeconds: number | undefined;
  readonly inboundFramesPerSecond: number | undefined;
  readonly outboundFramesPerSecond: number | undefined;
  readonly framesDecoded: number;
  readonly framesEncoded: number;
}

export interface RemoteCandidate {
  readonly candidate: string;
  readonly mid: string | null;
}
