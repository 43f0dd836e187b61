/**
 * Soak: the real server in a child process under mixed load for a while, watched for leaks.
 *
 *   npm run soak -- [--minutes 10] [--sessions 2] [--http-rate 50] [--resolution 640x360] [--fps 15]
 *                   [--max-rss-growth P] [--session-seconds S] [--json]
 *
 * Load: an open-loop HTTP scheduler sends `--http-rate` requests/s to /process, cycling through a mix
 * of frame sizes and every filter of the catalog (and a POST with a raw RGBA body), and `--sessions`
 * WebRTC publishers (rtc-load webrtc's synthetic sessions, frame ids and all, each with the next
 * filter) that each live a random S to 2S seconds (`--session-seconds`, default 30, or a sixth of
 * the run when that is shorter), are deleted, and are replaced at once.
 *
 * Watch: every 5 s the server's RSS (VmRSS), open file descriptors (/proc/<pid>/fd) and threads.
 * The first 20 % of the run is warm-up (at least 60 s from 5 minutes up, at least 20 s below).
 * At the end of the warm-up and at the end of the run the load pauses ("quiet point"): HTTP
 * connections closed, sessions deleted, then the fd count is read once it has settled. Checks:
 *
 * - RSS growth: mean RSS over the last minute of load against the mean over the first minute after
 *   the warm-up (both windows shrink to half the post-warm-up span on short runs), below
 *   `--max-rss-growth` (default 10 %, 25 % for runs under 5 minutes, whose windows are a few
 *   samples each and noisier);
 * - fds: the count at the final quiet point within ±5 of the count at the post-warm-up quiet point;
 * - sessions: app_webrtc_sessions_active is 0 at the end and every session created was deleted.
 *
 * Exit 1 when a check fails (or the server dies), 2 on bad arguments. The server inherits this
 * process's environment, so `MALLOC_ARENA_MAX=2 npm run soak` soaks it with that allocator setting.
 *
 * The parts, in bench/soak/: options.ts, server.ts (the child process and what /proc says of it),
 * http-load.ts, sessions.ts, run.ts (the phases and samples), report.ts (figures and checks).
 */
import { parseOptions } from './soak/options.ts';
import { buildReport, formatReport } from './soak/report.ts';
import { runSoak } from './soak/run.ts';

async function main(): Promise<void> {
  const options = parseOptions(process.argv.slice(2));
  const log = (line: string): void => {
    process.stderr.write(`${line}\n`);
  };
  const run = await runSoak(options, log);
  const report = buildReport(options, run);
  if (run.failure !== undefined) log(`soak: ${run.failure}`);
  if (options.json) process.stdout.write(`${JSON.stringify(report)}\n`);
  else process.stdout.write(formatReport(report));
  process.exitCode = report.ok ? 0 : 1;
}

main().catch((error: unknown) => {
  process.stderr.write(`soak failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exitCode = 1;
});
