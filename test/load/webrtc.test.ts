import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { after, before, describe, test } from 'node:test';
import type { EffectJob } from '../../src/effects/catalog.ts';
import { referenceApply } from '../../src/effects/reference.ts';
import { startServer, type ServerProcess } from '../helpers-process.ts';
import { codeGeometry, MAX_FRAME_ID, readFrameId, writeFrameId } from '../../tools/rtc-load/webrtc/frame-id.ts';
import { FrameSource } from '../../tools/rtc-load/webrtc/frames.ts';
import type { WebRtcReport } from '../../tools/rtc-load/webrtc/report.ts';
import { REPO_ROOT, refusedInProcess, runRtcLoad } from './fixtures.ts';
import { nodeArgsFor } from '../../src/engine/compiled-current.mjs';
import { waitUntil } from '../wait.ts';

const IDS = [0, 1, 2, 0x5a5a5a, 123_456, MAX_FRAME_ID];

function through(width: number, height: number, job: EffectJob, data: Uint8Array): Uint8Array {
  return referenceApply({ format: 'i420', width, height }, job, data);
}

/** Nearest-neighbour downscale of an I420 frame's luma (the reader looks at Y only). */
function scaledLuma(data: Uint8Array, width: number, height: number, toWidth: number, toHeight: number): Uint8Array {
  const out = new Uint8Array(toWidth * toHeight + 2 * ((toWidth + 1) >> 1) * ((toHeight + 1) >> 1)).fill(128);
  for (let y = 0; y < toHeight; y++) {
    for (let x = 0; x < toWidth; x++) out[y * toWidth + x] = data[Math.floor((y * height) / toHeight) * width + Math.floor((x * width) / toWidth)] ?? 0;
  }
  return out;
}

describe('frame id code (no WebRTC)', () => {
  test('survives the reference blur, gaussian, sharpen, pixelate, grayscale and invert; edge wipes it', () => {
    const width = 320;
    const height = 240;
    const frames = new FrameSource(width, height);
    const readable: EffectJob[] = [
      { effect: 'blur', params: {}, iters: 1 },
      { effect: 'blur', params: {}, iters: 4 },
      { effect: 'gaussian', params: { sigma: 2 }, iters: 1 },
      { effect: 'sharpen', params: {}, iters: 1 },
      { effect: 'pixelate', params: { block: 16 }, iters: 1 },
      { effect: 'grayscale', params: {}, iters: 1 },
      { effect: 'invert', params: {}, iters: 1 },
      { effect: 'blur', params: {}, iters: 0 },
    ];
    for (const id of IDS) {
      const frame = frames.frame(id);
      assert.equal(readFrameId(frame.data, width, height, width, height), id, `untouched frame ${id}`);
      for (const job of readable) {
        const out = through(width, height, job, frame.data);
        assert.equal(readFrameId(out, width, height, width, height), id, `${job.effect} x${job.iters}, id ${id}`);
      }
      const edge = through(width, height, { effect: 'edge', params: {}, iters: 1 }, frame.data);
      assert.equal(readFrameId(edge, width, height, width, height), undefined, `edge must not yield an id (${id})`);
    }
  });

  test('reads a frame returned at a lower resolution, at the same relative positions', () => {
    const [width, height] = [1280, 720];
    const frame = new FrameSource(width, height).frame(777_777);
    const blurred = through(width, height, { effect: 'blur', params: {}, iters: 1 }, frame.data);
    for (const [w, h] of [
      [960, 540],
      [640, 360],
      [320, 180],
    ] as const) {
      assert.equal(readFrameId(scaledLuma(blurred, width, height, w, h), w, h, width, height), 777_777, `${w}x${h}`);
    }
  });

  test('flat, black and noisy frames carry no id; a single flipped bit is caught by the check', () => {
    const [width, height] = [320, 240];
    const size = width * height + 2 * 160 * 120;
    assert.equal(readFrameId(new Uint8Array(size), width, height, width, height), undefined);
    assert.equal(readFrameId(new Uint8Array(size).fill(200), width, height, width, height), undefined);
    let seed = 1;
    const noise = new Uint8Array(size).map(() => {
      seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31;
      return seed & 0xff;
    });
    assert.equal(readFrameId(noise, width, height, width, height), undefined);

    const data = new Uint8Array(size);
    writeFrameId(data, width, height, 4242);
    const { cell, x0, y0 } = codeGeometry(width, height);
    // Bit 5 of the 32: column 1 + 5, row 0.
    const left = x0 + 6 * cell;
    const value = (data[y0 * width + left] ?? 0) > 128 ? 16 : 235;
    for (let y = y0; y < y0 + cell; y++) data.fill(value, y * width + left, y * width + left + cell);
    assert.equal(readFrameId(data, width, height, width, height), undefined);
  });
});

describe('rtc-load webrtc against the real server', { timeout: 45_000 }, () => {
  let server: ServerProcess;
  // SLO admission off: on a busy test machine the frame p95 may pass FRAME_SLO_MS and refuse sessions.
  before(async () => {
    server = await startServer({ MAX_SESSIONS: '3', MAX_SESSIONS_PER_CLIENT: '0', SLO_ADMISSION: 'false', SHUTDOWN_DELAY_SECONDS: '0', SESSION_DRAIN_SECONDS: '0' });
  });
  after(async () => {
    if (!server) return;
    server.child.kill('SIGTERM');
    await server.exited;
  });

  const activeSessions = async (): Promise<number> => {
    const text = await (await fetch(`${server.baseUrl}/metrics`)).text();
    const m = /^app_webrtc_sessions_active (\S+)$/m.exec(text);
    return m ? Number(m[1]) : Number.NaN;
  };
  const untilNoSession = async (): Promise<number> => {
    await waitUntil('no session left', async () => (await activeSessions()) === 0, { timeoutMs: 5000, intervalMs: 100 }).catch(() => undefined);
    return activeSessions();
  };
  const run = async (args: string[]): Promise<WebRtcReport> => {
    const result = await runRtcLoad(['webrtc', ...args, '--json', `${server.baseUrl}/whip`], 30_000);
    assert.equal(result.code, 0, result.stderr);
    const text = result.stdout.trim();
    assert.ok(text !== '' && !text.includes('\n'), `one JSON line expected, got: ${text.slice(0, 300)}\n${result.stderr}`);
    return JSON.parse(text) as WebRtcReport;
  };

  test('two sessions: fps, round trip from decoded frame ids, every session deleted', async () => {
    // 4 s: fps counts from each session's first returned frame (setup apart), 15 fps gives ~50 frames a
    // session. 160x120 (rtc-load sends 160x96 at the least): the frame ids read the same, at a quarter of the pixels.
    const report = await run(['--sessions', '2', '--resolution', '160x120', '--fps', '15', '--duration', '4s']);
    assert.equal(report.mode, 'webrtc');
    assert.deepEqual({ ...report.sessions }, { requested: 2, established: 2, rejected: 0, failed: 0, withFrames: 2 });
    for (const session of report.perSession) assert.ok(session.fps > 5, `session ${session.index} returned ${session.fps} fps`);
    assert.ok(report.fps.min > 5, `min fps ${report.fps.min}`);
    assert.equal(report.frameIds, true);
    assert.ok(report.frames.withId > 0 && report.frames.received >= report.frames.withId, JSON.stringify(report.frames));
    assert.ok(report.frames.sent >= report.frames.withId);
    assert.ok(report.latency.p50 > 0 && report.latency.p50 < 1000, `round-trip p50 ${report.latency.p50} ms`);
    assert.ok(report.setupMs.p50 > 0, 'setup time measured');
    assert.ok(report.timeline.some((p) => p.framesReceived > 0 && p.p50 > 0));
    assert.deepEqual(report.deletes, { '200': 2 });
    assert.equal(await untilNoSession(), 0, 'app_webrtc_sessions_active back to 0');
  });

  test('four sessions against MAX_SESSIONS=3: one is rejected with the server error, the rest deleted', async () => {
    const report = await run(['--sessions', '4', '--resolution', '160x120', '--fps', '15', '--duration', '2s']);
    assert.equal(report.sessions.established, 3);
    assert.equal(report.sessions.rejected, 1);
    const [message, count] = Object.entries(report.errors)[0] ?? ['', 0];
    assert.match(message, /^503 /);
    assert.match(message, /MAX_SESSIONS/);
    assert.equal(count, 1);
    assert.equal(report.perSession.filter((s) => s.status === 'rejected').length, 1);
    assert.deepEqual(report.deletes, { '200': 3 });
    assert.equal(await untilNoSession(), 0, 'app_webrtc_sessions_active back to 0');
  });

  test('Ctrl-C ends the run early, still deletes the session and reports', async () => {
    // The build when it is current, as runRtcLoad runs it: the same CLI without transpiling it.
    const child = spawn(process.execPath, [...nodeArgsFor('tools/rtc-load/main.ts'), 'webrtc', '--resolution', '320x240', '--fps', '15', '--duration', '60s', '--json', `${server.baseUrl}/whip`], {
      cwd: REPO_ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const exited = once(child, 'exit');
    const killer = setTimeout(() => child.kill('SIGKILL'), 20_000);
    try {
      // Interrupted once frames flow both ways: the server has processed some of the session's.
      await waitUntil('one session processing frames', async () => {
        const text = await (await fetch(`${server.baseUrl}/metrics`)).text();
        const processed = [...text.matchAll(/^app_frames_processed_total\{[^}]*\} (\S+)$/gm)].reduce((n, m) => n + Number(m[1]), 0);
        return (await activeSessions()) === 1 && processed >= 10;
      }, { timeoutMs: 10_000, intervalMs: 100 });
      child.kill('SIGINT');
      const [code] = await exited;
      assert.equal(code, 0, stderr);
    } finally {
      clearTimeout(killer);
    }
    const report = JSON.parse(stdout.trim()) as WebRtcReport;
    assert.equal(report.interrupted, true);
    assert.ok(report.durationSeconds < 30, `stopped early (${report.durationSeconds} s)`);
    assert.deepEqual(report.deletes, { '200': 1 });
    assert.equal(await untilNoSession(), 0, 'app_webrtc_sessions_active back to 0');
  });
});

test('rtc-load webrtc: bad arguments exit 2, --help exits 0', async () => {
  const refusals: string[][] = [
    ['webrtc'],
    ['webrtc', 'http://127.0.0.1:9/whip', '--resolution', '100x50'],
    ['webrtc', 'http://127.0.0.1:9/whip', '--resolution', '321x240'],
    ['webrtc', 'http://127.0.0.1:9/whip', '--sessions', '0'],
    ['webrtc', 'http://127.0.0.1:9/whip', '--fps', 'fast'],
    ['webrtc', 'http://127.0.0.1:9/whip', '--effect', 'sepia'],
    ['webrtc', 'http://127.0.0.1:9/whip', '--duration', '5'],
    ['webrtc', 'ftp://127.0.0.1/whip'],
    ['http://127.0.0.1:9/whip', 'webrtc'],
  ];
  // The program's exit code and message for each, in this process (refusedInProcess); --help, as a
  // process, covers main.ts.
  const help = await runRtcLoad(['webrtc', '--help'], 30_000);
  for (const args of refusals) {
    const { code, stderr } = await refusedInProcess(args);
    assert.equal(code, 2, `${args.join(' ')}: ${stderr}`);
    assert.match(stderr, /rtc-load/);
  }
  assert.equal(help.code, 0);
  assert.match(help.stdout, /--sessions/);
  assert.match(help.stdout, /--resolution/);
});
