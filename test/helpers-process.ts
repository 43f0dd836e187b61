import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { nodeArgsFor } from '../src/engine/compiled-current.mjs';

export interface ServerProcess {
  readonly child: ChildProcess;
  readonly baseUrl: string;
  /** Resolves with the exit code (or signal name). */
  readonly exited: Promise<number | string>;
  readonly logs: string[];
}

export const compiledEntry = fileURLToPath(new URL('../dist/src/server.js', import.meta.url));

/**
 * Starts the real server on a free loopback port. With `compiled`, the build output exactly as
 * `npm start` and the images run it; otherwise the same build when it is current (npm test builds
 * first), else `src/server.ts` under tsx.
 */
export async function startServer(env: Record<string, string> = {}, timeoutMs = 20_000, compiled = false): Promise<ServerProcess> {
  const args = compiled ? [compiledEntry] : nodeArgsFor('src/server.ts');
  const child = spawn(process.execPath, args, {
    // A stopped test server exits at once: no grace for endpoints to drop it, none for live calls
    // (a SIGTERM'd server with a session would otherwise wait SESSION_DRAIN_SECONDS, 60 s).
    // Nor does a busy test machine trip the event-loop stall guard (tests of the guard set it).
    env: { ...process.env, HOST: '127.0.0.1', PORT: '0', WORKERS: '1', LOG_LEVEL: 'info', SHUTDOWN_DELAY_SECONDS: '0', SESSION_DRAIN_SECONDS: '0', MAX_EVENT_LOOP_DELAY_MS: '0', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const logs: string[] = [];
  const exited = once(child, 'exit').then(([code, signal]) => (code ?? String(signal)) as number | string);
  const baseUrl = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => {
      // A server that did not start in time must not outlive the caller's failure.
      child.kill('SIGKILL');
      reject(new Error(`server did not start: ${logs.join('')}`));
    }, timeoutMs);
    const onData = (chunk: Buffer) => {
      const text = chunk.toString();
      logs.push(text);
      const m = /Server listening at (http:\/\/127\.0\.0\.1:\d+)/.exec(text);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]!);
      }
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', (c: Buffer) => logs.push(c.toString()));
    void exited.then((code) => reject(new Error(`server exited early (${code}): ${logs.join('')}`)));
  });
  return { child, baseUrl, exited, logs };
}
