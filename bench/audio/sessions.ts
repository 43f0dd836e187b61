/**
 * CPU per audio session, by feature: N Node publishers send the same speech (in a loop) and a small
 * test card to a server in a child process, and the server's CPU (utime + stime of all its threads,
 * from /proc) is read over a held window. The video-only phase (no audio offered) is the baseline each
 * audio feature is taken from; the bare audio echo (echo-server.ts) is the floor, on the same binding.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import type { AudioEffect } from '../../src/audio/pcm.ts';
import { i420Frame } from '../../tools/rtc-load/client/i420.ts';
import { WhipPublisher } from '../../tools/rtc-load/client/whip.ts';
import { freePort } from '../../test/ports.ts';
import { cpuSeconds } from '../webrtc/proc.ts';
import { BLOCK_SAMPLES, RATE_HZ } from './speech.ts';

export type AudioTarget = 'service' | 'echo';
/** `video` offers no audio: the baseline. */
export type AudioFeature = AudioEffect | 'video';

export interface AudioServer {
  readonly target: AudioTarget;
  readonly base: string;
  readonly child: ChildProcess;
}

export interface PhaseResult {
  readonly target: AudioTarget;
  readonly feature: AudioFeature;
  readonly sessions: number;
  /** Server CPU over the window, in cores (CPU seconds per second). */
  readonly serverCores: number;
  /** 10 ms audio blocks the publishers got back per session per second (100: all of them). */
  readonly blocksBackPerSecond: number;
  /** The service's mean audio latency over the window (app_audio_latency_seconds), ms. */
  readonly audioLatencyMeanMs: number | undefined;
  /** The service's audio blocks dropped over the window, by reason (app_audio_frames_dropped_total). */
  readonly dropped: Readonly<Record<string, number>>;
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

export async function startAudioServer(target: AudioTarget): Promise<AudioServer> {
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const script = target === 'service' ? 'src/server.ts' : 'bench/audio/echo-server.ts';
  const child = spawn(process.execPath, ['--import', 'tsx', script], {
    env: {
      ...process.env,
      PORT: String(port),
      HOST: '127.0.0.1',
      WORKERS: '1',
      MAX_SESSIONS: '64',
      MAX_SESSIONS_PER_CLIENT: '0',
      SESSION_RATE_LIMIT_PER_MINUTE: '10000',
      SLO_ADMISSION: 'false',
      LOG_LEVEL: 'warn',
    },
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  const deadline = performance.now() + 60_000;
  while (!(await fetch(`${base}/readyz`).then((r) => r.ok, () => false))) {
    if (child.exitCode !== null) throw new Error(`the ${target} server exited with ${child.exitCode}`);
    if (performance.now() > deadline) throw new Error(`the ${target} server did not become ready in 60 s`);
    await sleep(200);
  }
  return { target, base, child };
}

export async function stopAudioServer(server: AudioServer): Promise<void> {
  if (server.child.exitCode !== null) return;
  server.child.kill('SIGTERM');
  const killer = setTimeout(() => server.child.kill('SIGKILL'), 20_000);
  await new Promise((resolve) => server.child.once('exit', resolve));
  clearTimeout(killer);
}

async function audioCounters(base: string): Promise<{ sum: number; count: number; dropped: Record<string, number> }> {
  const text = await fetch(`${base}/metrics`).then((r) => r.text(), () => '');
  const value = (name: string): number => Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(text)?.[1] ?? Number.NaN);
  const dropped: Record<string, number> = {};
  for (const m of text.matchAll(/^app_audio_frames_dropped_total\{reason="(\w+)"\} (\S+)$/gm)) dropped[m[1]!] = Number(m[2]);
  return { sum: value('app_audio_latency_seconds_sum'), count: value('app_audio_latency_seconds_count'), dropped };
}

/** One held window of `sessions` publishers with `feature`, after `warmUpSeconds`. */
export async function runPhase(
  server: AudioServer,
  feature: AudioFeature,
  options: { readonly sessions: number; readonly warmUpSeconds: number; readonly seconds: number; readonly speech: Int16Array },
): Promise<PhaseResult> {
  const query = feature === 'video' ? 'iters=0' : `iters=0&audio=${feature}`;
  const publishers: WhipPublisher[] = [];
  const card = i420Frame(320, 240, (plane, x) => (plane === 0 ? (x < 160 ? 40 : 200) : 128));
  let blocksBack = 0;
  let counting = false;
  try {
    for (let i = 0; i < options.sessions; i++) {
      const publisher = await WhipPublisher.publish(`${server.base}/whip?${query}`, { audio: feature !== 'video' });
      publisher.peer.on('audio', (block) => {
        if (counting && block.sampleRateHz === RATE_HZ) blocksBack++;
      });
      publishers.push(publisher);
    }
    const stops = publishers.map((p) => p.startFrames(10, () => card));
    const blocks = Math.floor(options.speech.length / BLOCK_SAMPLES);
    const startMs = performance.now();
    let sent = 0;
    // Every publisher sends the same block at the same time, caught up with the clock (Node's 10 ms timers run late).
    const audioTimer =
      feature === 'video'
        ? undefined
        : setInterval(() => {
            const due = Math.floor((performance.now() - startMs) / 10) + 1;
            for (; sent < due; sent++) {
              const at = (sent % blocks) * BLOCK_SAMPLES;
              const block = options.speech.slice(at, at + BLOCK_SAMPLES);
              for (const p of publishers) p.peer.sendAudio(block, RATE_HZ);
            }
          }, 5);
    await sleep(options.warmUpSeconds * 1000);
    const pid = server.child.pid!;
    const cpu0 = cpuSeconds(pid);
    const latency0 = await audioCounters(server.base);
    const t0 = performance.now();
    counting = true;
    await sleep(options.seconds * 1000);
    counting = false;
    const elapsedSeconds = (performance.now() - t0) / 1000;
    const cpu1 = cpuSeconds(pid);
    const latency1 = await audioCounters(server.base);
    if (audioTimer) clearInterval(audioTimer);
    for (const stop of stops) stop();
    const latencyCount = latency1.count - latency0.count;
    return {
      target: server.target,
      feature,
      sessions: options.sessions,
      serverCores: (cpu1 - cpu0) / elapsedSeconds,
      blocksBackPerSecond: blocksBack / options.sessions / elapsedSeconds,
      audioLatencyMeanMs: server.target === 'service' && latencyCount > 0 ? ((latency1.sum - latency0.sum) / latencyCount) * 1000 : undefined,
      dropped: Object.fromEntries(Object.entries(latency1.dropped).map(([reason, n]) => [reason, n - (latency0.dropped[reason] ?? 0)]).filter(([, n]) => (n as number) > 0)),
    };
  } finally {
    await Promise.all(publishers.map((p) => p.close().catch(() => undefined)));
    await sleep(1000);
  }
}
