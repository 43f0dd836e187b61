import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

interface SoakJson {
  durationSeconds: number;
  warmupSeconds: number;
  rss: { growthPercent: number | null; postWarmupMiB: number; lastMiB: number };
  fds: { postWarmup: number; final: number; drift: number };
  http: { requests: number; statusCounts: Record<string, number>; errors: Record<string, number>; fiveXx: number };
  sessions: { created: number; deleted: number; activeAtEnd: number; serverOutcomes: Record<string, number> };
  checks: Record<string, boolean>;
  ok: boolean;
}

/**
 * One minute of the soak (bench/soak.ts) in CI: 20 s warm-up, then 40 s of load: 10 req/s of HTTP
 * and one 160x120 session at 5 fps that is deleted and replaced every 5-10 s (leaks show in the
 * number of sessions and requests, not in the size of their frames). The checks count
 * (fds back within ±5, every session deleted and seen closed, app_webrtc_sessions_active at 0,
 * no 5xx): one fd or session kept per request or per session shows in ~600 requests and ~8
 * sessions as it did in 1200 requests and 2-5 sessions (more session cycles than before), at about
 * three quarters of the CPU (the --minutes floor is 1). RSS over such a short run is compared
 * over windows of a few 5 s samples, and GC timing alone moves it by several percent, so the bound
 * here is 25 % rather than the 10 % of the full 10-minute soak: it catches gross leaks only, at
 * any of these rates.
 */
test('short soak: no 5xx, sessions cleaned up, fds back to their level, RSS steady', { timeout: 100_000 }, async () => {
  const { code, stdout, stderr } = await new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
    execFile(
      process.execPath,
      ['--import', 'tsx', 'bench/soak.ts', '--minutes', '1', '--sessions', '1', '--resolution', '160x120', '--fps', '5', '--http-rate', '10', '--session-seconds', '5', '--json'],
      // Leaks are the question, not admission: on a busy test machine the server neither sheds on a
      // stalled event loop nor gives up on a job after the default queue wait (the soak passes its
      // environment on to the server).
      { cwd: ROOT, timeout: 95_000, maxBuffer: 16 * 1024 * 1024, env: { ...process.env, MAX_EVENT_LOOP_DELAY_MS: '0', MAX_QUEUE_WAIT_SECONDS: '30' } },
      (error, out, err) => resolve({ code: error === null ? 0 : typeof error.code === 'number' ? error.code : null, stdout: out, stderr: err }),
    );
  });
  const text = stdout.trim();
  assert.ok(text !== '' && !text.includes('\n'), `one JSON line expected (exit ${code}); stderr:\n${stderr.slice(-3000)}`);
  const report = JSON.parse(text) as SoakJson;
  const context = `\n${JSON.stringify({ rss: report.rss, fds: report.fds, sessions: report.sessions, http: report.http, checks: report.checks })}\n${stderr.slice(-2000)}`;

  assert.equal(report.warmupSeconds, 20);
  // 10 req/s for the minute, less the two quiet points: 400 is two thirds of it.
  assert.ok(report.http.requests > 400, `HTTP load ran at its rate (${report.http.requests} requests)${context}`);
  assert.equal(report.http.fiveXx, 0, `no 5xx${context}`);
  assert.deepEqual(report.http.errors, {}, `no transport errors${context}`);
  assert.ok(report.sessions.created >= 4, `sessions were cycled (${report.sessions.created})${context}`);
  assert.equal(report.sessions.deleted, report.sessions.created, `every session deleted${context}`);
  assert.equal(report.sessions.activeAtEnd, 0, `app_webrtc_sessions_active back to 0${context}`);
  assert.equal(report.sessions.serverOutcomes.closed, report.sessions.created, `the server saw each session closed${context}`);
  assert.ok(Math.abs(report.fds.drift) <= 5, `fds ${report.fds.postWarmup} -> ${report.fds.final}${context}`);
  assert.ok(report.rss.growthPercent !== null && report.rss.growthPercent < 25, `RSS growth ${report.rss.growthPercent} %${context}`);
  assert.equal(report.ok, true, context);
  assert.equal(code, 0, context);
});
