import assert from 'node:assert/strict';
import { test } from 'node:test';
import pino from 'pino';
import type { EffectJob } from '../../src/effects/catalog.ts';
import type { Engine } from '../../src/engine/engine.ts';
import { createMetrics } from '../../src/metrics.ts';
import { RollingQuantile } from '../../src/stats/rolling-quantile.ts';
import { SafeEmitter } from '../../src/webrtc/events.ts';
import type { Peer, VideoOutput } from '../../src/webrtc/peer.ts';
import type { I420Frame, PeerEvents } from '../../src/webrtc/peer-types.ts';
import { Session, type SessionOutcome } from '../../src/webrtc/publisher-session.ts';
import { metricValue } from '../helpers.ts';
import { waitUntil } from '../wait.ts';

class FakePeer extends SafeEmitter<PeerEvents> {
  state = 'connected';
  closed = false;
  sent: string[] = [];
  constructor() {
    super((err) => {
      throw err;
    });
  }
  emitFrame(frame: I420Frame): void {
    this.safeEmit('frame', frame, performance.now());
  }
  emitState(state: PeerEvents['state'][0]): void {
    this.safeEmit('state', state);
  }
  emitMessage(text: string): void {
    this.safeEmit('message', 'control', text);
  }
  sendMessage(_label: string, text: string): boolean {
    this.sent.push(text);
    return true;
  }
  close(): void {
    this.closed = true;
  }
  async stats() {
    return { roundTripSeconds: 0.01, inboundFramesPerSecond: 30, outboundFramesPerSecond: 30, framesDecoded: 0, framesEncoded: 0 };
  }
}

function harness(processMs: number) {
  const metrics = createMetrics({ p95WindowSeconds: 60, queueDepth: () => 0 });
  const peer = new FakePeer();
  const sent: I420Frame[] = [];
  const output = { send: (f: I420Frame) => sent.push({ ...f, data: f.data.slice() }), close: () => undefined } as unknown as VideoOutput;
  const jobs: EffectJob[] = [];
  const engine: Pick<Engine, 'processFrame'> = {
    processFrame: async (_layout, job, pixels, use) => {
      jobs.push(job);
      await new Promise((r) => setTimeout(r, processMs));
      return use(pixels.map((p) => 255 - p), { queueSeconds: 0, computeSeconds: 0, checksum: 0 });
    },
  };
  const frameWindow = new RollingQuantile({ windowSeconds: 60 });
  const session = new Session('s1', peer as unknown as Peer, output, { effect: 'invert', params: {}, iters: 1 }, '"e1"', {
    engine,
    metrics,
    frameWindow,
    log: pino({ level: 'silent' }),
    idleSeconds: 30,
    maxIters: 100,
  });
  return { metrics, peer, sent, jobs, session, frameWindow };
}

const frame = (value: number): I420Frame => ({ width: 4, height: 2, data: new Uint8Array(12).fill(value) });

test('frames go through the engine; those replaced while one is in progress are dropped and counted', async (t) => {
  const h = harness(30);
  t.after(() => h.session.close('closed'));
  for (const value of [10, 20, 30, 40]) h.peer.emitFrame(frame(value));
  // Two 30 ms jobs: the first frame's, then the newest's once the first is done (20 and 30 superseded).
  await waitUntil('two frames sent and two superseded', async () => h.sent.length >= 2 && (await h.session.stats()).framesDropped >= 2, { timeoutMs: 5000, intervalMs: 10 });
  assert.deepEqual(
    h.sent.map((f) => f.data[0]),
    [245, 215],
    'the first and the newest frame are processed',
  );
  const metrics = await h.metrics.registry.metrics();
  assert.equal(metricValue(metrics, 'app_frames_dropped_total', { reason: 'superseded' }), 2);
  assert.equal(metricValue(metrics, 'app_frame_latency_seconds_count'), 2);
  assert.equal(h.frameWindow.count(), 2);
  const stats = await h.session.stats();
  assert.deepEqual([stats.framesReceived, stats.framesProcessed, stats.framesDropped], [4, 2, 2]);
  assert.ok((stats.frameLatencyP95Ms ?? 0) >= 25);
  // A wrongly sized frame is dropped, not sent.
  h.peer.emitFrame({ width: 640, height: 480, data: new Uint8Array(10) });
  await waitUntil('the wrongly sized frame dropped', async () => (await h.session.stats()).framesDropped === 3, { timeoutMs: 5000, intervalMs: 5 });
  assert.equal(h.sent.length, 2, 'and not sent');
  assert.equal(metricValue(await h.metrics.registry.metrics(), 'app_frames_dropped_total', { reason: 'invalid' }), 1);
});

test('control messages change the effect; a failed connection closes the session as failed', async () => {
  const h = harness(1);
  h.peer.emitMessage('{"effect":"gaussian","params":{"sigma":3}}');
  assert.deepEqual(h.session.job, { effect: 'gaussian', params: { sigma: 3 }, iters: 1 });
  assert.deepEqual(JSON.parse(h.peer.sent[0]!), { type: 'effect', effect: 'gaussian', params: { sigma: 3 }, iters: 1 });
  h.peer.emitMessage('not json');
  assert.equal(JSON.parse(h.peer.sent[1]!).type, 'error');
  assert.equal(h.session.job.effect, 'gaussian');

  const ended = new Promise<SessionOutcome>((resolve) => h.session.on('closed', resolve));
  h.peer.emitState('failed');
  assert.equal(await ended, 'failed');
  assert.ok(!h.peer.closed, 'the peer is closed by whoever made it (the registry), not by the session');
  assert.ok(h.session.closed);
});
