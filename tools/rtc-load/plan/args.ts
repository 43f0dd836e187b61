import { readFileSync } from 'node:fs';
import { ArgError, durationOption, parseStrict, positiveInteger, positiveNumber } from '../core/args.ts';
import { parseCommandLine, type HttpRunOptions } from '../http/args.ts';
import type { LoadReport, StageReport } from '../http/report.ts';
import { stepOf, type PlanStep, type PlanTargets, type PlanWindow } from './capacity.ts';

/** The ramp run against one pod, and where its measured holds are among its stages. */
export interface PlanRamp {
  http: HttpRunOptions;
  /** The step rates, lowest first. */
  rates: number[];
  /** Passes over the ramp: holds per step. */
  repeats: number;
}

export interface PlanRunOptions {
  /** The ramp to run against one pod, or undefined with --from. */
  ramp: PlanRamp | undefined;
  /** Steps read from a saved run (--from). */
  savedSteps: PlanStep[] | undefined;
  sloP95Ms: number;
  targets: PlanTargets;
  output: { json: boolean; htmlPath: string | undefined; failOnErrors: boolean };
}

const OPTION_SPEC = {
  'max-rate': { type: 'string' },
  steps: { type: 'string' },
  'step-duration': { type: 'string' },
  repeats: { type: 'string' },
  'warm-up': { type: 'string' },
  'slo-p95': { type: 'string' },
  'target-rps': { type: 'string' },
  'target-sessions': { type: 'string' },
  'session-fps': { type: 'string' },
  'session-audio-cores': { type: 'string' },
  'pod-cores': { type: 'string' },
  'gpus-per-pod': { type: 'string' },
  utilization: { type: 'string' },
  from: { type: 'string' },
  method: { type: 'string', short: 'm' },
  header: { type: 'string', short: 'H', multiple: true },
  body: { type: 'string', short: 'b' },
  timeout: { type: 'string' },
  json: { type: 'boolean' },
  html: { type: 'string' },
  'fail-on-errors': { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const;

const DEFAULT_MAX_RATE = 100;
const DEFAULT_STEPS = 10;
const DEFAULT_STEP_MS = 10_000;
/** Three passes: the median of a step's holds ignores one that a neighbour's burst or a GC pause spoilt. */
const DEFAULT_REPEATS = 3;
const DEFAULT_SLO_MS = 250;
/** Stages before a pass's first step: the jump to the first rate and the warm-up hold. */
export const WARM_UP_STAGES = 2;

export function parsePlanCommandLine(argv: readonly string[]): { kind: 'help' } | { kind: 'run'; options: PlanRunOptions } {
  const { values, positionals } = parseStrict(argv, OPTION_SPEC);
  if (values.help) return { kind: 'help' };
  const output = { json: values.json ?? false, htmlPath: values.html, failOnErrors: values['fail-on-errors'] ?? false };
  if (output.htmlPath === '') throw new ArgError('--html needs a file name');
  const targets: PlanTargets = {
    targetRps: values['target-rps'] === undefined ? undefined : positiveNumber('--target-rps', values['target-rps']),
    targetSessions: values['target-sessions'] === undefined ? undefined : positiveInteger('--target-sessions', values['target-sessions']),
    sessionFps: values['session-fps'] === undefined ? 30 : positiveNumber('--session-fps', values['session-fps']),
    gpusPerPod: values['gpus-per-pod'] === undefined ? 1 : positiveInteger('--gpus-per-pod', values['gpus-per-pod']),
    utilization: values.utilization === undefined ? 0.8 : positiveNumber('--utilization', values.utilization),
    sessionAudioCores: values['session-audio-cores'] === undefined ? undefined : positiveNumber('--session-audio-cores', values['session-audio-cores']),
    podCores: values['pod-cores'] === undefined ? 2 : positiveNumber('--pod-cores', values['pod-cores']),
  };
  if (targets.utilization > 1) throw new ArgError('--utilization must be at most 1');
  const sloP95Ms = values['slo-p95'] === undefined ? DEFAULT_SLO_MS : durationOption('--slo-p95', values['slo-p95']);

  if (values.from !== undefined) {
    if (positionals.length > 0) throw new ArgError('give a URL to run a ramp, or --from FILE to read a saved run, not both');
    return { kind: 'run', options: { ramp: undefined, savedSteps: readSavedSteps(values.from), sloP95Ms, targets, output } };
  }
  if (positionals.length === 0) throw new ArgError('missing URL of one pod (or --from FILE); try plan --help');
  if (positionals.length > 1) throw new ArgError(`unexpected argument: ${positionals[1] ?? ''}`);

  const maxRate = values['max-rate'] === undefined ? DEFAULT_MAX_RATE : positiveNumber('--max-rate', values['max-rate']);
  const steps = values.steps === undefined ? DEFAULT_STEPS : positiveInteger('--steps', values.steps, 100);
  const stepMs = values['step-duration'] === undefined ? DEFAULT_STEP_MS : durationOption('--step-duration', values['step-duration']);
  const repeats = values.repeats === undefined ? DEFAULT_REPEATS : positiveInteger('--repeats', values.repeats, 20);
  const warmUpMs = values['warm-up'] === undefined ? stepMs : durationOption('--warm-up', values['warm-up']);
  // `repeats` passes over the ramp rather than repeats back to back: a burst from a neighbour
  // that lasts longer than a hold then spoils one hold of several steps, which their medians
  // ignore, instead of every hold of one step. Each pass opens with a warm-up hold at the first
  // rate (connections, JIT, caches; and the previous pass's top step's queue drains), never
  // counted; then each step jumps to its rate (1 ms) and holds it: the holds are the measurements.
  const rates = Array.from({ length: steps }, (_, i) => (maxRate * (i + 1)) / steps);
  const pass = [`1ms:${maxRate / steps}`, `${warmUpMs}ms:${maxRate / steps}`, ...rates.flatMap((rate) => [`1ms:${rate}`, `${stepMs}ms:${rate}`])];
  const stages = Array.from({ length: repeats }, () => pass).flat();
  const httpArgv = [positionals[0] ?? '', '--stages', stages.join(',')];
  if (values.method !== undefined) httpArgv.push('--method', values.method);
  for (const header of values.header ?? []) httpArgv.push('--header', header);
  if (values.body !== undefined) httpArgv.push('--body', values.body);
  if (values.timeout !== undefined) httpArgv.push('--timeout', values.timeout);
  const parsed = parseCommandLine(httpArgv);
  if (parsed.kind !== 'run') throw new ArgError('unexpected help');
  return { kind: 'run', options: { ramp: { http: parsed.options, rates, repeats }, savedSteps: undefined, sloP95Ms, targets, output } };
}

/** A stage as a saved report may hold it: those from before goodput was counted lack its fields. */
type SavedStage = Omit<StageReport, 'served' | 'refused' | 'throttled' | 'goodputPerSecond' | 'refusalRatio'> & Partial<StageReport>;

/** A hold's figures as a plan window; reports from before goodput was counted read as all served. */
export function windowOfStage(stage: SavedStage): PlanWindow {
  const throughputPerSecond = stage.durationSeconds > 0 ? Math.round((stage.requests / stage.durationSeconds) * 100) / 100 : 0;
  return {
    throughputPerSecond,
    goodputPerSecond: stage.goodputPerSecond ?? throughputPerSecond,
    refusalRatio: stage.refusalRatio ?? 0,
    p95Ms: stage.p95,
    requests: stage.requests,
  };
}

/** Stages in one pass of the plan's ramp: warm-up, then a jump and a hold per step. */
export function stagesPerPass(stepCount: number): number {
  return WARM_UP_STAGES + 2 * stepCount;
}

/** The plan's steps from its own ramp's stages: each step's hold from every pass, by position. */
export function stepsOfRamp(stages: readonly StageReport[], rates: readonly number[], repeats: number): PlanStep[] {
  const steps: PlanStep[] = [];
  rates.forEach((rate, s) => {
    const holds = Array.from({ length: repeats }, (_, p) => stages[p * stagesPerPass(rates.length) + WARM_UP_STAGES + 2 * s + 1]);
    // An interrupted run has holds that never started.
    const measured = holds.filter((stage): stage is StageReport => stage !== undefined && stage.requests > 0);
    if (measured.length > 0) steps.push(stepOf(rate, measured.map(windowOfStage)));
  });
  return steps;
}

/** Steps from a saved `rtc-load plan --json` or a staged `rtc-load --json` run. */
export function readSavedSteps(path: string): PlanStep[] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(path, 'utf8'));
  } catch (error) {
    throw new ArgError(`--from: cannot read ${path}: ${error instanceof Error ? error.message : String(error)}`);
  }
  const document = parsed as { steps?: Partial<PlanStep>[]; stages?: LoadReport['stages'] };
  if (Array.isArray(document.steps)) return document.steps.map(savedStep);
  if (Array.isArray(document.stages)) return stepsOfStages(document.stages);
  throw new ArgError(`--from: ${path} has neither plan steps nor rtc-load stages (run with --stages and --json)`);
}

/** A step of a saved plan, recomputed from its repeats; a plan saved before repeats is one window. */
function savedStep(step: Partial<PlanStep>): PlanStep {
  const rate = step.ratePerSecond ?? 0;
  if (Array.isArray(step.repeats) && step.repeats.length > 0) return stepOf(rate, step.repeats);
  const throughputPerSecond = step.throughputPerSecond ?? rate;
  return stepOf(rate, [
    {
      throughputPerSecond,
      goodputPerSecond: step.goodputPerSecond ?? throughputPerSecond,
      refusalRatio: step.refusalRatio ?? 0,
      p95Ms: step.p95Ms ?? 0,
      requests: step.requests ?? 0,
    },
  ]);
}

/**
 * Steps of any staged run: holds (stages at a constant rate) are the measurements, the holds at
 * one rate the repeats of one step, wherever they are in the run; a report of ramps only uses
 * each ramp's mean rate.
 */
export function stepsOfStages(stages: readonly SavedStage[]): PlanStep[] {
  const measured = stages.filter((s) => s.durationSeconds >= 0.5 && s.requests > 0);
  const holds = measured.filter((s) => s.fromRatePerSecond === s.targetRatePerSecond);
  if (holds.length === 0) return measured.map((s) => stepOf((s.fromRatePerSecond + s.targetRatePerSecond) / 2, [windowOfStage(s)]));
  const byRate = new Map<number, PlanWindow[]>();
  for (const stage of holds) byRate.set(stage.targetRatePerSecond, [...(byRate.get(stage.targetRatePerSecond) ?? []), windowOfStage(stage)]);
  return [...byRate].map(([rate, windows]) => stepOf(rate, windows));
}

export const PLAN_HELP_TEXT = `rtc-load plan: capacity planner

Usage:
  rtc-load plan URL_OF_ONE_POD [options]    run a step ramp against one pod
  rtc-load plan --from FILE [options]       read a saved run (plan --json, or rtc-load --stages --json)

Runs an open-loop ramp of --steps steps up to --max-rate, --repeats times over (each pass
after a warm-up that is not counted), each step held for --step-duration. A step's figures
are the medians of its holds. A step breaches when its served p95 is over --slo-p95 or it serves
less than 90% of the offered rate; a breach counts only when the next higher step breaches
too (else it is noise). The knee is the last step within before the first counted breach.
Prints the pods, GPUs and autoscaler settings a load needs; when no breach counts, the knee
is above the ramp and the pods are an upper bound.

Ramp:
      --max-rate R           top of the ramp, requests per second (default 100)
      --steps N              steps from R/N to R (default 10)
      --step-duration D      how long each hold lasts (default 10s)
      --repeats N            passes over the ramp, i.e. holds per step (default 3)
      --warm-up D            a hold at the first rate before each pass, not counted
                             (default: --step-duration)
  -m, -H, -b, --timeout      the request, as for rtc-load URL

Plan:
      --slo-p95 D            the p95 SLO of served requests (default 250ms, the KEDA latency target)
      --target-rps N         plan for N requests per second
      --target-sessions N    plan for N WebRTC sessions, each --session-fps frames/s of
                             this request's work (default 30)
      --session-audio-cores C
                             each session's audio costs C cores besides its video (by audio
                             effect in bench/results/audio-capacity.json; default none)
      --pod-cores N          cores of the pod the ramp runs against, pricing the audio (default 2)
      --gpus-per-pod N       GPUs per pod (default 1)
      --utilization F        run pods at F of the knee (default 0.8)

Output: --json, --html FILE (the knee plotted), --fail-on-errors (exit 1 when no step met the SLO),
-h, --help.

Example:
  kubectl -n rtc port-forward pod/POD 8080   # one pod, on purpose
  rtc-load plan 'http://localhost:8080/process?pixels=1920x1080&iters=8' --max-rate 60 --steps 6 \\
    --step-duration 10s --repeats 3 --slo-p95 250ms --target-rps 400 --html plan.html
`;
