/** The server under soak: a child process of the real server, and what /proc and /metrics say of it. */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { sleep } from '../../tools/rtc-load/webrtc/run.ts';
import { freePort } from '../../test/ports.ts';
import { nodeArgsFor } from '../../src/engine/compiled-current.mjs';

const root = fileURLToPath(new URL('../..', import.meta.url));

export const round1 = (n: number): number => Math.round(n * 10) / 10;

export interface ProcSample {
  rssMiB: number;
  fds: number;
  threads: number;
}

export function procSample(pid: number): ProcSample {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const field = (key: string): number => Number(new RegExp(`^${key}:\\s+(\\d+)`, 'm').exec(status)?.[1] ?? Number.NaN);
  return { rssMiB: round1(field('VmRSS') / 1024), fds: readdirSync(`/proc/${pid}/fd`).length, threads: field('Threads') };
}

/** Sum of a counter or gauge over its label sets, per label value of `label` when given. */
export function metricValues(text: string, name: string, label?: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const m of text.matchAll(new RegExp(`^${name}(?:\\{([^}]*)\\})? (\\S+)$`, 'gm'))) {
    const key = label === undefined ? '' : (new RegExp(`${label}="([^"]*)"`).exec(m[1] ?? '')?.[1] ?? '');
    out.set(key, (out.get(key) ?? 0) + Number(m[2]));
  }
  return out;
}

export class ServerUnderTest {
  readonly child: ChildProcess;
  readonly pid: number;
  readonly base: string;
  readonly exited: Promise<unknown>;
  readonly #tail: string[];

  private constructor(child: ChildProcess, base: string, tail: string[]) {
    this.child = child;
    this.pid = child.pid ?? -1;
    this.base = base;
    this.#tail = tail;
    this.exited = once(child, 'exit');
  }

  static async start(env: Record<string, string>): Promise<ServerUnderTest> {
    const port = await freePort();
    // What is deployed: the build (`npm run build`) when it is current, else the sources through tsx.
    const child = spawn(process.execPath, nodeArgsFor('src/server.ts'), {
      cwd: root,
      // The images set MALLOC_ARENA_MAX=2 (see the Dockerfiles); soak what is deployed unless told otherwise.
      env: { MALLOC_ARENA_MAX: '2', ...process.env, HOST: '127.0.0.1', PORT: String(port), LOG_LEVEL: 'warn', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    // The last lines only: a soak must not grow its own memory with the server's log.
    const tail: string[] = [];
    const keep = (chunk: Buffer): void => {
      tail.push(chunk.toString());
      if (tail.length > 40) tail.shift();
    };
    child.stdout?.on('data', keep);
    child.stderr?.on('data', keep);
    const server = new ServerUnderTest(child, `http://127.0.0.1:${port}`, tail);
    const deadline = performance.now() + 60_000;
    for (;;) {
      if (child.exitCode !== null) throw new Error(`the server exited with ${child.exitCode}: ${tail.join('')}`);
      if (performance.now() > deadline) {
        child.kill('SIGKILL');
        throw new Error('the server did not become ready in 60 s');
      }
      const ready = await fetch(`${server.base}/readyz`).then((r) => r.ok, () => false);
      if (ready) return server;
      await sleep(200);
    }
  }

  get alive(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  get logTail(): string {
    return this.#tail.join('');
  }

  async metrics(): Promise<string> {
    const response = await fetch(`${this.base}/metrics`, { signal: AbortSignal.timeout(5000) });
    return response.text();
  }

  async sessionsActive(): Promise<number> {
    return metricValues(await this.metrics(), 'app_webrtc_sessions_active').get('') ?? Number.NaN;
  }

  async stop(): Promise<void> {
    if (!this.alive) return;
    this.child.kill('SIGTERM');
    const killer = setTimeout(() => this.child.kill('SIGKILL'), 15_000);
    await this.exited;
    clearTimeout(killer);
  }
}
