/**
 * One block of 16-bit PCM as the WebRTC binding delivers it (10 ms at 48 kHz: 480 samples per channel),
 * interleaved when there is more than one channel.
 */
export interface PcmFrame {
  readonly samples: Int16Array;
  readonly sampleRateHz: number;
  readonly channelCount: number;
  /** performance.now() when the block arrived (ms). */
  readonly receivedAtMs: number;
}

/** The audio effects a session may apply to its publisher's audio. */
export const AUDIO_EFFECTS = ['passthrough', 'denoise', 'mute'] as const;
export type AudioEffect = (typeof AUDIO_EFFECTS)[number];
