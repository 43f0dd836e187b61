import { after } from 'node:test';
import { buildApp, type AppContext } from '../src/app.ts';
import { configWith, type Config } from '../src/config.ts';
import type { Engine } from '../src/engine/engine.ts';
import { waitUntil } from './wait.ts';

/**
 * An app with a small CPU engine and no logging, closed when the test ends (CPU even on a GPU machine).
 * The event-loop stall guard is off unless a test sets it: a busy test machine must not shed a test's
 * requests (the guard's own tests set its threshold). One worker thread and no media lane (frames
 * share it, still first): each thread costs half a second of CPU to start, and the WebRTC tests' apps
 * (listeningApp) ask for the lane.
 */
/** Where a test's or a file's closers go: a test's context, or fileScope(). */
export interface Scope {
  after(close: () => void | Promise<void>): void;
}

/**
 * A scope whose closers run once the file's tests are done (one file-level after(), last opened
 * first closed): for what several tests of a file share. Call it at a file's top level.
 */
export function fileScope(): Scope {
  const closers: (() => void | Promise<void>)[] = [];
  after(async () => {
    for (const close of closers.reverse()) await close();
  });
  return { after: (close) => void closers.push(close) };
}

export async function testApp(t: Scope, overrides: Partial<Config> = {}): Promise<AppContext> {
  const ctx = await buildApp(configWith({ device: 'cpu', workers: 1, mediaWorkers: 0, maxQueue: 16, logLevel: 'silent', maxEventLoopDelayMs: 0, ...overrides }), { logger: false });
  t.after(() => ctx.app.close());
  return ctx;
}

/** Reads one sample of a metric from Prometheus text exposition. */
export function metricValue(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  for (const line of text.split('\n')) {
    if (!line.startsWith(name)) continue;
    const m = /^([a-zA-Z_:][\w:]*)(\{[^}]*\})?\s+(\S+)/.exec(line);
    if (!m || m[1] !== name) continue;
    const lineLabels = Object.fromEntries([...(m[2] ?? '').matchAll(/(\w+)="([^"]*)"/g)].map((x) => [x[1], x[2]]));
    if (Object.entries(labels).every(([k, v]) => lineLabels[k] === v)) return Number(m[3]);
  }
  return undefined;
}

/**
 * Stalls the main thread until the pressure guard has seen it, then sends `request` and returns its
 * answer (retrying while it is not a 503). The guard reads the mean event-loop delay every 250 ms and
 * may sample just before the stall reaches its histogram; a long stall keeps the next mean well over
 * `thresholdMs`, and waiting on the guard's own reading removes the race with its timer.
 */
export async function underStall<T extends { statusCode: number }>(app: AppContext['app'], thresholdMs: number, request: () => Promise<T>): Promise<T> {
  let res: T | undefined;
  for (let attempt = 0; attempt < 4; attempt++) {
    const until = performance.now() + 1000;
    while (performance.now() < until) {
      /* busy: the stall under test */
    }
    // Past 800 ms the request goes anyway: the next attempt stalls again.
    await waitUntil('the guard to read the stall', () => app.memoryUsage().eventLoopDelay > thresholdMs, { timeoutMs: 800, intervalMs: 10 }).catch(() => undefined);
    res = await request();
    if (res.statusCode === 503) return res;
  }
  return res!;
}

/**
 * Starts `request`, waits until its job is on the (single) /process worker, terminates that worker
 * under it and returns the request's answer.
 */
export async function killWorkerMidJob<T>(engine: Engine, request: () => Promise<T>): Promise<T> {
  const answer = request();
  await waitUntil('the job on a worker', () => engine.processJobsRunning === 1 && engine.pool.threads.length > 0, { intervalMs: 5 });
  await engine.pool.threads[0]!.terminate();
  return answer;
}

/** An SSE (or any streamed) answer read as text as it comes; `abort` ends the read. */
export function sseText(url: string) {
  const controller = new AbortController();
  const decoder = new TextDecoder();
  let text = '';
  let ended = false;
  const answer = fetch(url, { signal: controller.signal }).then((res) => {
    void (async () => {
      try {
        for await (const chunk of res.body!) text += decoder.decode(chunk as Uint8Array, { stream: true });
      } catch {
        // aborted by the test
      }
      ended = true;
    })();
    return res;
  });
  return { answer, text: () => text, ended: () => ended, abort: () => controller.abort() };
}
