/**
 * The WebRTC control loop over time: calls arriving, running and ending on pods; KEDA polling the
 * ScaledObject's session trigger every 15 s; the HPA turning it into replicas by its own rules
 * (tolerance, scale-up policies, the scale-down stabilisation window and rate, min and max, from
 * k8s/hpa-keda-latency.yaml). The trigger's value comes from a model of its PromQL, and promtool
 * evaluates the real query on the same pods to show the model is the query.
 *
 * What it must show: one slow call (a costly effect, a weak publisher: its frames late and half of
 * them dropped) can neither raise the replicas nor hold them up; real load still scales out and
 * back; and the trigger this replaces (frame p95 x pods against 20 ms) ran away on that one call.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import YAML from 'yaml';
import type { IScaledObject } from '@kubernetes-models/keda/keda.sh/v1alpha1/ScaledObject';
import type { IDeployment } from 'kubernetes-models/apps/v1/Deployment';
import { haveTool } from '../tools.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const load = <T>(file: string): T => YAML.parse(fs.readFileSync(path.join(ROOT, file), 'utf8')) as T;
const keda = load<IScaledObject>('k8s/hpa-keda-latency.yaml');
const deployment = load<IDeployment>('k8s/base/gpu-media-deployment.yaml');
const env = (name: string): number => Number(deployment.spec?.template.spec?.containers[0]?.env?.find((e) => e.name === name)?.value);

const MAX_SESSIONS = env('MAX_SESSIONS');
const FRAME_SLO_MS = env('FRAME_SLO_MS');
const sessionTrigger = keda.spec.triggers.find((t) => t.name === 'webrtc-session-load');
assert.ok(sessionTrigger?.metadata.query);
const SESSION_QUERY = sessionTrigger.metadata.query;
const SESSIONS_PER_POD = Number(sessionTrigger.metadata.threshold);
const MIN_REPLICAS = keda.spec.minReplicaCount ?? 1;
const MAX_REPLICAS = keda.spec.maxReplicaCount ?? 100;
const POLL_SECONDS = keda.spec.pollingInterval ?? 30;
const behavior = keda.spec.advanced?.horizontalPodAutoscalerConfig?.behavior;
const SCALE_DOWN_WINDOW_SECONDS = behavior?.scaleDown?.stabilizationWindowSeconds ?? 300;
/** kube-controller-manager's --horizontal-pod-autoscaler-tolerance. */
const HPA_TOLERANCE = 0.1;
/** A new pod takes this long to pass readiness (the image is on the node, the node is there). */
const POD_START_SECONDS = 30;

/** One call: the frames its publisher sends, how late the processed ones are, and the share dropped for overload. */
interface Call {
  readonly fps: number;
  readonly latencyMs: number;
  /** Frames dropped because the pod could not keep up (superseded, overloaded). */
  readonly dropShare: number;
}
const HEALTHY: Call = { fps: 30, latencyMs: 9, dropShare: 0 };
/** The slow call: frame p95 40 ms, half its frames superseded. */
const SLOW: Call = { fps: 30, latencyMs: 40, dropShare: 0.5 };

// ---------------------------------------------------------------------------------------------
// The trigger, modelled

/** What the pod reads in the session trigger: its calls, or MAX_SESSIONS when it is saturated. */
function podLoad(calls: readonly Call[]): number {
  const processed = calls.map((c) => ({ latencyMs: c.latencyMs, frames: c.fps * (1 - c.dropShare) }));
  const frames = processed.reduce((sum, p) => sum + p.frames, 0);
  // The median frame's latency (histogram_quantile(0.5) over the pod's frames).
  let below = 0;
  let medianMs = 0;
  for (const p of [...processed].sort((a, b) => a.latencyMs - b.latencyMs)) {
    below += p.frames;
    if (below >= frames / 2) {
      medianMs = p.latencyMs;
      break;
    }
  }
  const received = calls.reduce((sum, c) => sum + c.fps, 0);
  const dropped = calls.reduce((sum, c) => sum + c.fps * c.dropShare, 0);
  const saturated = calls.length >= 3 && (medianMs > FRAME_SLO_MS || dropped / received > 0.5);
  return Math.max(calls.length, saturated ? MAX_SESSIONS : 0);
}

const sessionLoad = (pods: readonly (readonly Call[])[]): number => pods.reduce((sum, calls) => sum + podLoad(calls), 0);

/** The trigger it replaces: the fleet's frame p95 times the pods, against the frame SLO. */
function framePodsP95(pods: readonly (readonly Call[])[]): number {
  const frames = pods.flatMap((calls) => calls.map((c) => ({ latencyMs: c.latencyMs, frames: c.fps * (1 - c.dropShare) })));
  const total = frames.reduce((sum, f) => sum + f.frames, 0);
  if (total === 0) return 0;
  let below = 0;
  for (const f of frames.sort((a, b) => a.latencyMs - b.latencyMs)) {
    below += f.frames;
    if (below >= 0.95 * total) return (f.latencyMs / 1000) * pods.length;
  }
  return 0;
}

// ---------------------------------------------------------------------------------------------
// The HPA (pkg/controller/podautoscaler: replica_calculator.go, horizontal.go)

/** One AverageValue external metric: inside the tolerance the current count, else ceil(value / target). */
function proposal(value: number, target: number, current: number): number {
  const usage = value / (target * current);
  return Math.abs(usage - 1) <= HPA_TOLERANCE ? current : Math.ceil(value / target);
}

class Hpa {
  replicas: number;
  readonly #recommendations: { atSeconds: number; replicas: number }[] = [];
  readonly #scaleDowns: number[] = [];

  constructor(replicas: number) {
    this.replicas = replicas;
  }

  /** One sync: the metrics' proposals, stabilised, rate-limited and clamped. */
  sync(atSeconds: number, proposals: readonly number[]): void {
    const current = this.replicas;
    const desired = Math.max(0, ...proposals);
    this.#recommendations.push({ atSeconds, replicas: desired });
    while ((this.#recommendations[0]?.atSeconds ?? atSeconds) < atSeconds - SCALE_DOWN_WINDOW_SECONDS) this.#recommendations.shift();
    // Scale up at once (window 0); down to the highest recommendation of the window.
    const downTo = Math.max(...this.#recommendations.map((r) => r.replicas));
    let next = current;
    if (desired > current) next = desired;
    else if (downTo < current) next = downTo;
    // Policies: up by 100% or 4 pods per 15 s, whichever is more; down by 1 pod per 120 s.
    if (next > current) next = Math.min(next, Math.max(2 * current, current + 4));
    if (next < current) {
      const recent = this.#scaleDowns.filter((t) => t > atSeconds - 120).length;
      next = Math.max(next, current - Math.max(0, 1 - recent));
    }
    next = Math.min(MAX_REPLICAS, Math.max(MIN_REPLICAS, next));
    if (next < current) for (let i = 0; i < current - next; i++) this.#scaleDowns.push(atSeconds);
    this.replicas = next;
  }
}

// ---------------------------------------------------------------------------------------------
// The cluster

interface Pod {
  readonly readyAtSeconds: number;
  readonly calls: Call[];
}

interface Scenario {
  /** Calls that should be running at this second (new ones are placed, gone ones end). */
  readonly calls: (atSeconds: number) => readonly Call[];
  readonly seconds: number;
  readonly startReplicas?: number;
  /** The trigger to drive the HPA with (default the manifest's session trigger, modelled). */
  readonly trigger?: 'session-load' | 'frame-p95-x-pods';
}

/**
 * Runs a scenario second by second: calls placed on the least loaded ready pod that admits them
 * (under MAX_SESSIONS, as the WHIP admission does; a refused caller retries the next second), the
 * ScaledObject polled and the HPA synced every POLL_SECONDS, pods started and (emptiest first)
 * removed. Returns the replicas at each sync.
 */
function simulate(scenario: Scenario): number[] {
  const hpa = new Hpa(scenario.startReplicas ?? MIN_REPLICAS);
  let pods: Pod[] = Array.from({ length: hpa.replicas }, () => ({ readyAtSeconds: 0, calls: [] }));
  const history: number[] = [];
  for (let t = 0; t <= scenario.seconds; t++) {
    // Calls that ended leave their pods; the others are still to be placed.
    const remaining = [...scenario.calls(t)];
    for (const pod of pods) {
      for (let i = pod.calls.length - 1; i >= 0; i--) {
        const at = remaining.indexOf(pod.calls[i] as Call);
        if (at >= 0) remaining.splice(at, 1);
        else pod.calls.splice(i, 1);
      }
    }
    for (const call of remaining) {
      const open = pods.filter((p) => p.readyAtSeconds <= t && p.calls.length < MAX_SESSIONS).sort((a, b) => a.calls.length - b.calls.length);
      open[0]?.calls.push(call);
    }
    if (t % POLL_SECONDS !== 0) continue;
    const ready = pods.filter((p) => p.readyAtSeconds <= t).map((p) => p.calls);
    const value = scenario.trigger === 'frame-p95-x-pods' ? framePodsP95(ready) : sessionLoad(ready);
    const threshold = scenario.trigger === 'frame-p95-x-pods' ? FRAME_SLO_MS / 1000 : SESSIONS_PER_POD;
    hpa.sync(t, [proposal(value, threshold, hpa.replicas)]);
    while (pods.length < hpa.replicas) pods.push({ readyAtSeconds: t + POD_START_SECONDS, calls: [] });
    if (pods.length > hpa.replicas) {
      // The ReplicaSet removes the emptiest pods first (pod-deletion-cost); their calls end, and the callers come back.
      pods = [...pods].sort((a, b) => b.calls.length - a.calls.length).slice(0, hpa.replicas);
    }
    history.push(hpa.replicas);
  }
  return history;
}

const minutes = (m: number): number => m * 60;
const atMinute = (history: readonly number[], m: number): number => history[Math.floor(minutes(m) / POLL_SECONDS)] ?? NaN;

// ---------------------------------------------------------------------------------------------

test('the manifest: session load per pod against 75% of MAX_SESSIONS, a saturated pod read as full', () => {
  assert.equal(MAX_SESSIONS, 4);
  assert.equal(SESSIONS_PER_POD, MAX_SESSIONS * 0.75);
  assert.ok(SESSION_QUERY.includes(`${MAX_SESSIONS} + 0 * (`));
  assert.match(SESSION_QUERY, />= 3\)/, 'saturation needs 3 calls, so that one holds at most a third of the frames');
  assert.doesNotMatch(SESSION_QUERY, /count\(up/, 'the value never grows with the pod count');
});

test('one slow call alone neither raises the replicas nor holds them; the frame p95 x pods trigger ran away on it', () => {
  const slowOnly = simulate({ calls: () => [SLOW], seconds: minutes(30) });
  assert.deepEqual(new Set(slowOnly), new Set([1]), 'one pod for one call, however slow');

  const before = simulate({ calls: () => [SLOW], seconds: minutes(30), trigger: 'frame-p95-x-pods' });
  assert.equal(Math.max(...before), MAX_REPLICAS, `ceil(pods x 40 ms / 20 ms) doubles at every poll: ${before.slice(0, 8).join(', ')} …`);
  assert.equal(before.at(-1), MAX_REPLICAS, 'and never comes down');

  // After a burst of calls the fleet is at 4; the burst ends and only the slow call stays.
  const slow = SLOW;
  const burst = Array.from({ length: 11 }, () => ({ ...HEALTHY }));
  const afterBurst = simulate({ calls: (t) => (t < minutes(6) ? [slow, ...burst] : [slow]), seconds: minutes(30) });
  assert.ok(atMinute(afterBurst, 5) >= 4, `the burst scaled out: ${afterBurst.join(', ')}`);
  // Down after the 5-minute window, one pod per 2 minutes: 4 -> 1 takes 5 + 3 x 2 minutes.
  assert.equal(atMinute(afterBurst, 6 + 5 + 3 * 2 + 1), 1, `back to one pod: ${afterBurst.join(', ')}`);
  const heldBefore = simulate({ calls: (t) => (t < minutes(6) ? [slow, ...burst] : [slow]), seconds: minutes(30), trigger: 'frame-p95-x-pods' });
  assert.equal(heldBefore.at(-1), MAX_REPLICAS, 'the old trigger held the maximum after the burst');
});

test('a slow call among healthy ones does not make its pod read full', () => {
  // Three calls on one pod (its target), one of them slow: a third of the frames late, a sixth dropped.
  const mixed = simulate({ calls: () => [SLOW, { ...HEALTHY }, { ...HEALTHY }], seconds: minutes(20) });
  assert.deepEqual(new Set(mixed), new Set([1]));
  assert.equal(podLoad([SLOW, HEALTHY, HEALTHY]), 3);
  assert.equal(podLoad([SLOW, SLOW]), 2, 'two calls never saturate a pod: either could be the slow one');
});

test('real load scales out and back: calls per pod, and a saturated pod counted as full', () => {
  // 12 healthy calls arrive over 4 minutes, run 6 minutes, end.
  const calls = Array.from({ length: 12 }, () => ({ ...HEALTHY }));
  const ramp = simulate({ calls: (t) => (t < minutes(10) ? calls.slice(0, Math.min(12, Math.floor(t / 20) + 1)) : []), seconds: minutes(30) });
  assert.equal(Math.max(...ramp), 12 / SESSIONS_PER_POD, `ceil(12 / 3) pods at the peak, never more: ${ramp.join(', ')}`);
  assert.equal(ramp.at(-1), 1, 'back to one after the calls end');

  // Three calls with a heavy effect each on one pod: most of its frames late, the pod saturated;
  // it reads full, so the next calls get a pod of their own.
  const heavy = { fps: 30, latencyMs: 35, dropShare: 0.2 };
  assert.equal(podLoad([heavy, heavy, heavy]), MAX_SESSIONS);
  const saturated = simulate({ calls: () => [heavy, { ...heavy }, { ...heavy }], seconds: minutes(20) });
  assert.equal(saturated.at(-1), 2, `one more pod for new calls, and no more: ${saturated.join(', ')}`);
});

test('promtool evaluates the manifest\'s query to the model\'s value on the same pods', (t) => {
  if (!haveTool(t, 'promtool')) return;
  const cases: { name: string; pods: Call[][] }[] = [
    { name: 'idle', pods: [[], []] },
    { name: 'one slow call alone', pods: [[SLOW]] },
    { name: 'a slow call with two healthy ones', pods: [[SLOW, HEALTHY, HEALTHY], [HEALTHY]] },
    { name: 'two slow calls', pods: [[SLOW, SLOW]] },
    { name: 'a saturated pod (frames late) and a healthy one', pods: [[{ fps: 30, latencyMs: 35, dropShare: 0.2 }, { fps: 30, latencyMs: 35, dropShare: 0.2 }, { fps: 30, latencyMs: 35, dropShare: 0.2 }], [HEALTHY, HEALTHY]] },
    { name: 'a saturated pod (frames dropped)', pods: [[{ fps: 30, latencyMs: 12, dropShare: 0.7 }, { fps: 30, latencyMs: 12, dropShare: 0.7 }, { fps: 30, latencyMs: 12, dropShare: 0.7 }, { fps: 30, latencyMs: 12, dropShare: 0.7 }]] },
    { name: 'full pods', pods: [[HEALTHY, HEALTHY, HEALTHY, HEALTHY], [HEALTHY, HEALTHY, HEALTHY, HEALTHY], [HEALTHY]] },
  ];
  const BOUNDS = [0.005, 0.01, 0.02, 0.05, 0.1];
  const STEP_SECONDS = 15;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rtc-control-loop-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const tests = cases.map((c) => {
    const series: { series: string; values: string }[] = [];
    const scope = 'namespace="rtc", service="gpu-media"';
    c.pods.forEach((calls, i) => {
      const pod = `pod="gpu-media-${i}"`;
      const perStep = (perSecond: number) => `0+${perSecond * STEP_SECONDS}x20`;
      series.push({ series: `app_webrtc_sessions_active{${scope}, ${pod}}`, values: `${calls.length}x20` });
      for (const le of [...BOUNDS, Infinity]) {
        const frames = calls.filter((call) => call.latencyMs / 1000 <= le).reduce((sum, call) => sum + call.fps * (1 - call.dropShare), 0);
        series.push({ series: `app_frame_latency_seconds_bucket{${scope}, ${pod}, le="${le === Infinity ? '+Inf' : le}"}`, values: perStep(frames) });
      }
      series.push({ series: `app_frame_latency_seconds_count{${scope}, ${pod}}`, values: perStep(calls.reduce((sum, call) => sum + call.fps * (1 - call.dropShare), 0)) });
      series.push({ series: `app_frames_dropped_total{${scope}, ${pod}, reason="superseded"}`, values: perStep(calls.reduce((sum, call) => sum + call.fps * call.dropShare, 0)) });
      series.push({ series: `app_frames_dropped_total{${scope}, ${pod}, reason="too_costly"}`, values: perStep(5) });
    });
    return { name: c.name, interval: `${STEP_SECONDS}s`, input_series: series, promql_expr_test: [{ expr: SESSION_QUERY, eval_time: '4m', exp_samples: [{ labels: '{}', value: sessionLoad(c.pods) }] }] };
  });
  fs.writeFileSync(path.join(dir, 'rules.yaml'), 'groups: []\n');
  fs.writeFileSync(path.join(dir, 'test.yaml'), YAML.stringify({ rule_files: ['rules.yaml'], evaluation_interval: '15s', tests }));
  const result = spawnSync('promtool', ['test', 'rules', path.join(dir, 'test.yaml')], { encoding: 'utf8', timeout: 60_000 });
  assert.equal(result.status, 0, `${result.stdout}${result.stderr}`);
});
