import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'node:test';
import { planCapacity, type PlanStep } from '../../tools/rtc-load/plan/capacity.ts';
import { startServer as startRealServer } from '../helpers-process.ts';
import { runRtcLoad, startServer } from './fixtures.ts';

const TARGETS = { sessionFps: 30, gpusPerPod: 1, utilization: 0.8 };

test('planCapacity: the knee, the pods, GPUs and autoscaler settings', () => {
  const step = (ratePerSecond: number, p95Ms: number): PlanStep => ({ ratePerSecond, throughputPerSecond: ratePerSecond, p95Ms, requests: ratePerSecond * 10 });
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
    autoscaler: { p95ThresholdSeconds: 0.25, minReplicaCount: 1, maxReplicaCount: 9, targetRpsPerPod: 24 },
  });
  // Sessions count as fps requests each: 10 sessions at 30 fps = 300 req/s.
  assert.equal(planCapacity([step(100, 10)], 250, { ...TARGETS, targetSessions: 10 }).recommendation?.pods, 4);
  assert.equal(planCapacity([step(10, 300)], 250, TARGETS).knee, null);
});

interface PlanJson {
  mode: string;
  steps: PlanStep[];
  knee: PlanStep | null;
  kneeIsLowerBound: boolean;
  podCapacityRps: number;
  recommendation?: { pods: number; gpus: number };
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
    ['plan', `${server.baseUrl}/`, '--max-rate', '80', '--steps', '8', '--step-duration', '1500ms', '--slo-p95', '100ms', '--target-rps', '400', '--json'],
    50_000,
  );
  assert.equal(result.code, 0, result.stderr);
  const plan = JSON.parse(result.stdout) as PlanJson;
  t.diagnostic(plan.steps.map((s) => `${s.ratePerSecond}:${s.p95Ms}`).join(' '));
  assert.equal(plan.steps.length, 8);
  assert.ok(plan.knee, 'a knee');
  assert.ok(plan.knee.ratePerSecond >= 30 && plan.knee.ratePerSecond <= 50, `knee at ${plan.knee.ratePerSecond} req/s`);
  assert.equal(plan.kneeIsLowerBound, false);
  for (const step of plan.steps.filter((s) => s.ratePerSecond >= 60)) assert.ok(step.p95Ms > 100, `${step.ratePerSecond} req/s is past the knee: p95 ${step.p95Ms}`);
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
    ['plan', `${server.baseUrl}/process?pixels=64x64&iters=1`, '--max-rate', '20', '--steps', '2', '--step-duration', '1s', '--slo-p95', '1s', '--target-rps', '200', '--json'],
    40_000,
  );
  assert.equal(result.code, 0, result.stderr);
  const plan = JSON.parse(result.stdout) as PlanJson;
  assert.deepEqual(plan.steps.map((s) => s.ratePerSecond), [10, 20]);
  assert.equal(plan.knee?.ratePerSecond, 20, 'a 64x64 frame at 20 req/s is far under 1 s');
  assert.equal(plan.kneeIsLowerBound, true);
  assert.deepEqual({ pods: plan.recommendation?.pods, gpus: plan.recommendation?.gpus }, { pods: Math.ceil(200 / (plan.podCapacityRps * 0.8)), gpus: Math.ceil(200 / (plan.podCapacityRps * 0.8)) });

  const saved = join(directory, 'plan.json');
  await writeFile(saved, result.stdout);
  const html = join(directory, 'plan.html');
  const fromFile = await runRtcLoad(['plan', '--from', saved, '--target-sessions', '4', '--session-fps', '10', '--html', html]);
  assert.equal(fromFile.code, 0, fromFile.stderr);
  assert.match(fromFile.stdout, /<- knee/);
  assert.match(fromFile.stdout, /Needed: \d+ pods/);
  const page = await readFile(html, 'utf8');
  assert.match(page, /knee 20 req\/s/);
  assert.match(page, /<svg/);

  const usage = await runRtcLoad(['plan']);
  assert.equal(usage.code, 2);
  assert.match(usage.stderr, /missing URL/);
});
