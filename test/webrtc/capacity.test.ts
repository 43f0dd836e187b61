import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { loadConfig } from '../../src/config.ts';
import { AUDIO_CORES_PER_SESSION, DEFAULT_MAX_SESSIONS, POD_CPU_CORES, SESSIONS_PER_CORE } from '../../src/session-capacity.ts';

test('MAX_SESSIONS defaults to the planned 720p sessions of a pod', () => {
  assert.equal(DEFAULT_MAX_SESSIONS, POD_CPU_CORES * SESSIONS_PER_CORE['1280x720']);
  assert.equal(loadConfig({}).maxSessions, DEFAULT_MAX_SESSIONS);
  assert.equal(loadConfig({ MAX_SESSIONS: '9' }).maxSessions, 9);
});

test('the measured capacity file the planner reads has a figure per size', () => {
  const file = JSON.parse(readFileSync(new URL('../../bench/results/webrtc-capacity.json', import.meta.url), 'utf8')) as {
    serverCores: number;
    fps: number;
    sizes: Record<string, { cpuSessionsPerCore?: number; measuredSessionsPerCore: number; echoCpuSessionsPerCore?: number }>;
  };
  assert.ok(file.serverCores >= 1 && file.fps > 0);
  for (const size of Object.keys(SESSIONS_PER_CORE)) {
    const entry = file.sizes[size];
    assert.ok(entry, `${size} measured`);
    assert.equal(typeof entry.measuredSessionsPerCore, 'number');
    assert.ok((entry.cpuSessionsPerCore ?? 0) > 0, `${size}: sessions per core from the CPU per frame`);
  }
});

test('audio sessions count: the audio planning figures cover what was measured, and the default holds calls with sound', () => {
  const audio = JSON.parse(readFileSync(new URL('../../bench/results/audio-capacity.json', import.meta.url), 'utf8')) as {
    audioCoresPerSession: Record<string, number>;
    echoAudioCoresPerSession: number;
  };
  const video = JSON.parse(readFileSync(new URL('../../bench/results/webrtc-capacity.json', import.meta.url), 'utf8')) as {
    sizes: Record<string, { cpuSessionsPerCore: number }>;
  };
  for (const [effect, planned] of Object.entries(AUDIO_CORES_PER_SESSION)) {
    const measured = audio.audioCoresPerSession[effect];
    assert.ok(measured !== undefined && measured > 0, `${effect} measured`);
    assert.ok(planned >= measured, `${effect}: planned ${planned} cores, measured ${measured}`);
  }
  assert.ok(audio.echoAudioCoresPerSession > 0, 'the bare echo floor measured');
  // A 720p call's cores: its video (1 / sessions per core) and its audio.
  const callCores = (effect: keyof typeof AUDIO_CORES_PER_SESSION): number => 1 / video.sizes['1280x720']!.cpuSessionsPerCore + AUDIO_CORES_PER_SESSION[effect];
  assert.ok(DEFAULT_MAX_SESSIONS * callCores('passthrough') <= POD_CPU_CORES, `${DEFAULT_MAX_SESSIONS} calls with audio need ${(DEFAULT_MAX_SESSIONS * callCores('passthrough')).toFixed(2)} cores`);
  assert.equal(Math.floor(POD_CPU_CORES / callCores('denoise')), 3, 'denoise on every call: 3 per pod, as docs/audio.md says');
});
