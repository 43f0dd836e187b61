import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'node:test';
import { findKnee, planCapacity, stepOf, type PlanStep, type PlanWindow } from '../../tools/rtc-load/plan/capacity.ts';
import { parsePlanCommandLine, stagesPerPass, stepsOfRamp, stepsOfStages } from '../../tools/rtc-load/plan/args.ts';
import { formatPlan } from '../../tools/rtc-load/plan/report.ts';
import type { StageReport } from '../../tools/rtc-load/http/report.ts';
import { startServer as startRealServer } from '../helpers-process.ts';
import { runRtcLoad, startServer } from './fixtures.ts';

const TARGETS = { sessionFps: 30, gpusPerPod: 1, utilization: 0.8 };

/** One hold: `p95Ms`, serving `servedShare` of the rate. */
function hold(ratePerSecond: number, p95Ms: number, servedShare = 1): PlanWindow {
  return { throughputPerSecond: ratePerSecond, goodputPerSecond: ratePerSecond * servedShare, refusalRatio: 1 - servedShare, p95Ms, requests: ratePerSecond * 10 };
}

const step = (ratePerSecond: number, p95Ms: number, servedShare = 1): PlanStep => stepOf(ratePerSecond, [hold(ratePerSecond, p95Ms, servedShare)]);

test('planCapacity: the knee, the pods, GPUs and autoscaler settings', () => {
  const plan = planCapacity([step(30, 90), step(10, 40), step(20, 60), step(40, 400), step(50, 900)], 250, { ...TARGETS, targetRps: 200, gpusPerPod: 2 });
  assert.equal(plan.knee?.ratePerSecond, 30);
  assert.equal(plan.kneeIsLowerBound, false);
  assert.equal(plan.podCapacityRps, 30);
  assert.equal(plan.podCapacitySessions, 1);
  // 200 req/s at 0.8 × 30 per pod: ceil(8.33) = 9 pods, 18 GPUs; 7 at the knee exactly.
  assert.deepEqual(plan.recommendation, {
    pods: 9,
    gpus: 18,
    minimumPods: 7,
    podsAreUpperBound: false,
    autoscaler: { p95ThresholdSeconds: 0.25, minReplicaCount: 1, maxReplicaCount: 9, targetRpsPerPod: 24 },
  });
  // Sessions count as fps requests each: 10 sessions at 30 fps = 300 req/s.
  assert.equal(planCapacity([step(100, 10), step(110, 400)], 250, { ...TARGETS, targetSessions: 10 }).recommendation?.pods, 4);
  assert.equal(planCapacity([step(10, 300)], 250, TARGETS).knee, null);
});

test("planCapacity: a session's audio costs its cores at the pod's price of a request", () => {
  // Knee 300 req/s on 2 cores: a core serves 150 req/s, so 0.2 cores of audio cost 30 req/s more per session.
  const steps = [step(300, 100), step(330, 400), step(360, 500)];
  const plain = planCapacity(steps, 250, { ...TARGETS, targetSessions: 16 });
  const withAudio = planCapacity(steps, 250, { ...TARGETS, targetSessions: 16, sessionAudioCores: 0.2, podCores: 2 });
  assert.equal(plain.sessionRps, 30);
  assert.equal(plain.podCapacitySessions, 10);
  assert.equal(withAudio.sessionRps, 60);
  assert.equal(withAudio.podCapacitySessions, 5);
  // 16 sessions: 480 req/s at 240 per pod is 2 pods; with audio 960 req/s is 4.
  assert.equal(plain.recommendation?.pods, 2);
  assert.equal(withAudio.recommendation?.pods, 4);
  const parsed = parsePlanCommandLine(['http://127.0.0.1:1/process', '--session-audio-cores', '0.05', '--pod-cores', '4']);
  assert.ok(parsed.kind === 'run' && parsed.options.targets.sessionAudioCores === 0.05 && parsed.options.targets.podCores === 4);
});

test('a step that serves under 90% of its offered rate breaches, however fast its served answers', () => {
  // Fast refusals keep the served p95 low past saturation: goodput finds the knee.
  const steps = [step(10, 40), step(20, 45), step(30, 50, 0.95), step(40, 50, 0.7), step(50, 50, 0.55)];
  const { knee, lowerBound, verdicts } = findKnee(steps, 250);
  assert.equal(knee?.ratePerSecond, 30);
  assert.equal(lowerBound, false);
  assert.deepEqual(verdicts, ['within', 'within', 'within', 'over', 'over']);
});

/** Ten steps of three holds, 10 to 100 req/s, saturating above 60: within below, over above. */
function sequence(): PlanWindow[][] {
  return Array.from({ length: 10 }, (_, i) => {
    const rate = 10 * (i + 1);
    return [0.95, 1, 1.05].map((jitter) => (rate <= 60 ? hold(rate, (40 + rate) * jitter) : hold(rate, (300 + 10 * rate) * jitter, 0.85)));
  });
}

const stepsOf = (windows: PlanWindow[][]): PlanStep[] => windows.map((holds, i) => stepOf(10 * (i + 1), holds));

test('knee robustness: one outlier hold anywhere, or one outlier step away from the knee, does not move it', () => {
  const clean = findKnee(stepsOf(sequence()), 250);
  assert.equal(clean.knee?.ratePerSecond, 60);
  assert.equal(clean.lowerBound, false);
  const outliers: Array<[string, (w: PlanWindow) => PlanWindow]> = [
    ['a stall', (w) => ({ ...w, p95Ms: w.p95Ms * 20 })],
    ['a refusal burst', (w) => ({ ...w, goodputPerSecond: 0, refusalRatio: 1 })],
    ['an idle moment', (w) => ({ ...w, p95Ms: 5 })],
  ];
  for (const [name, spoil] of outliers) {
    // One spoilt hold: the step's median ignores it.
    for (let s = 0; s < 10; s++) {
      for (let r = 0; r < 3; r++) {
        const windows = sequence();
        const holds = windows[s]!;
        holds[r] = spoil(holds[r]!);
        const { knee, lowerBound } = findKnee(stepsOf(windows), 250);
        assert.deepEqual({ knee: knee?.ratePerSecond, lowerBound }, { knee: 60, lowerBound: false }, `${name} in hold ${r + 1} of ${10 * (s + 1)} req/s`);
      }
    }
  }
  // A whole step spoilt by a stall or a refusal burst below the knee: the next step is within, so it is noise.
  for (const [name, spoil] of outliers.slice(0, 2)) {
    for (let s = 0; s < 5; s++) {
      const windows = sequence();
      windows[s] = windows[s]!.map(spoil);
      const { knee, verdicts } = findKnee(stepsOf(windows), 250);
      assert.equal(knee?.ratePerSecond, 60, `${name} over all of ${10 * (s + 1)} req/s`);
      assert.equal(verdicts[s], 'noise');
    }
  }
});

test('no knee on the ramp: said so, and the pods are an upper bound (plan --max-rate 40 must not print "7 pods" as a fact)', () => {
  const plan = planCapacity([step(10, 30), step(20, 31), step(30, 33), step(40, 35)], 250, { ...TARGETS, targetRps: 200 });
  assert.equal(plan.knee?.ratePerSecond, 40);
  assert.equal(plan.kneeIsLowerBound, true);
  assert.equal(plan.recommendation?.pods, 7);
  assert.equal(plan.recommendation?.podsAreUpperBound, true);
  const text = formatPlan({ mode: 'plan', source: 'test', ...plan });
  assert.match(text, /No knee up to 40 req\/s: the knee is above the ramp/);
  assert.match(text, /Needed: at most 7 pods/);
  assert.doesNotMatch(text, /<- knee/);
  assert.doesNotMatch(text, /Needed: 7 pods/);
  // One noisy step on the way does not make a knee either.
  const noisy = planCapacity([step(10, 30), step(20, 400), step(30, 33), step(40, 35)], 250, { ...TARGETS, targetRps: 200 });
  assert.equal(noisy.kneeIsLowerBound, true);
  assert.deepEqual(noisy.verdicts, ['within', 'noise', 'within', 'within']);
});

test('the ramp: passes of warm-up and steps; the holds of each step found in every pass, warm-ups left out', () => {
  const parsed = parsePlanCommandLine(['http://h/process', '--max-rate', '30', '--steps', '3', '--step-duration', '2s', '--repeats', '2', '--warm-up', '1s']);
  assert.ok(parsed.kind === 'run' && parsed.options.ramp);
  const { http, rates, repeats } = parsed.options.ramp;
  assert.deepEqual(rates, [10, 20, 30]);
  assert.equal(repeats, 2);
  assert.ok(http.plan.mode === 'open');
  const pass = ['1ms:10', '1000ms:10', '1ms:10', '2000ms:10', '1ms:20', '2000ms:20', '1ms:30', '2000ms:30'];
  assert.equal(stagesPerPass(3), pass.length);
  assert.equal(http.plan.stages.length, 2 * pass.length);
  assert.equal(http.plan.schedule.durationMs, 2 * (1000 + 3 * 2000) + 2 * 4);
  // Stages as the run reports them, each hold's p95 naming its pass and rate.
  const stages: StageReport[] = http.plan.stages.map((stage, index) => {
    const pass = Math.floor(index / stagesPerPass(3));
    return {
      index,
      startSeconds: 0,
      durationSeconds: stage.durationMs / 1000,
      fromRatePerSecond: stage.targetRatePerSecond,
      targetRatePerSecond: stage.targetRatePerSecond,
      requests: stage.durationMs >= 1000 ? 10 : 0,
      served: 10,
      refused: 0,
      throttled: 0,
      goodputPerSecond: stage.targetRatePerSecond,
      refusalRatio: 0,
      p50: 1,
      p95: stage.durationMs === 1000 ? 999 : 100 * (pass + 1) + stage.targetRatePerSecond,
      p99: 1,
    };
  });
  const steps = stepsOfRamp(stages, rates, repeats);
  assert.deepEqual(
    steps.map((step) => [step.ratePerSecond, step.repeats.map((w) => w.p95Ms)]),
    [
      [10, [110, 210]],
      [20, [120, 220]],
      [30, [130, 230]],
    ],
  );
  // A saved staged run (--from): holds at one rate are one step's repeats, wherever they are.
  assert.deepEqual(
    stepsOfStages(stages).map((step) => [step.ratePerSecond, step.repeats.length]),
    [
      [10, 4],
      [20, 2],
      [30, 2],
    ],
  );
});

interface PlanJson {
  mode: string;
  steps: PlanStep[];
  verdicts: string[];
  knee: PlanStep | null;
  kneeIsLowerBound: boolean;
  podCapacityRps: number;
  warmUp?: { ratePerSecond: number };
  recommendation?: { pods: number; gpus: number; podsAreUpperBound: boolean };
}

test('a synthetic server with a known knee: one request at a time, 20 ms each (50 req/s)', { timeout: 60_000 }, async (t) => {
  // A single-server queue: below 50 req/s nothing waits; above it the queue, and p95, grow.
  const queue: (() => void)[] = [];
  let busy = false;
  const next = (): void => {
    const job = queue.shift();
    if (!job) {
      busy = false;
      return;
    }
    busy = true;
    setTimeout(() => {
      job();
      next();
    }, 20);
  };
  const server = await startServer((_request, response) => {
    queue.push(() => response.end('ok'));
    if (!busy) next();
  });
  t.after(() => server.close());
  const result = await runRtcLoad(
    ['plan', `${server.baseUrl}/`, '--max-rate', '80', '--steps', '4', '--step-duration', '600ms', '--repeats', '3', '--warm-up', '1s', '--slo-p95', '100ms', '--target-rps', '400', '--json'],
    50_000,
  );
  assert.equal(result.code, 0, result.stderr);
  const plan = JSON.parse(result.stdout) as PlanJson;
  t.diagnostic(plan.steps.map((s) => `${s.ratePerSecond}: ${s.repeats.map((w) => w.p95Ms).join('/')} served ${s.goodputPerSecond}/s`).join('; '));
  assert.equal(plan.steps.length, 4, '20, 40, 60 and 80 req/s');
  assert.ok(plan.steps.every((s) => s.repeats.length === 3), 'one hold a step in each of three passes');
  assert.equal(plan.warmUp?.ratePerSecond, 20, "the warm-up (at the first step's rate) is reported, apart");
  assert.ok(plan.knee, 'a knee');
  assert.ok(plan.knee.ratePerSecond >= 30 && plan.knee.ratePerSecond <= 50, `knee at ${plan.knee.ratePerSecond} req/s`);
  assert.equal(plan.kneeIsLowerBound, false);
  // Past 50 req/s the queue only grows: over the SLO, or serving too little of what is offered.
  plan.steps.forEach((s, i) => {
    if (s.ratePerSecond >= 60) assert.equal(plan.verdicts[i], 'over', `${s.ratePerSecond} req/s is past the knee: p95 ${s.p95Ms}, served ${s.goodputPerSecond}/s`);
  });
  assert.equal(plan.recommendation?.pods, Math.ceil(400 / (plan.podCapacityRps * 0.8)));
});

test('the local server: a ramp under its capacity is a lower bound; --from reads the saved run; --html plots the knee', { timeout: 90_000 }, async (t) => {
  const server = await startRealServer({ SLO_ADMISSION: 'false', SHUTDOWN_DELAY_SECONDS: '0' });
  t.after(async () => {
    server.child.kill('SIGTERM');
    await server.exited;
  });
  const directory = await mkdtemp(join(tmpdir(), 'rtc-plan-'));
  t.after(() => rm(directory, { recursive: true, force: true }));
  const result = await runRtcLoad(
    ['plan', `${server.baseUrl}/process?pixels=64x64&iters=1`, '--max-rate', '20', '--steps', '2', '--step-duration', '600ms', '--repeats', '2', '--warm-up', '500ms', '--slo-p95', '1s', '--target-rps', '200', '--json'],
    40_000,
  );
  assert.equal(result.code, 0, result.stderr);
  const plan = JSON.parse(result.stdout) as PlanJson;
  assert.deepEqual(plan.steps.map((s) => s.ratePerSecond), [10, 20]);
  assert.equal(plan.knee?.ratePerSecond, 20, 'a 64x64 frame at 20 req/s is far under 1 s');
  assert.equal(plan.kneeIsLowerBound, true);
  const pods = Math.ceil(200 / (plan.podCapacityRps * 0.8));
  assert.deepEqual(plan.recommendation && { pods: plan.recommendation.pods, gpus: plan.recommendation.gpus, upper: plan.recommendation.podsAreUpperBound }, { pods, gpus: pods, upper: true });

  const saved = join(directory, 'plan.json');
  await writeFile(saved, result.stdout);
  const html = join(directory, 'plan.html');
  const fromFile = await runRtcLoad(['plan', '--from', saved, '--target-sessions', '4', '--session-fps', '10', '--html', html]);
  assert.equal(fromFile.code, 0, fromFile.stderr);
  assert.match(fromFile.stdout, /No knee up to 20 req\/s: the knee is above the ramp/);
  assert.match(fromFile.stdout, /Needed: at most \d+ pods/);
  const page = await readFile(html, 'utf8');
  assert.match(page, /no knee up to 20 req\/s/);
  assert.match(page, /at most \d+ pods/);
  assert.match(page, /<svg/);

  const usage = await runRtcLoad(['plan']);
  assert.equal(usage.code, 2);
  assert.match(usage.stderr, /missing URL/);
});
