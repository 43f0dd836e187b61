import { readFileSync } from 'node:fs';
import type { TestContext } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { startServer, type ServerProcess } from '../helpers-process.ts';

export const MiB = 1024 * 1024;

/** The real server (its own process, so its RSS is its own), killed when the test ends. */
export async function hostileServer(t: TestContext, env: Record<string, string>): Promise<ServerProcess> {
  const server = await startServer({ LOG_LEVEL: 'info', ...env }, 60_000);
  t.after(() => server.child.kill('SIGKILL'));
  return server;
}

export function rssBytes(pid: number): number {
  const kb = Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0);
  return kb * 1024;
}

/** Samples a process's RSS every 25 ms until stopped; `peak` is the largest seen. */
export function watchRss(pid: number): { readonly peak: number; stop(): number } {
  let peak = rssBytes(pid);
  const timer = setInterval(() => {
    try {
      peak = Math.max(peak, rssBytes(pid));
    } catch {
      // the process is gone: the test's own assertions say why
    }
  }, 25);
  return {
    get peak() {
      return peak;
    },
    stop() {
      clearInterval(timer);
      return peak;
    },
  };
}

/**
 * An ordinary client beside the attack: one small request at a time, with a pause, recording
 * every status and latency until stopped.
 */
export function ordinaryClient(url: string, pauseMs = 100) {
  const statuses: (number | string)[] = [];
  const latenciesMs: number[] = [];
  let running = true;
  const done = (async () => {
    while (running) {
      const t0 = performance.now();
      try {
        const res = await fetch(url, { signal: AbortSignal.timeout(10_000) });
        await res.arrayBuffer();
        statuses.push(res.status);
        if (res.status === 200) latenciesMs.push(performance.now() - t0);
      } catch (err) {
        statuses.push(err instanceof Error ? err.name : 'error');
      }
      await sleep(pauseMs);
    }
  })();
  return {
    statuses,
    latenciesMs,
    async stop() {
      running = false;
      await done;
      return { statuses, latenciesMs };
    },
  };
}

export function tally(values: readonly (number | string)[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const v of values) out[String(v)] = (out[String(v)] ?? 0) + 1;
  return out;
}

/** Every answer an attacker got is a 2xx, a 4xx or a 503 that says when to retry: never another 5xx, never a dropped connection. */
export function onlyExpectedStatuses(statuses: readonly (number | string)[]): boolean {
  return statuses.every((s) => typeof s === 'number' && (s < 500 || s === 503));
}

export async function metricsText(baseUrl: string): Promise<string> {
  return (await fetch(`${baseUrl}/metrics`)).text();
}
