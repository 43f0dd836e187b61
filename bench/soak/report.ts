/**
 * The soak's figures and checks from what a run saw: RSS growth between the first and the last
 * window of load, fd drift between the two quiet points, every session cleaned up, the server
 * alive to the end. As JSON (--json) or as text.
 */
import os from 'node:os';
import { formatMs } from '../../tools/rtc-load/core/format.ts';
import { summarize, type LatencySummaryMs } from '../../tools/rtc-load/core/latency.ts';
import { HTTP_MAX_IN_FLIGHT } from './http-load.ts';
import type { SoakOptions } from './options.ts';
import type { Sample, SoakRun } from './run.ts';
import { metricValues, round1 } from './server.ts';

const FD_TOLERANCE = 5;

const mean = (xs: readonly number[]): number => (xs.length === 0 ? Number.NaN : xs.reduce((a, b) => a + b, 0) / xs.length);

export interface SoakReport {
  date: string;
  machine: { cpus: number; model: string; node: string; loadavgBefore: number[]; loadavgAfter: number[] };
  options: { minutes: number; sessions: number; httpRate: number; resolution: string; fps: number; sessionSeconds: number; maxRssGrowthPercent: number };
  durationSeconds: number;
  warmupSeconds: number;
  rss: {
    /** Mean over the first window of load after the warm-up. */
    postWarmupMiB: number;
    /** Mean over the last window of load. */
    lastMiB: number;
    windowSeconds: number;
    growthPercent: number | null;
    minMiB: number;
    maxMiB: number;
    quietPostWarmupMiB: number;
    quietFinalMiB: number;
    /** Main-thread V8 heap in use, same windows. */
    heapPostWarmupMiB: number;
    heapLastMiB: number;
  };
  fds: { postWarmup: number; final: number; drift: number; minUnderLoad: number; maxUnderLoad: number };
  threads: { postWarmup: number; final: number; maxUnderLoad: number };
  http: { requests: number; statusCounts: Record<string, number>; errors: Record<string, number>; skipped: number; fiveXx: number; latency: LatencySummaryMs };
  sessions: {
    created: number;
    deleted: number;
    deleteFailures: number;
    rejected: number;
    failed: number;
    refusals: Record<string, number>;
    activeAtEnd: number;
    /** app_webrtc_sessions_total by outcome, from the server. */
    serverOutcomes: Record<string, number>;
    fps: { mean: number; min: number };
    roundTrip: LatencySummaryMs;
    frames: { sent: number; received: number; lost: number };
  };
  samples: Sample[];
  checks: { rssGrowth: boolean; fds: boolean; sessions: boolean; server: boolean };
  ok: boolean;
  serverLogTail?: string;
}

export function buildReport(options: SoakOptions, run: SoakRun): SoakReport {
  const { samples, loadResumedAt, loadEndedAt, quietAfterWarmup, quietFinal, recorder, http, failure, serverAlive } = run;
  const cycler = run.sessions;
  const loadSamples = samples.filter((s) => s.phase === 'load' && s.tSeconds >= loadResumedAt && s.tSeconds <= loadEndedAt);
  const windowSeconds = Math.min(60, Math.max(0, loadEndedAt - loadResumedAt) / 2);
  const firstWindow = loadSamples.filter((s) => s.tSeconds < loadResumedAt + windowSeconds).map((s) => s.rssMiB);
  const lastWindow = loadSamples.filter((s) => s.tSeconds > loadEndedAt - windowSeconds).map((s) => s.rssMiB);
  const postWarmupMiB = mean(firstWindow);
  const lastMiB = mean(lastWindow);
  const heapOf = (xs: Sample[]): number => mean(xs.flatMap((s) => (s.heapUsedMiB === null ? [] : [s.heapUsedMiB])));
  const heapPostWarmupMiB = heapOf(loadSamples.filter((s) => s.tSeconds < loadResumedAt + windowSeconds));
  const heapLastMiB = heapOf(loadSamples.filter((s) => s.tSeconds > loadEndedAt - windowSeconds));
  const growthPercent = firstWindow.length > 0 && lastWindow.length > 0 ? round1(((lastMiB - postWarmupMiB) / postWarmupMiB) * 100) : null;
  const fdsUnderLoad = loadSamples.map((s) => s.fds);
  const activeAtEnd = quietFinal?.sessionsActive ?? Number.NaN;
  const fdDrift = quietFinal && quietAfterWarmup ? quietFinal.fds - quietAfterWarmup.fds : Number.NaN;
  const statusCounts = Object.fromEntries([...recorder.statusCounts()].map(([code, n]) => [String(code), n]));
  const fiveXx = Object.entries(statusCounts).reduce((sum, [code, n]) => sum + (code.startsWith('5') ? n : 0), 0);

  const checks = {
    rssGrowth: growthPercent !== null && growthPercent < options.maxRssGrowthPercent,
    fds: Math.abs(fdDrift) <= FD_TOLERANCE,
    sessions: activeAtEnd === 0 && cycler.created === cycler.deleted,
    server: serverAlive && failure === undefined,
  };
  const report: SoakReport = {
    date: new Date().toISOString(),
    machine: { cpus: os.cpus().length, model: os.cpus()[0]?.model.trim() ?? 'unknown', node: process.version, loadavgBefore: run.loadavgBefore, loadavgAfter: os.loadavg() },
    options: {
      minutes: options.minutes,
      sessions: options.sessions,
      httpRate: options.httpRate,
      resolution: `${options.width}x${options.height}`,
      fps: options.fps,
      sessionSeconds: options.sessionSeconds,
      maxRssGrowthPercent: options.maxRssGrowthPercent,
    },
    durationSeconds: run.durationSeconds,
    warmupSeconds: round1(run.warmupMs / 1000),
    rss: {
      postWarmupMiB: round1(postWarmupMiB),
      lastMiB: round1(lastMiB),
      windowSeconds: round1(windowSeconds),
      growthPercent,
      minMiB: loadSamples.length ? Math.min(...loadSamples.map((s) => s.rssMiB)) : Number.NaN,
      maxMiB: loadSamples.length ? Math.max(...loadSamples.map((s) => s.rssMiB)) : Number.NaN,
      quietPostWarmupMiB: quietAfterWarmup?.rssMiB ?? Number.NaN,
      quietFinalMiB: quietFinal?.rssMiB ?? Number.NaN,
      heapPostWarmupMiB: round1(heapPostWarmupMiB),
      heapLastMiB: round1(heapLastMiB),
    },
    fds: {
      postWarmup: quietAfterWarmup?.fds ?? Number.NaN,
      final: quietFinal?.fds ?? Number.NaN,
      drift: fdDrift,
      minUnderLoad: fdsUnderLoad.length ? Math.min(...fdsUnderLoad) : Number.NaN,
      maxUnderLoad: fdsUnderLoad.length ? Math.max(...fdsUnderLoad) : Number.NaN,
    },
    threads: {
      postWarmup: quietAfterWarmup?.threads ?? Number.NaN,
      final: quietFinal?.threads ?? Number.NaN,
      maxUnderLoad: loadSamples.length ? Math.max(...loadSamples.map((s) => s.threads)) : Number.NaN,
    },
    http: {
      requests: recorder.requests,
      statusCounts,
      errors: Object.fromEntries([...recorder.errorCounts].sort(([a], [b]) => a.localeCompare(b))),
      skipped: http.skipped,
      fiveXx,
      latency: summarize(recorder.latencyUs),
    },
    sessions: {
      created: cycler.created,
      deleted: cycler.deleted,
      deleteFailures: cycler.deleteFailures,
      rejected: cycler.rejected,
      failed: cycler.failed,
      refusals: Object.fromEntries(cycler.refusals),
      activeAtEnd,
      serverOutcomes: Object.fromEntries(metricValues(run.finalMetrics, 'app_webrtc_sessions_total', 'outcome')),
      fps: { mean: round1(mean(cycler.fps)), min: cycler.fps.length ? round1(Math.min(...cycler.fps)) : Number.NaN },
      roundTrip: summarize(cycler.roundTripUs),
      frames: { sent: cycler.framesSent, received: cycler.framesReceived, lost: cycler.framesLost },
    },
    samples,
    checks,
    ok: Object.values(checks).every(Boolean),
  };
  if (!report.ok) report.serverLogTail = run.serverLogTail.slice(-4000);
  return report;
}

export function formatReport(r: SoakReport): string {
  const mark = (ok: boolean): string => (ok ? 'ok' : 'FAIL');
  const codes = Object.entries(r.http.statusCounts).map(([code, n]) => `${code}: ${n}`).join('   ') || 'none';
  const errors = Object.entries(r.http.errors).map(([cause, n]) => `${cause}: ${n}`).join('   ') || 'none';
  const outcomes = Object.entries(r.sessions.serverOutcomes).map(([o, n]) => `${o} ${n}`).join(', ') || 'none';
  const lines = [
    `Soak  ${r.date}  ${r.machine.cpus} CPUs (${r.machine.model}), Node ${r.machine.node}`,
    `  ${r.options.minutes} min, ${r.options.sessions} session(s) ${r.options.resolution}@${r.options.fps}, ${r.options.httpRate} req/s; ` +
      `warm-up ${r.warmupSeconds} s; load average ${r.machine.loadavgBefore.map((l) => l.toFixed(2)).join(' ')} before, ` +
      `${r.machine.loadavgAfter.map((l) => l.toFixed(2)).join(' ')} after`,
    '',
    `RSS               ${r.rss.postWarmupMiB} MiB after warm-up -> ${r.rss.lastMiB} MiB at the end (means over ${r.rss.windowSeconds} s): ` +
      `${r.rss.growthPercent ?? 'n/a'} % (limit ${r.options.maxRssGrowthPercent} %)   ${mark(r.checks.rssGrowth)}`,
    `                  min ${r.rss.minMiB} / max ${r.rss.maxMiB} MiB under load; quiet ${r.rss.quietPostWarmupMiB} -> ${r.rss.quietFinalMiB} MiB; ` +
      `main-thread heap ${r.rss.heapPostWarmupMiB} -> ${r.rss.heapLastMiB} MiB`,
    `File descriptors  quiet ${r.fds.postWarmup} after warm-up -> ${r.fds.final} at the end (drift ${r.fds.drift}, ±${FD_TOLERANCE})   ${mark(r.checks.fds)}`,
    `                  min ${r.fds.minUnderLoad} / max ${r.fds.maxUnderLoad} under load after warm-up`,
    `Threads           quiet ${r.threads.postWarmup} -> ${r.threads.final}; max ${r.threads.maxUnderLoad} under load`,
    `Sessions          ${r.sessions.created} created, ${r.sessions.deleted} deleted, ${r.sessions.rejected} rejected, ${r.sessions.failed} failed; ` +
      `active at the end ${r.sessions.activeAtEnd}   ${mark(r.checks.sessions)}`,
    `                  server outcomes: ${outcomes}; fps mean ${r.sessions.fps.mean} min ${r.sessions.fps.min}; ` +
      `round trip p50 ${formatMs(r.sessions.roundTrip.p50)} ms p99 ${formatMs(r.sessions.roundTrip.p99)} ms`,
    `HTTP              ${r.http.requests} requests, p50 ${formatMs(r.http.latency.p50)} ms, p99 ${formatMs(r.http.latency.p99)} ms, max ${formatMs(r.http.latency.max)} ms` +
      `${r.http.skipped > 0 ? `, ${r.http.skipped} not sent (over ${HTTP_MAX_IN_FLIGHT} in flight)` : ''}`,
    `                  status ${codes}; errors ${errors}`,
    `Server            ${r.checks.server ? 'ran to the end' : 'FAILED (exited or the run broke off)'}`,
    '',
    r.ok ? 'PASS' : 'FAIL',
    '',
  ];
  return lines.join('\n');
}
