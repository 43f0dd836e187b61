import { execFile } from 'node:child_process';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { nodeArgsFor } from '../../src/engine/compiled-current.mjs';
import { parseCommandLine } from '../../tools/rtc-load/http/args.ts';
import { parsePlanCommandLine } from '../../tools/rtc-load/plan/args.ts';
import { parseWebRtcCommandLine } from '../../tools/rtc-load/webrtc/args.ts';

export const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));

export interface TestServer {
  /** Base URL without a trailing slash, e.g. http://127.0.0.1:40123 */
  baseUrl: string;
  port: number;
  requestCount(): number;
  close(): Promise<void>;
}

/** An HTTP server on 127.0.0.1 with an OS-chosen port, closed by close(). */
export async function startServer(handler: (request: IncomingMessage, response: ServerResponse, index: number) => void): Promise<TestServer> {
  let count = 0;
  const server: Server = createServer((request, response) => {
    const index = count;
    count += 1;
    request.resume();
    handler(request, response, index);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    baseUrl: `http://127.0.0.1:${port}`,
    port,
    requestCount: () => count,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** A port on 127.0.0.1 that was just free, so connecting to it is refused. */
export async function refusedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs the CLI from its sources in a child process, so tests never depend on build output. */
export function runRtcLoad(args: readonly string[], timeoutMs = 15_000): Promise<CliResult> {
  // The build when it is current (npm test builds first): the same code without transpiling it per run.
  return runCommand(process.execPath, [...nodeArgsFor('tools/rtc-load/main.ts'), ...args], timeoutMs);
}

/**
 * A command line rtc-load refuses, run in this process: runCli, all that main.ts runs, with what it
 * writes to stderr captured. A refusal is decided by parsing alone, so this is the CLI's exit code
 * and message without a Node start (0.4 CPU-s) each. Only for command lines that exit at parsing.
 */
export async function refusedInProcess(args: readonly string[]): Promise<{ code: number; stderr: string }> {
  // A line the parser accepts would start a real run in the test process: say so instead.
  if (rtcLoadRefusal(args) === undefined) throw new Error(`rtc-load accepts ${JSON.stringify(args)}: run it as a process`);
  const { runCli } = await import('../../tools/rtc-load/cli.ts');
  const write = process.stderr.write;
  let stderr = '';
  process.stderr.write = ((chunk: string | Uint8Array) => {
    stderr += chunk.toString();
    return true;
  }) as typeof process.stderr.write;
  try {
    return { code: await runCli(args), stderr };
  } finally {
    process.stderr.write = write;
  }
}

/** rtc-load's parser for the words after `rtc-load`: the reason it refuses them, or undefined. */
export function rtcLoadRefusal(args: readonly string[]): string | undefined {
  try {
    if (args[0] === 'webrtc') parseWebRtcCommandLine(args.slice(1));
    else if (args[0] === 'plan') parsePlanCommandLine(args.slice(1));
    else parseCommandLine(args);
    return undefined;
  } catch (error) {
    return error instanceof Error ? error.message : String(error);
  }
}

export function runCommand(file: string, args: readonly string[], timeoutMs = 15_000, env?: NodeJS.ProcessEnv): Promise<CliResult> {
  return new Promise((resolve) => {
    execFile(file, [...args], { cwd: REPO_ROOT, timeout: timeoutMs, maxBuffer: 16 * 1024 * 1024, env: env ?? process.env }, (error, stdout, stderr) => {
      const code = error === null ? 0 : typeof error.code === 'number' ? error.code : null;
      resolve({ code, stdout, stderr });
    });
  });
}

/** Parses the single JSON object that --json prints. */
export function parseReport(result: CliResult): Record<string, unknown> & {
  requests: number;
  offered: number;
  served: number;
  refused: number;
  throttled: number;
  latency: Record<string, number>;
  statusCounts: Record<string, number>;
  errors: Record<string, number>;
} {
  const text = result.stdout.trim();
  if (text === '' || text.includes('\n')) throw new Error(`expected one JSON line on stdout, got: ${text.slice(0, 500)}\nstderr: ${result.stderr}`);
  return JSON.parse(text);
}

/** `fn` over `items`, at most `limit` at a time (commands each in their own process); results in order. */
export async function mapLimited<T, R>(items: readonly T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const results: R[] = [];
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(limit, items.length) }, async () => {
      for (let i = next++; i < items.length; i = next++) results[i] = await fn(items[i] as T);
    }),
  );
  return results;
}
