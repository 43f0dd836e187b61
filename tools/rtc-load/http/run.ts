import type { RunEnvironment } from '../command.ts';
import { AdaptiveThrottle } from '../core/adaptive-throttle.ts';
import type { HttpRunOptions } from './args.ts';
import { ClosedLoop } from './closed-loop.ts';
import type { LoadLoop } from './loop-base.ts';
import { OpenLoop } from './open-loop.ts';
import { ProgressLine } from '../core/status-line.ts';
import { PrometheusSampler } from '../core/prometheus.ts';
import { LoadRecorder } from '../core/recorder.ts';
import { buildReport, type LoadReport } from './report.ts';
import { createPool, dispatchOptionsFor } from './target.ts';

/** Runs one HTTP load plan to completion and returns its report. */
export async function runHttpLoad(options: HttpRunOptions, environment: RunEnvironment): Promise<LoadReport> {
  const { plan, request } = options;
  const connections = plan.mode === 'closed' ? plan.concurrency : plan.connections;
  const pool = createPool(request, connections);
  // Counted to show the client reconnecting where the server closes connections (a refusal
  // with `Connection: close`, --requests-per-connection), which undici does without an error.
  let connectionsOpened = 0;
  pool.on('connect', () => {
    connectionsOpened += 1;
  });
  const startMs = performance.now();
  const stageCount = plan.mode === 'open' && plan.stages.length > 1 ? plan.stages.length : 0;
  const recorder = new LoadRecorder(startMs, stageCount);
  const throttle = options.adaptiveThrottleK === undefined ? undefined : new AdaptiveThrottle(options.adaptiveThrottleK);
  const context = { pool, dispatchOptions: dispatchOptionsFor(request), recorder, timeoutMs: request.timeoutMs, throttle };
  const loop: LoadLoop = plan.mode === 'closed' ? new ClosedLoop(context, plan) : new OpenLoop(context, plan);

  const plannedMs = plan.mode === 'closed' ? plan.durationMs : plan.schedule.durationMs;
  const prometheusOptions = options.output.prometheus;
  const sampler = prometheusOptions ? new PrometheusSampler(prometheusOptions, startMs, environment.warn) : undefined;
  const progress = new ProgressLine(environment.progressStream, recorder, plannedMs, options.output.autoscaler, sampler?.samples ?? [], options.output.progressIntervalMs);

  let interrupted = false;
  const onAbort = (): void => {
    interrupted = true;
    loop.stop();
  };
  environment.signal?.addEventListener('abort', onAbort, { once: true });
  sampler?.start();
  progress.start();
  try {
    if (environment.signal?.aborted) onAbort();
    else await loop.run();
  } finally {
    environment.signal?.removeEventListener('abort', onAbort);
    progress.stop();
  }
  const endMs = performance.now();
  await sampler?.stop();
  await pool.destroy();
  return buildReport({
    options,
    recorder,
    endMs,
    connections,
    connectionsOpened,
    interrupted,
    ...(sampler ? { prometheus: { samples: sampler.samples, failures: sampler.failures } } : {}),
  });
}
