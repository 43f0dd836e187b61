/**
 * The capacity planner's arithmetic, apart from any I/O: from (rate, p95) steps of a ramp
 * against one pod, the knee (the highest rate whose p95 stays under the SLO), then the pods,
 * GPUs and autoscaler targets a given load needs.
 */

export interface PlanStep {
  /** Offered requests per second during the step. */
  ratePerSecond: number;
  /** Requests per second sent in the step (by intended send time; below the rate when interrupted). */
  throughputPerSecond: number;
  p95Ms: number;
  requests: number;
}

export interface PlanTargets {
  targetRps?: number | undefined;
  targetSessions?: number | undefined;
  /** Frames per second of one WebRTC session: a session costs this many requests' work per second. */
  sessionFps: number;
  gpusPerPod: number;
  /** Fraction of the knee a pod should run at, leaving room for bursts and scale-up time. */
  utilization: number;
}

export interface CapacityPlan {
  sloP95Ms: number;
  steps: PlanStep[];
  /** The last step under the SLO before the first one over it; null when even the first is over. */
  knee: PlanStep | null;
  /** True when no step went over the SLO: the pod can do at least this much, the ramp stopped first. */
  kneeIsLowerBound: boolean;
  /** Requests per second one pod serves within the SLO. */
  podCapacityRps: number;
  /** Sessions one pod serves within the SLO, at sessionFps. */
  podCapacitySessions: number;
  recommendation?: {
    pods: number;
    gpus: number;
    /** Pods at the knee exactly, with no headroom. */
    minimumPods: number;
    /** What to put in the autoscaler: KEDA's p95 threshold, replica bounds, and a per-pod RPS target. */
    autoscaler: { p95ThresholdSeconds: number; minReplicaCount: number; maxReplicaCount: number; targetRpsPerPod: number };
  };
}

/**
 * The knee: the last step under the SLO before the first two steps in a row over it (one step
 * over and the next under is noise: a GC pause, a busy neighbour, not saturation).
 */
export function findKnee(steps: readonly PlanStep[], sloP95Ms: number): { knee: PlanStep | null; lowerBound: boolean } {
  let knee: PlanStep | null = null;
  for (let i = 0; i < steps.length; i++) {
    const step = steps[i] as PlanStep;
    if (step.p95Ms <= sloP95Ms) {
      knee = step;
      continue;
    }
    const next = steps[i + 1];
    if (next === undefined || next.p95Ms > sloP95Ms) return { knee, lowerBound: false };
  }
  return { knee, lowerBound: knee !== null };
}

export function planCapacity(steps: readonly PlanStep[], sloP95Ms: number, targets: PlanTargets): CapacityPlan {
  const sorted = [...steps].sort((a, b) => a.ratePerSecond - b.ratePerSecond);
  const { knee, lowerBound } = findKnee(sorted, sloP95Ms);
  const podCapacityRps = knee ? Math.min(knee.ratePerSecond, knee.throughputPerSecond) : 0;
  const podCapacitySessions = Math.floor(podCapacityRps / targets.sessionFps);
  const plan: CapacityPlan = { sloP95Ms, steps: sorted, knee, kneeIsLowerBound: lowerBound, podCapacityRps: round2(podCapacityRps), podCapacitySessions };
  const demandRps = (targets.targetRps ?? 0) + (targets.targetSessions ?? 0) * targets.sessionFps;
  if (demandRps > 0 && podCapacityRps > 0) {
    const minimumPods = Math.ceil(demandRps / podCapacityRps);
    const pods = Math.max(minimumPods, Math.ceil(demandRps / (podCapacityRps * targets.utilization)));
    plan.recommendation = {
      pods,
      gpus: pods * targets.gpusPerPod,
      minimumPods,
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
