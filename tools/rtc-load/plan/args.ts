import { readFileSync } from 'node:fs';
import { ArgError, durationOption, parseStrict, positiveInteger, positiveNumber } from '../core/args.ts';
import { parseCommandLine, type HttpRunOptions } from '../http/args.ts';
import type { LoadReport } from '../http/report.ts';
import type { PlanStep, PlanTargets } from './capacity.ts';

export interface PlanRunOptions {
  /** The ramp to run against one pod, or undefined with --from. */
  ramp: HttpRunOptions | undefined;
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
  'slo-p95': { type: 'string' },
  'target-rps': { type: 'string' },
  'target-sessions': { type: 'string' },
  'session-fps': { type: 'string' },
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
const DEFAULT_STEP_MS = 30_000;
const DEFAULT_SLO_MS = 250;
const WARM_UP_MS = 2000;

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
  // A warm-up at the first rate (connections, JIT; dropped from the results), then each step:
  // jump to its rate (1 ms) and hold it; the holds are the measured points.
  const warmUpMs = Math.min(stepMs, WARM_UP_MS);
  const stages = [`1ms:${maxRate / steps}`, `${warmUpMs}ms:${maxRate / steps}`];
  stages.push(...Array.from({ length: steps }, (_, i) => (maxRate * (i + 1)) / steps).flatMap((rate) => [`1ms:${rate}`, `${stepMs}ms:${rate}`]));
  const httpArgv = [positionals[0] ?? '', '--stages', stages.join(',')];
  if (values.method !== undefined) httpArgv.push('--method', values.method);
  for (const header of values.header ?? []) httpArgv.push('--header', header);
  if (values.body !== undefined) httpArgv.push('--body', values.body);
  if (values.timeout !== undefined) httpArgv.push('--timeout', values.timeout);
  const parsed = parseCommandLine(httpArgv);
  if (parsed.kind !== 'run') throw new ArgError('unexpected help');
  return { kind: 'run', options: { ramp: parsed.options, savedSteps: undefined, sloP95Ms, targets, output } };
}

/** Steps from a saved `rtc-load plan --json` or a staged `rtc-load --json` run. */
export function readSavedSteps(path: string): PlanStep[] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(path, 'utf8'));
  } catch (error) {
    throw new ArgError(`--from: cannot read ${path}: ${error instanceof Error ? error.message : String(error)}`);
  }
  const document = parsed as { steps?: PlanStep[]; stages?: LoadReport['stages'] };
  if (Array.isArray(document.steps)) return document.steps;
  if (Array.isArray(document.stages)) return stepsOfStages(document.stages);
  throw new ArgError(`--from: ${path} has neither plan steps nor rtc-load stages (run with --stages and --json)`);
}

/** Holds (stages at a constant rate) are the points; a report of ramps only uses each ramp's mean rate. */
export function stepsOfStages(stages: NonNullable<LoadReport['stages']>): PlanStep[] {
  const measured = stages.filter((s) => s.durationSeconds >= 0.5 && s.requests > 0);
  const holds = measured.filter((s) => s.fromRatePerSecond === s.targetRatePerSecond);
  return (holds.length > 0 ? holds : measured).map((s) => ({
    ratePerSecond: (s.fromRatePerSecond + s.targetRatePerSecond) / 2,
    throughputPerSecond: Math.round((s.requests / s.durationSeconds) * 100) / 100,
    p95Ms: s.p95,
    requests: s.requests,
  }));
}

export const PLAN_HELP_TEXT = `rtc-load plan: capacity planner

Usage:
  rtc-load plan URL_OF_ONE_POD [options]    run a step ramp against one pod
  rtc-load plan --from FILE [options]       read a saved run (plan --json, or rtc-load --stages --json)

Runs an open-loop ramp of --steps steps up to --max-rate (each held for --step-duration, after a warm-up of up to 2 s),
finds the knee (the highest rate whose p95 stays under --slo-p95), and prints the pods,
GPUs and autoscaler settings a load needs.

Ramp:
      --max-rate R           top of the ramp, requests per second (default 100)
      --steps N              steps from R/N to R (default 10)
      --step-duration D      how long each step is held (default 30s)
  -m, -H, -b, --timeout      the request, as for rtc-load URL

Plan:
      --slo-p95 D            the p95 SLO (default 250ms, the KEDA latency target)
      --target-rps N         plan for N requests per second
      --target-sessions N    plan for N WebRTC sessions, each --session-fps frames/s of
                             this request's work (default 30)
      --gpus-per-pod N       GPUs per pod (default 1)
      --utilization F        run pods at F of the knee (default 0.8)

Output: --json, --html FILE (the knee plotted), --fail-on-errors (exit 1 when no step met the SLO),
-h, --help.

Example:
  kubectl -n rtc port-forward pod/POD 8080   # one pod, on purpose
  rtc-load plan 'http://localhost:8080/process?pixels=1920x1080&iters=8' --max-rate 60 --steps 6 \\
    --step-duration 20s --slo-p95 250ms --target-rps 400 --html plan.html
`;
