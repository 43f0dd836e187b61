/**
 * How many WebRTC sessions a pod plans for, from bench/webrtc.ts (docs/webrtc.md, Figures): the
 * measured figures are in bench/results/webrtc-capacity.json, which the capacity planner reads; these
 * are the planning figures taken from them, rounded down, and the MAX_SESSIONS default follows.
 */

import type { AudioEffect } from './audio/pcm.ts';

/** The CPU a gpu-media pod requests (k8s/gpu-media-deployment.yaml: requests.cpu). */
export const POD_CPU_CORES = 2;

/**
 * 30 fps sessions (publisher, effect, video back) one core holds within the frame SLO. 720p: about
 * 0.45 core per session for the service (the bare binding echo costs the same per frame, within the
 * run-to-run noise), so 2 per core; 480p costs about 0.55 of a 720p session on this binding.
 */
export const SESSIONS_PER_CORE = {
  '1280x720': 2,
  '640x480': 3,
} as const satisfies Record<string, number>;

/**
 * Cores one session's audio adds to its video, by audio effect: bench/audio.ts measured into
 * bench/results/audio-capacity.json (server CPU per session with audio less the same session
 * without), rounded up. Opus decode and encode are most of it (the bare binding's audio echo costs
 * the same as passthrough); RNNoise adds about 0.03. At the 720p figure (0.43 core) a pod's 2 cores
 * hold the MAX_SESSIONS default of 4 calls with passthrough or mute audio (4 x 0.49 cores), and 3 with
 * denoise on every call (0.52 each): test/webrtc/capacity.test.ts checks both against the files, and
 * `rtc-load plan --session-audio-cores` plans with them.
 */
export const AUDIO_CORES_PER_SESSION = {
  passthrough: 0.06,
  mute: 0.06,
  denoise: 0.09,
} as const satisfies Record<AudioEffect, number>;

/** MAX_SESSIONS default: the pod's cores at the 720p figure (the common camera size). */
export const DEFAULT_MAX_SESSIONS = POD_CPU_CORES * SESSIONS_PER_CORE['1280x720'];
