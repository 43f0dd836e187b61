/**
 * The flood shapes of bench/overload.ts. Closed loops are hey's (the seed's tool: a client that
 * retries at once and ignores Retry-After), run as separate processes; the open loop is ours, since
 * hey's rate limit waits for answers (it is a closed loop with a cap): requests leave on schedule
 * whether or not the earlier ones were answered.
 */
import { Pool } from 'undici';
import { hey, merge, type LoadResult } from '../../test/hey.ts';

export { quantileMs, type LoadResult } from '../../test/hey.ts';

/** A closed-loop storm from one address: `concurrency` clients that retry at once. */
export function closedLoop(url: string, concurrency: number, seconds: number): Promise<LoadResult> {
  return hey(url, concurrency, seconds);
}

/**
 * The same storm from `addresses` clients' addresses, told to the server by X-Forwarded-For (it
 * must trust the loopback proxy: TRUST_PROXY=127.0.0.1): each address its own hey process.
 */
export async function closedLoopFromMany(url: string, concurrency: number, addresses: number, seconds: number): Promise<LoadResult> {
  const each = Math.max(1, Math.round(concurrency / addresses));
  const runs = Array.from({ length: addresses }, (_, i) => hey(url, each, seconds, { 'x-forwarded-for': `198.51.100.${i + 1}` }));
  return merge(await Promise.all(runs));
}

/** An open loop at `ratePerSecond` for `seconds`: each request leaves on its schedule. */
export async function openLoop(url: string, ratePerSecond: number, seconds: number): Promise<LoadResult> {
  const target = new URL(url);
  const pool = new Pool(target.origin, { connections: 4096, pipelining: 1, headersTimeout: 30_000, bodyTimeout: 30_000 });
  const statuses: Record<string, number> = {};
  const servedMs: number[] = [];
  const inflight = new Set<Promise<void>>();
  const send = () => {
    const t0 = performance.now();
    const request = pool
      .request({ path: target.pathname + target.search, method: 'GET' })
      .then(async (res) => {
        await res.body.dump();
        const status = String(res.statusCode);
        statuses[status] = (statuses[status] ?? 0) + 1;
        if (res.statusCode === 200) servedMs.push(performance.now() - t0);
      })
      .catch((err: unknown) => {
        const name = err instanceof Error ? err.name : 'error';
        statuses[name] = (statuses[name] ?? 0) + 1;
      })
      .finally(() => inflight.delete(request));
    inflight.add(request);
  };
  const start = performance.now();
  let sent = 0;
  while (performance.now() - start < seconds * 1000) {
    const due = Math.floor(((performance.now() - start) / 1000) * ratePerSecond);
    for (; sent < due; sent++) send();
    await new Promise((r) => setTimeout(r, 2));
  }
  await Promise.all(inflight);
  await pool.close();
  return { statuses, servedMs: servedMs.sort((a, b) => a - b), seconds };
}
