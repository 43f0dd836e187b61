/** A run's figures: medians over repeats, the lines it prints, and the capacity planner's input. */
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import type { PhaseResult } from './phase.ts';

export interface Median {
  cpuMsPerReturnedFrame: number;
  cpuMsPerEncodedFrame: number;
  /** Mean over the sessions of a run, median over the runs. */
  returnedFps: number;
  serverCores: number;
  frameP95Ms: number | undefined;
  holdsShare: number;
}

/** The service's and the echo's medians at one size and session count. */
export interface Pair {
  readonly size: string;
  readonly sessions: number;
  readonly service: Median;
  readonly echo: Median;
  /** The service's CPU per returned frame over the echo's. */
  readonly ratio: number;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

export function medianOf(runs: PhaseResult[]): Median {
  const p95s = runs.map((r) => r.frameP95Ms).filter((x): x is number => x !== undefined);
  return {
    cpuMsPerReturnedFrame: median(runs.map((r) => r.cpuMsPerReturnedFrame)),
    cpuMsPerEncodedFrame: median(runs.map((r) => r.cpuMsPerEncodedFrame)),
    returnedFps: median(runs.map((r) => r.returnedFps.reduce((a, b) => a + b, 0) / r.returnedFps.length)),
    serverCores: median(runs.map((r) => r.serverCores)),
    frameP95Ms: p95s.length > 0 ? median(p95s) : undefined,
    holdsShare: runs.filter((r) => r.holds && !r.publisherBound).length / runs.length,
  };
}

export const fmt = (n: number | undefined, digits = 2) => (n === undefined ? '-' : n.toFixed(digits));

/** A phase's figures as lines of text (the service's beside the echo's of the same count, when there is one). */
export function phaseLines(r: PhaseResult, echo: PhaseResult | undefined, threads: boolean): string[] {
  const lines: string[] = [];
  const each = (xs: (number | undefined)[], digits = 1) => xs.map((x) => fmt(x, digits)).join(' ');
  const ratio = echo && r !== echo ? ` = ${(r.cpuMsPerReturnedFrame / echo.cpuMsPerReturnedFrame).toFixed(3)}x echo` : '';
  lines.push(
    `  ${r.target.padEnd(7)} ${r.sessions} x ${r.size}: server ${fmt(r.serverCores)} cores, ${fmt(r.cpuMsPerReturnedFrame)} ms CPU per returned frame${ratio};` +
      ` (${fmt(r.cpuMsPerEncodedFrame)} per encoded${echo && r !== echo ? ` = ${(r.cpuMsPerEncodedFrame / echo.cpuMsPerEncodedFrame).toFixed(3)}x` : ''});` +
      ` fps in ${each(r.serverInFps)}, encoded ${each(r.encodedFps)}, returned ${each(r.returnedFps)} at ${[...new Set(r.returnedSize)].join(' ')}` +
      (r.target === 'service' ? `; p95 ${fmt(r.frameP95Ms, 1)} ms; skipped/s ${JSON.stringify(r.skippedPerSecond)}` : '') +
      `; publishers ${fmt(r.clientCores)} cores${r.holds ? ' HOLDS' : ''}${r.publisherBound ? ' (publisher-bound)' : ''}`,
  );
  if (threads) {
    const top = Object.entries(r.threadCores).sort((a, b) => b[1] - a[1]);
    lines.push(`    threads: ${top.map(([name, cores]) => `${name} ${cores.toFixed(3)}`).join(', ')}`);
  }
  return lines;
}

/**
 * The planner's input, per size: the sessions the service held per server core (measured, --find-max),
 * and the sessions per core its CPU per frame allows at 30 fps with one session (unsaturated), the
 * echo's beside each. On a machine shared with other work the measured count is the conservative one.
 */
export function writeCapacity(
  path: string,
  summary: {
    capacity: Record<string, { service: number; echo: number }>;
    pairs: Pair[];
    serverCores: number;
  } & Record<string, unknown>,
  fps: number,
): void {
  const sizes: Record<string, unknown> = {};
  for (const [size, held] of Object.entries(summary.capacity)) {
    const single = summary.pairs.find((p) => p.size === size && p.sessions === 1);
    const perCore = (ms: number | undefined) => (ms === undefined || !Number.isFinite(ms) ? undefined : Number((1000 / (fps * ms)).toFixed(2)));
    sizes[size] = {
      measuredSessionsPerCore: held.service / summary.serverCores,
      echoMeasuredSessionsPerCore: held.echo / summary.serverCores,
      cpuMsPerFrame: single ? Number(single.service.cpuMsPerEncodedFrame.toFixed(2)) : undefined,
      echoCpuMsPerFrame: single ? Number(single.echo.cpuMsPerEncodedFrame.toFixed(2)) : undefined,
      cpuSessionsPerCore: perCore(single?.service.cpuMsPerEncodedFrame),
      echoCpuSessionsPerCore: perCore(single?.echo.cpuMsPerEncodedFrame),
    };
  }
  const out = {
    about:
      'WebRTC sessions per server core (bench/webrtc.ts --find-max --capacity-out): measured = held at >= minFps returned with frame p95 <= frameSloMs; cpu = 1000 / (fps x server CPU ms per encoded frame, one session); echo = the bare binding floor in the same run',
    date: summary.date,
    node: summary.node,
    cpuModel: summary.cpuModel,
    machineCpus: summary.machineCpus,
    serverCores: summary.serverCores,
    loadavgBefore: summary.loadavgBefore,
    effect: summary.effect,
    fps,
    minFps: summary.minFps,
    frameSloMs: summary.frameSloMs,
    sizes,
  };
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, `${JSON.stringify(out, null, 2)}\n`);
}
