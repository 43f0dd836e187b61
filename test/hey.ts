/**
 * hey (Debian's, the seed's load tool) as a closed loop: `concurrency` clients for `seconds`, each
 * sending its next request as soon as its last was answered (hey ignores Retry-After): the storm of
 * impatient clients. One row per request (-o csv), so that the 200s' latencies can be told apart.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';

export interface LoadResult {
  /** Answers by status code (or error name). */
  readonly statuses: Record<string, number>;
  /** Latency of the 200s, milliseconds, sorted. */
  readonly servedMs: readonly number[];
  readonly seconds: number;
}

export function quantileMs(sorted: readonly number[], q: number): number | undefined {
  if (sorted.length === 0) return undefined;
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
}

export function merge(results: readonly LoadResult[]): LoadResult {
  const statuses: Record<string, number> = {};
  for (const r of results) for (const [k, v] of Object.entries(r.statuses)) statuses[k] = (statuses[k] ?? 0) + v;
  return { statuses, servedMs: results.flatMap((r) => r.servedMs).sort((a, b) => a - b), seconds: Math.max(...results.map((r) => r.seconds)) };
}

/** hey -z: a closed loop of `concurrency` clients for `seconds`, one row per request (-o csv). */
export async function hey(url: string, concurrency: number, seconds: number, headers: Record<string, string> = {}): Promise<LoadResult> {
  const args = ['-z', `${seconds}s`, '-c', String(concurrency), '-o', 'csv'];
  for (const [k, v] of Object.entries(headers)) args.push('-H', `${k}: ${v}`);
  const child = spawn('hey', [...args, url], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (out += chunk));
  await once(child, 'exit');
  const statuses: Record<string, number> = {};
  const servedMs: number[] = [];
  // response-time,DNS+dialup,DNS,Request-write,Response-delay,Response-read,status-code,offset
  for (const line of out.split('\n').slice(1)) {
    const cols = line.split(',');
    if (cols.length < 8) continue;
    const status = cols[6]!;
    statuses[status] = (statuses[status] ?? 0) + 1;
    if (status === '200') servedMs.push(Number(cols[0]) * 1000);
  }
  return { statuses, servedMs: servedMs.sort((a, b) => a - b), seconds };
}


