/** The server under test: the compiled build (`npm start`'s), or another build's for a baseline. */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { metricValue } from '../../test/helpers.ts';

export interface BenchServer {
  readonly baseUrl: string;
  readonly child: ChildProcess;
  /** Seconds of CPU the main thread (the event loop) has used. */
  mainThreadCpuSeconds(): number;
  /** /process answers by status so far, from its /metrics. */
  processAnswers(): Promise<Record<string, number>>;
  metrics(): Promise<string>;
  stop(): Promise<void>;
}

const CLOCK_TICKS_PER_SECOND = 100;

/** `cpus`: a taskset list the server is pinned to (it execs node: the pid stays the server's). */
export async function startBenchServer(entry: string, env: Record<string, string>, cpus?: string): Promise<BenchServer> {
  const command = cpus === undefined ? [process.execPath, entry] : ['taskset', '-c', cpus, process.execPath, entry];
  const child = spawn(command[0]!, command.slice(1), {
    env: { ...process.env, HOST: '127.0.0.1', PORT: '0', LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const baseUrl = await new Promise<string>((resolve, reject) => {
    let text = '';
    child.stdout!.on('data', (chunk: Buffer) => {
      text += chunk.toString();
      const m = /Server listening at (http:\/\/127\.0\.0\.1:\d+)/.exec(text);
      if (m) resolve(m[1]!);
    });
    child.once('exit', (code) => reject(new Error(`server exited (${code}): ${text.slice(-2000)}`)));
  });
  child.stdout!.resume();
  const pid = child.pid!;
  const metrics = async () => (await fetch(`${baseUrl}/metrics`)).text();
  return {
    baseUrl,
    child,
    metrics,
    mainThreadCpuSeconds: () => {
      // /proc/<pid>/task/<pid>/stat: fields 14 and 15 are the thread's user and system ticks.
      const fields = readFileSync(`/proc/${pid}/task/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
      return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS_PER_SECOND;
    },
    processAnswers: async () => {
      const text = await metrics();
      const out: Record<string, number> = {};
      for (const status of ['200', '503', '429', '422', '499', '500']) {
        const v = metricValue(text, 'app_requests_total', { endpoint: '/process', status });
        if (v !== undefined) out[status] = v;
      }
      return out;
    },
    stop: async () => {
      child.kill('SIGKILL');
      await once(child, 'exit');
    },
  };
}
