import type { TestContext } from 'node:test';
import type { AppContext } from '../../src/app.ts';
import type { Config } from '../../src/config.ts';
import { i420Frame, type I420Frame } from '../../tools/rtc-load/client/i420.ts';
import type { ClientPeer as Peer } from '../../tools/rtc-load/client/peer.ts';
import { WhipPublisher, type ClientOptions } from '../../tools/rtc-load/client/whip.ts';
import { fileScope, testApp, type Scope } from '../helpers.ts';
import { waitUntil } from '../wait.ts';

export const WIDTH = 320;
export const HEIGHT = 240;

/** Starts `app` listening on 127.0.0.1 (WebRTC needs real sockets) and returns its base URL. */
export async function listenOnLoopback(app: AppContext['app']): Promise<string> {
  await app.listen({ port: 0, host: '127.0.0.1' });
  const address = app.server.address();
  if (address === null || typeof address === 'string') throw new Error('no TCP address');
  return `http://127.0.0.1:${address.port}`;
}

/** A listening app on 127.0.0.1, closed when the test ends. */
export async function listeningApp(t: Scope, overrides: Partial<Config> = {}): Promise<{ ctx: AppContext; base: string }> {
  const ctx = await testApp(t, { sessionDrainSeconds: 0, sloAdmission: false, mediaWorkers: 1, ...overrides });
  return { ctx, base: await listenOnLoopback(ctx.app) };
}

/**
 * A listening app on 127.0.0.1 for several tests of one file (listeningApp's settings, then
 * `overrides`): every app starts its worker threads, half a CPU-second each. Started by the first
 * test that calls the returned function, closed after the file's tests (fileScope); call it at a
 * file's top level. Tests that share it leave no session behind for the next, and read metrics as
 * deltas or in an order that keeps them exact.
 */
export function sharedListeningApp(overrides: Partial<Config> = {}): () => Promise<{ ctx: AppContext; base: string }> {
  const scope = fileScope();
  let started: Promise<{ ctx: AppContext; base: string }> | undefined;
  return () => (started ??= listeningApp(scope, overrides));
}

/** Publishes via WHIP and makes sure the connection is closed when the test ends, pass or fail. */
export async function publish(t: TestContext, url: string, options: ClientOptions & { controlChannel?: boolean } = {}): Promise<WhipPublisher> {
  const publisher = await WhipPublisher.publish(url, options);
  t.after(() => publisher.abandon());
  return publisher;
}

/**
 * The test card: left half dark, right half bright (a hard vertical edge at x = 160), chroma
 * away from neutral so that effects on U and V show.
 */
export const CARD: I420Frame = i420Frame(WIDTH, HEIGHT, (plane, x) => (plane === 0 ? (x < WIDTH / 2 ? 40 : 200) : plane === 1 ? 90 : 170));

export const y = (frame: I420Frame, x: number, row: number): number => frame.data[row * frame.width + x] ?? -1;
export const u = (frame: I420Frame, x: number, row: number): number => frame.data[frame.width * frame.height + row * ((frame.width + 1) >> 1) + x] ?? -1;
export const v = (frame: I420Frame, x: number, row: number): number => {
  const cw = (frame.width + 1) >> 1;
  return frame.data[frame.width * frame.height + cw * ((frame.height + 1) >> 1) + row * cw + x] ?? -1;
};

/** The first frame from `peer` that satisfies `accept`, or a rejection naming `what` after `timeoutMs`. */
export function frameWhere(peer: Peer, what: string, accept: (frame: I420Frame) => boolean, timeoutMs = 8000): Promise<I420Frame> {
  return new Promise((resolve, reject) => {
    let seen = 0;
    let last: I420Frame | undefined;
    const onFrame = (frame: I420Frame) => {
      seen++;
      last = frame;
      if (!accept(frame)) return;
      clearTimeout(timer);
      peer.off('frame', onFrame);
      resolve(frame);
    };
    const timer = setTimeout(() => {
      peer.off('frame', onFrame);
      const sample = last ? ` (last: Y ${y(last, 40, 120)}/${y(last, 280, 120)}, U ${u(last, 20, 60)}, V ${v(last, 20, 60)})` : '';
      reject(new Error(`no frame with ${what} within ${timeoutMs} ms; ${seen} frames seen${sample}`));
    }, timeoutMs);
    peer.on('frame', onFrame);
  });
}

export async function metricsText(base: string): Promise<string> {
  return (await fetch(`${base}/metrics`)).text();
}

export const near = (actual: number, expected: number, tolerance: number): boolean => Math.abs(actual - expected) <= tolerance;

/**
 * Sends `signal` (48 kHz mono) in 10 ms blocks at real-time pace, with a 5 fps test card to keep the
 * video alive; resolves when all is sent.
 */
export async function sendAudio(publisher: WhipPublisher, signal: Int16Array): Promise<void> {
  const rateHz = 48_000;
  const block = rateHz / 100;
  const stopVideo = publisher.startFrames(5, () => CARD);
  const startMs = performance.now();
  let sent = 0;
  try {
    await waitUntil(
      'the audio sent',
      () => {
        // Catch up with the clock: Node's 10 ms timers run late, the blocks must not.
        const due = Math.min(signal.length / block, Math.floor((performance.now() - startMs) / 10) + 1);
        for (; sent < due; sent++) publisher.peer.sendAudio(signal.slice(sent * block, (sent + 1) * block), rateHz);
        return sent * block >= signal.length;
      },
      { intervalMs: 5, timeoutMs: (signal.length / rateHz) * 1000 + 10_000 },
    );
  } finally {
    stopVideo();
  }
}
