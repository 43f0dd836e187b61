import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { RollingCounts } from './stats/rolling-counts.ts';
import { RollingQuantile } from './stats/rolling-quantile.ts';
import { EFFECT_NAMES } from './effects/catalog.ts';
import type { DeviceKind } from './protocol/worker-messages.ts';
import { REJECT_REASONS } from './errors.ts';
import { CANDIDATE_DROP_REASONS } from './net/candidates.ts';
import { AUDIO_EFFECTS } from './audio/pcm.ts';

/**
 * Every metric the service exports, in one place. The app owns its Registry (no global state), so
 * tests can build as many apps as they like. Names end in their unit; labels have bounded values.
 */

/**
 * histogram_quantile interpolates linearly inside a bucket, so near the SLO the buckets decide how
 * far the p95 the autoscaler reads is from the callers': with the seed's 0.1 / 0.25 / 0.5 s a p95
 * of 287 ms read about 470 ms. From 50 ms to 1 s (a fifth of the 0.25 s SLO to four times it) each
 * bound is at most 1.25 times the one below, and 0.25 s itself is one (the burn-rate SLI counts
 * le="0.25"); below, finer low ones (a 720p blur pass takes well under a millisecond); above, the
 * seed's tail. test/observability/histogram-quantile.test.ts measures the error with Prometheus.
 */
export const LATENCY_BUCKETS_SECONDS = [
  0.0005, 0.001, 0.0025, 0.005, 0.01, 0.02, 0.03, 0.04, 0.05, 0.06, 0.075, 0.09, 0.1, 0.12, 0.15, 0.18, 0.2, 0.225, 0.25, 0.3, 0.35,
  0.4, 0.5, 0.6, 0.75, 0.9, 1, 1.25, 1.5, 2, 2.5, 5, 10,
];
/** The same around the 20 ms frame SLO (FRAME_SLO_MS): steps of at most 1.25 from 4 ms to 100 ms, 20 ms a bound. */
export const FRAME_BUCKETS_SECONDS = [
  0.001, 0.002, 0.003, 0.004, 0.005, 0.006, 0.0075, 0.009, 0.01, 0.012, 0.015, 0.018, 0.02, 0.0225, 0.025, 0.03, 0.035, 0.04, 0.05,
  0.06, 0.075, 0.09, 0.1, 0.25, 0.5, 1,
];

export interface MetricsOptions {
  readonly p95WindowSeconds: number;
  /** Read at scrape time. */
  readonly queueDepth: () => number;
  readonly memoryInflightBytes?: () => number;
  /** How long the oldest /process job waiting for a worker has waited. */
  readonly oldestWaitSeconds?: () => number;
  /** /process refusals held (REFUSAL_HOLD_SECONDS) now. */
  readonly heldRefusals?: () => number;
  /** The devices this pod's jobs may run on (a GPU pod's jobs fall back to the CPU); default the CPU. */
  readonly devices?: readonly DeviceKind[];
}

/** The values each label of a counter may take. */
type LabelSets = Readonly<Record<string, readonly string[]>>;
type LabelsOf<S extends LabelSets> = { readonly [K in keyof S]: S[K][number] };

/** A counter whose labels take only their known values: a new value must join its list to compile. */
export interface KnownCounter<S extends LabelSets> {
  inc(labels: LabelsOf<S>, value?: number): void;
}

/**
 * Every combination of the known values is exported at 0 from the start, so that rates and ratios
 * over the counter read 0 on a fresh pod, not nothing (Prometheus' advice for known label values).
 */
function knownCounter<const S extends LabelSets>(registry: Registry, name: string, help: string, values: S): KnownCounter<S> {
  const labelNames = Object.keys(values);
  const counter = new Counter({ name, help, labelNames, registers: [registry] });
  let combinations: Record<string, string>[] = [{}];
  for (const label of labelNames) combinations = combinations.flatMap((labels) => (values[label] ?? []).map((value) => ({ ...labels, [label]: value })));
  for (const labels of combinations) counter.inc(labels, 0);
  return counter;
}

export type Metrics = ReturnType<typeof createMetrics>;

export function createMetrics(options: MetricsOptions) {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const latencyWindow = new RollingQuantile({ windowSeconds: options.p95WindowSeconds });
  /** /process answers by kind over the same window: the refusal ratio and goodput gauges. */
  const outcomeWindow = new RollingCounts(PROCESS_OUTCOMES, { windowSeconds: options.p95WindowSeconds });
  let eventLoopActiveMs = performance.eventLoopUtilization().active;

  const rejected = knownCounter(registry, 'app_rejected_total', 'Work refused by admission control, by reason', { reason: REJECT_REASONS });
  const iceCandidatesDropped = knownCounter(
    registry,
    'app_ice_candidates_dropped_total',
    'Remote ICE candidates (offers and trickle) never handed to libwebrtc, by reason: loopback, unspecified, multicast, metadata, link_local, private, reserved (unless ICE_CANDIDATE_ALLOW_CIDRS), denied (ICE_CANDIDATE_DENY_CIDRS), hostname (mDNS .local and other names), malformed',
    { reason: CANDIDATE_DROP_REASONS },
  );

  return {
    registry,
    latencyWindow,
    outcomeWindow,
    requests: new Counter({
      name: 'app_requests_total',
      help: 'HTTP requests answered, by route and status code',
      labelNames: ['endpoint', 'status'] as const,
      registers: [registry],
    }),
    requestLatency: new Histogram({
      name: 'app_request_latency_seconds',
      help: 'Server time of successful /process requests, from arrival to the response sent',
      buckets: LATENCY_BUCKETS_SECONDS,
      registers: [registry],
    }),
    requestLatencyP95: new Gauge({
      name: 'app_request_latency_p95_seconds',
      help: 'p95 of app_request_latency_seconds over the last P95_WINDOW_SECONDS; 0 when no request in the window',
      registers: [registry],
      collect() {
        this.set(latencyWindow.quantileSeconds(0.95));
      },
    }),
    inflight: new Gauge({
      name: 'app_inflight_requests',
      help: '/process requests being served (queued or computing)',
      registers: [registry],
    }),
    queueDepth: new Gauge({
      name: 'app_queue_depth',
      help: 'Jobs waiting for a worker thread',
      registers: [registry],
      collect() {
        this.set(options.queueDepth());
      },
    }),
    rejected,
    refusalRatio: new Gauge({
      name: 'app_request_refusal_ratio',
      help: 'Share of /process requests answered 503 (refused: queue, memory, deadline, pressure) over the last P95_WINDOW_SECONDS; 0 when none arrived',
      registers: [registry],
      collect() {
        const { served, refused, other } = outcomeWindow.totals();
        const all = served + refused + other;
        this.set(all === 0 ? 0 : refused / all);
      },
    }),
    goodput: new Gauge({
      name: 'app_goodput_requests_per_second',
      help: '/process requests answered 2xx per second, averaged over the last P95_WINDOW_SECONDS',
      registers: [registry],
      collect() {
        this.set(outcomeWindow.totals().served / outcomeWindow.windowSeconds);
      },
    }),
    eventLoopBusy: new Counter({
      name: 'app_event_loop_busy_seconds_total',
      help: "Time the main thread's event loop spent running callbacks (not idle): its share of a second is its utilisation",
      registers: [registry],
      collect() {
        const active = performance.eventLoopUtilization().active;
        this.inc(Math.max(0, active - eventLoopActiveMs) / 1000);
        eventLoopActiveMs = active;
      },
    }),
    effectDuration: new Histogram({
      name: 'app_effect_duration_seconds',
      help: 'Compute time of one job (all its iterations) on a worker',
      labelNames: ['effect', 'device'] as const,
      buckets: LATENCY_BUCKETS_SECONDS,
      registers: [registry],
    }),
    framesProcessed: knownCounter(registry, 'app_frames_processed_total', 'Frames processed by the effect engine', {
      effect: EFFECT_NAMES,
      device: options.devices ?? (['cpu'] as const satisfies readonly DeviceKind[]),
    }),
    deviceInfo: new Gauge({
      name: 'app_device_info',
      help: 'The effect backend in use (value 1)',
      labelNames: ['device', 'name'] as const,
      registers: [registry],
    }),
    cpuKernelsInfo: new Gauge({
      name: 'app_cpu_kernels_info',
      help: 'The CPU kernels in use (value 1): the WASM build, and the native instruction set beside it (none: WASM alone)',
      labelNames: ['wasm', 'native'] as const,
      registers: [registry],
    }),
    gpuFallbacks: new Counter({
      name: 'app_gpu_fallback_total',
      help: 'Jobs redone on CPU after a CUDA error',
      registers: [registry],
    }),
    frameLatency: new Histogram({
      name: 'app_frame_latency_seconds',
      help: 'WebRTC frame received to processed frame handed to the encoder',
      buckets: FRAME_BUCKETS_SECONDS,
      registers: [registry],
    }),
    sessionsActive: new Gauge({
      name: 'app_webrtc_sessions_active',
      help: 'WebRTC sessions currently open',
      registers: [registry],
    }),
    framesDropped: knownCounter(
      registry,
      'app_frames_dropped_total',
      'WebRTC frames decoded but not processed, by reason: superseded (a newer frame arrived while it waited), overloaded (the in-flight memory budget was full), too_costly (the session\'s effect costs more than MAX_FRAME_EFFECT_MS a frame at its size), too_large (over MAX_FRAME_PIXELS), invalid, failed',
      { reason: FRAME_DROP_REASONS },
    ),
    iceCandidatesDropped,
    sessions: knownCounter(registry, 'app_webrtc_sessions_total', 'WebRTC sessions ended, by outcome', { outcome: SESSION_OUTCOMES }),
    forwarded: knownCounter(
      registry,
      'app_forwarded_requests_total',
      'WHIP/WHEP calls for sessions owned by another replica, by outcome (answered, streamed: a captions stream relayed from the owner, gone, non_member, loop, timeout, failed, too_large, overloaded)',
      { outcome: FORWARD_OUTCOMES },
    ),
    forwardDuration: new Histogram({
      name: 'app_forward_duration_seconds',
      help: "Time from forwarding a WHIP/WHEP call to the owning replica's whole answer (relayed captions streams are not observed: their length is the viewer's)",
      buckets: LATENCY_BUCKETS_SECONDS,
      registers: [registry],
    }),
    deletionCostPatches: knownCounter(
      registry,
      'app_pod_deletion_cost_patches_total',
      "Patches of this pod's controller.kubernetes.io/pod-deletion-cost annotation, by result (ok, failed)",
      { result: ['ok', 'failed'] },
    ),
    jobsCancelled: knownCounter(
      registry,
      'app_jobs_cancelled_total',
      'Admitted jobs stopped before they finished: client_gone (the client went away) or deadline (REQUEST_DEADLINE_SECONDS)',
      { reason: JOB_STOP_REASONS },
    ),
    memoryInflight: new Gauge({
      name: 'app_memory_inflight_bytes',
      help: 'Bytes reserved by requests in flight against MEMORY_BUDGET_BYTES',
      registers: [registry],
      collect() {
        this.set(options.memoryInflightBytes?.() ?? 0);
      },
    }),
    queueOldestWait: new Gauge({
      name: 'app_queue_oldest_wait_seconds',
      help: 'How long the oldest /process job waiting for a worker has waited (0: none waits); past QUEUE_LIFO_AFTER_SECONDS the newest goes first',
      registers: [registry],
      collect() {
        this.set(options.oldestWaitSeconds?.() ?? 0);
      },
    }),
    refusalsHeld: new Gauge({
      name: 'app_refusals_held',
      help: '/process refusals being held until REFUSAL_HOLD_SECONDS after their arrival (at most MAX_HELD_REFUSALS)',
      registers: [registry],
      collect() {
        this.set(options.heldRefusals?.() ?? 0);
      },
    }),
    segmentationInference: new Histogram({
      name: 'app_segmentation_inference_seconds',
      help: 'Time in the person-segmentation model per frame that ran it (background effects)',
      buckets: [0.005, 0.01, 0.02, 0.03, 0.05, 0.075, 0.1, 0.2, 0.5, 1],
      registers: [registry],
    }),
    segmentationMasks: knownCounter(
      registry,
      'app_segmentation_masks_total',
      'Frames of background effects by mask: inferred (the model ran) or reused (the session was behind)',
      { mask: ['inferred', 'reused'] },
    ),
    captionLatency: new Histogram({
      name: 'app_caption_latency_seconds',
      help: "End of speech (as the recogniser's voice activity places it) to the final caption handed to its listeners, translation included",
      buckets: [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.75, 0.9, 1, 1.25, 1.5, 2, 2.5, 3, 4, 5, 7.5, 10],
      registers: [registry],
    }),
    captionEngineSeconds: new Counter({
      name: 'app_caption_engine_seconds_total',
      help: "Time the speech recogniser spent on captioned audio; its rate over app_caption_audio_seconds_total's is the engine time per second of audio",
      registers: [registry],
    }),
    captionAudioSeconds: new Counter({
      name: 'app_caption_audio_seconds_total',
      help: 'Seconds of audio the speech recogniser decoded (16 kHz mono)',
      registers: [registry],
    }),
    captionAudioDropped: knownCounter(
      registry,
      'app_caption_audio_dropped_seconds_total',
      'Seconds of audio never decoded for captions, by reason: queue_full (CAPTIONS_AUDIO_QUEUE_MS was full: the oldest goes), failed (the recogniser failed or its worker died)',
      { reason: ['queue_full', 'failed'] },
    ),
    captions: knownCounter(registry, 'app_captions_total', 'Captions delivered, by kind: partial (while speaking) or final (end of an utterance)', {
      kind: ['partial', 'final'],
    }),
    translations: knownCounter(
      registry,
      'app_translations_total',
      'Final captions sent to translation, by outcome: translated, queue_full (TRANSLATE_QUEUE_MAX), timeout (TRANSLATE_TIMEOUT_MS), failed',
      { outcome: ['translated', 'queue_full', 'timeout', 'failed'] },
    ),
    audioSessionsActive: new Gauge({
      name: 'app_audio_sessions_active',
      help: 'WebRTC sessions whose publisher sends audio (processed by the session\'s audio effect)',
      registers: [registry],
    }),
    audioFramesProcessed: knownCounter(
      registry,
      'app_audio_frames_processed_total',
      "WebRTC audio blocks (10 ms each at 48 kHz) sent back processed, by the session's audio effect",
      { effect: AUDIO_EFFECTS },
    ),
    audioSecondsProcessed: knownCounter(registry, 'app_audio_processed_seconds_total', 'Seconds of WebRTC audio sent back processed, by audio effect', {
      effect: AUDIO_EFFECTS,
    }),
    audioFramesDropped: knownCounter(
      registry,
      'app_audio_frames_dropped_total',
      'WebRTC audio blocks received but not sent back, by reason: overflow (the session\'s AUDIO_BUFFER_MS was full: the oldest goes), too_large (over AUDIO_MAX_BLOCK_SAMPLES), format (denoise: not 48 kHz), failed (the engine failed or its worker died), superseded (waiting when the effect changed)',
      { reason: AUDIO_DROP_REASONS },
    ),
    audioEngineSeconds: knownCounter(
      registry,
      'app_audio_engine_seconds_total',
      'Compute time of the audio engines (rnnoise: denoise); its rate over that of app_audio_processed_seconds_total is the engine time per second of audio',
      { engine: AUDIO_ENGINES },
    ),
    audioLatency: new Histogram({
      name: 'app_audio_latency_seconds',
      help: 'WebRTC audio block received to processed block handed to the encoder (the wait and the compute, without an engine\'s own algorithmic delay)',
      buckets: [0.0001, 0.00025, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1],
      registers: [registry],
    }),
  };
}

/** How a /process answer counts in the refusal ratio: 2xx served, 503 refused, anything else other. */
export const PROCESS_OUTCOMES = ['served', 'refused', 'other'] as const;
export type ProcessOutcome = (typeof PROCESS_OUTCOMES)[number];

export function processOutcome(statusCode: number): ProcessOutcome {
  if (statusCode >= 200 && statusCode < 300) return 'served';
  return statusCode === 503 ? 'refused' : 'other';
}

/**
 * Why a decoded WebRTC frame was not processed (app_frames_dropped_total{reason}). Every one is
 * skipped before it costs anything beyond its decode: no copy, no effect, no encode.
 */
export const FRAME_DROP_REASONS = ['superseded', 'overloaded', 'too_costly', 'too_large', 'invalid', 'failed'] as const;
export type FrameDropReason = (typeof FRAME_DROP_REASONS)[number];

/**
 * Why a received WebRTC audio block was not sent back (app_audio_frames_dropped_total{reason}): see
 * src/webrtc/audio-path.ts.
 */
export const AUDIO_DROP_REASONS = ['overflow', 'too_large', 'format', 'failed', 'superseded'] as const;
export type AudioDropReason = (typeof AUDIO_DROP_REASONS)[number];

/** The audio engines whose compute time is counted (app_audio_engine_seconds_total{engine}). */
export const AUDIO_ENGINES = ['rnnoise'] as const;

/**
 * How a WebRTC session ended (app_webrtc_sessions_total{outcome}): SessionOutcome in
 * src/webrtc/publisher-session.ts, or `rejected`, refused before it began.
 */
export const SESSION_OUTCOMES = ['closed', 'failed', 'idle', 'drained', 'connect_timeout', 'frame_too_large', 'rejected'] as const;
export type SessionMetricOutcome = (typeof SESSION_OUTCOMES)[number];

/** Why an admitted job was stopped (app_jobs_cancelled_total{reason}): StopReason in src/engine/job-stop.ts. */
export const JOB_STOP_REASONS = ['client_gone', 'deadline'] as const;

/** What became of a call forwarded to the replica that owns its session (app_forwarded_requests_total{outcome}). */
export const FORWARD_OUTCOMES = ['answered', 'streamed', 'gone', 'non_member', 'loop', 'timeout', 'failed', 'too_large', 'overloaded'] as const;
export type ForwardOutcome = (typeof FORWARD_OUTCOMES)[number];
