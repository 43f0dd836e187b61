import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { loadConfig } from '../../src/config.ts';
import { DEFAULT_MAX_SESSIONS, POD_CPU_CORES, SESSIONS_PER_CORE } from '../../src/session-capacity.ts';

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
