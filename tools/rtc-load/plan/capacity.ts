/**
 * The capacity planner's arithmetic, apart from any I/O: from the steps of a ramp against one
 * pod (each held several times), the knee (the highest rate the pod serves within the SLO), then
 * the pods, GPUs and autoscaler targets a given load needs.
 *
 * Built to hold on a noisy machine: a step's figures are the medians of its repeats (one bad
 * repeat cannot move them), and a step over the limits counts only when the next higher step is
 * over them too (one bad step below the knee is noise, not saturation).
 */

/** One hold of one step. */
export interface PlanWindow {
  /** Requests per second sent (by intended send time; below the rate when interrupted). */
  throughputPerSecond: number;
  /** Served (2xx) per second. */
  goodputPerSecond: number;
  /** Refused (503, 429) over all answers. */
  refusalRatio: number;
  /** Served p95. */
  p95Ms: number;
  requests: number;
}

export interface PlanStep {
  /** Offered requests per second during the step. */
  ratePerSecond: number;
  /** Medians over the repeats. */
  throughputPerSecond: number;
  goodputPerSecond: number;
  p95Ms: number;
  /** Over all the repeats together. */
  refusalRatio: number;
  requests: number;
  repeats: PlanWindow[];
}

export type StepVerdict = 'within' | 'over' | 'noise';

export interface PlanTargets {
  targetRps?: number | undefined;
  targetSessions?: number | undefined;
  /** Frames per second of one WebRTC session: a session costs this many requests' work per second. */
  sessionFps: number;
  /**
   * Cores one session's audio costs besides its video (bench/results/audio-capacity.json, by audio
   * effect), and the cores of the pod the ramp ran against: at the knee a core serves knee/podCores
   * requests a second, so the audio costs sessionAudioCores x that many requests' work per second.
   */
  sessionAudioCores?: number | undefined;
  podCores?: number | undefined;
  gpusPerPod: number;
  /** Fraction of the knee a pod should run at, leaving room for bursts and scale-up time. */
  utilization: number;
}

export interface CapacityPlan {
  sloP95Ms: number;
  /** A step under this share of its offered rate served is over the limits, whatever its p95. */
  minGoodputShare: number;
  steps: PlanStep[];
  /** Per step: within the limits, over them, or over them once with the next step within (noise). */
  verdicts: StepVerdict[];
  /** The last step within the limits before the first confirmed breach; null when the first step breaches. */
  knee: PlanStep | null;
  /** True when no breach was confirmed: the knee is above the ramp, and the pod does at least the knee's rate. */
  kneeIsLowerBound: boolean;
  /** Requests per second one pod serves within the SLO (at least this when kneeIsLowerBound). */
  podCapacityRps: number;
  /** Sessions one pod serves within the SLO, each costing sessionRps. */
  podCapacitySessions: number;
  /** One session's cost in requests' work per second: its frames, and its audio as the pod's cores price it at the knee. */
  sessionRps: number;
  recommendation?: {
    pods: number;
    gpus: number;
    /** Pods at the knee exactly, with no headroom. */
    minimumPods: number;
    /** True when the knee is a lower bound: the load needs at most this many pods. */
    podsAreUpperBound: boolean;
    /** What to put in the autoscaler: KEDA's p95 threshold, replica bounds, and a per-pod RPS target. */
    autoscaler: { p95ThresholdSeconds: number; minReplicaCount: number; maxReplicaCount: number; targetRpsPerPod: number };
  };
}

/** Serving less than 90% of what is offered is saturation, even when the served p95 looks fine. */
export const MIN_GOODPUT_SHARE = 0.9;

export function median(values: readonly number[]): number {
  if (values.length === 0) return 0;
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? (sorted[middle] ?? 0) : ((sorted[middle - 1] ?? 0) + (sorted[middle] ?? 0)) / 2;
}

/** One step from its repeats: medians of each figure, the refusal ratio over them all. */
export function stepOf(ratePerSecond: number, repeats: readonly PlanWindow[]): PlanStep {
  const requests = repeats.reduce((sum, w) => sum + w.requests, 0);
  // Weighted by each repeat's requests, so a short interrupted repeat counts for less.
  const refused = repeats.reduce((sum, w) => sum + w.refusalRatio * w.requests, 0);
  return {
    ratePerSecond,
    throughputPerSecond: round2(median(repeats.map((w) => w.throughputPerSecond))),
    goodputPerSecond: round2(median(repeats.map((w) => w.goodputPerSecond))),
    p95Ms: round3(median(repeats.map((w) => w.p95Ms))),
    refusalRatio: requests > 0 ? Math.round((refused / requests) * 10_000) / 10_000 : 0,
    requests,
    repeats: [...repeats],
  };
}

/** Over the SLO, or serving less than MIN_GOODPUT_SHARE of the offered rate. */
export function breaches(step: PlanStep, sloP95Ms: number): boolean {
  return step.p95Ms > sloP95Ms || step.goodputPerSecond < MIN_GOODPUT_SHARE * step.ratePerSecond;
}

/**
 * The knee: the last step within the limits before the first confirmed breach, a breach being
 * confirmed when the next higher step breaches too (or when it is the top step: nothing above it
 * says otherwise). A breach followed by a step within is noise: a GC pause, a busy neighbour.
 * Steps must be sorted by rate.
 */
export function findKnee(steps: readonly PlanStep[], sloP95Ms: number): { knee: PlanStep | null; lowerBound: boolean; verdicts: StepVerdict[] } {
  const over = steps.map((step) => breaches(step, sloP95Ms));
  const verdicts: StepVerdict[] = over.map((isOver, i) => (!isOver ? 'within' : i + 1 < over.length && !over[i + 1] ? 'noise' : 'over'));
  let knee: PlanStep | null = null;
  for (let i = 0; i < steps.length; i++) {
    if (verdicts[i] === 'over') return { knee, lowerBound: false, verdicts };
    if (verdicts[i] === 'within') knee = steps[i] ?? null;
  }
  return { knee, lowerBound: knee !== null, verdicts };
}

export function planCapacity(steps: readonly PlanStep[], sloP95Ms: number, targets: PlanTargets): CapacityPlan {
  const sorted = [...steps].sort((a, b) => a.ratePerSecond - b.ratePerSecond);
  const { knee, lowerBound, verdicts } = findKnee(sorted, sloP95Ms);
  const podCapacityRps = knee ? Math.min(knee.ratePerSecond, knee.goodputPerSecond) : 0;
  const sessionRps = targets.sessionFps + ((targets.sessionAudioCores ?? 0) * podCapacityRps) / (targets.podCores ?? 1);
  const podCapacitySessions = sessionRps > 0 ? Math.floor(podCapacityRps / sessionRps) : 0;
  const plan: CapacityPlan = {
    sloP95Ms,
    minGoodputShare: MIN_GOODPUT_SHARE,
    steps: sorted,
    verdicts,
    knee,
    kneeIsLowerBound: lowerBound,
    podCapacityRps: round2(podCapacityRps),
    podCapacitySessions,
    sessionRps: round2(sessionRps),
  };
  const demandRps = (targets.targetRps ?? 0) + (targets.targetSessions ?? 0) * sessionRps;
  if (demandRps > 0 && podCapacityRps > 0) {
    const minimumPods = Math.ceil(demandRps / podCapacityRps);
    const pods = Math.max(minimumPods, Math.ceil(demandRps / (podCapacityRps * targets.utilization)));
    plan.recommendation = {
      pods,
      gpus: pods * targets.gpusPerPod,
      minimumPods,
      podsAreUpperBound: lowerBound,
      autoscaler: {
        p95ThresholdSeconds: sloP95Ms / 1000,
        minReplicaCount: 1,
        maxReplicaCount: pods,
        targetRpsPerPod: round2(podCapacityRps * targets.utilization),
      },
    };
  }
  return plan;
}

function round2(value: number): number {
  return Math.round(value * 100) / 100;
}

function round3(value: number): number {
  return Math.round(value * 1000) / 1000;
}
