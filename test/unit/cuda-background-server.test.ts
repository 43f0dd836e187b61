/**
 * The background effects on the real server with DEVICE=cuda, libcuda.so.1 being the emulated
 * driver: the mask is made on the CPU path (the person detector and the people's regions are
 * there: a still, a session's first frames, its mask jobs) and a live session's frames are
 * composed over it on the (emulated) GPU; a GPU fault is redone on the CPU path with the right
 * result.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import sharp from 'sharp';
import { buildCudaEmulator, hostCompilerAvailable } from '../../src/cuda/emulator/build.ts';
import { startServer, type ServerProcess } from '../helpers-process.ts';
import { metricValue } from '../helpers.ts';
import { meanDistanceTo, REGIONS, SKIMAGE_DATA, skipWithoutPhotos } from '../segmentation/photos.ts';
import { rgbaToI420 } from '../../src/segmentation/worker-effects.ts';
import type { I420Frame } from '../../src/webrtc/peer-types.ts';
import { frameWhere, metricsText, near, publish } from '../webrtc/support.ts';
import { waitUntil } from '../wait.ts';
import { requireOrSkip } from '../tools.ts';

const compiler = hostCompilerAvailable();
const skip = requireOrSkip(compiler, 'a host C++ compiler (g++) for the CUDA emulator', 'apt-get install g++');

/** A server on the emulated driver, stopped (and its driver folder removed) through `cleanup`. */
async function startOnEmulatedGpu(cleanup: (fn: () => Promise<void>) => void, env: Record<string, string>): Promise<ServerProcess> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'rtc-libcuda-'));
  symlinkSync(buildCudaEmulator(), path.join(dir, 'libcuda.so.1'));
  const server = await startServer({ DEVICE: 'cuda', LD_LIBRARY_PATH: dir, ...env }, 60_000);
  cleanup(async () => {
    server.child.kill('SIGTERM');
    await server.exited;
    rmSync(dir, { recursive: true, force: true });
  });
  return server;
}

/** POSTs the astronaut with a blue backdrop and checks that the background, not the person, is blue. */
async function replaceBackground(server: ServerProcess): Promise<void> {
  const png = readFileSync(`${SKIMAGE_DATA}/astronaut.png`);
  const res = await fetch(`${server.baseUrl}/process?effect=background-replace&color=0x0000ff`, { method: 'POST', headers: { 'content-type': 'image/png' }, body: png });
  assert.equal(res.status, 200, await res.clone().text());
  const { data, info } = await sharp(Buffer.from(await res.arrayBuffer())).ensureAlpha().raw().toBuffer({ resolveWithObject: true });
  const out = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  for (const box of REGIONS['astronaut.png'].background) assert.ok(meanDistanceTo(out, info.width, box, 0x0000ff) < 8, `background ${box}`);
  for (const box of REGIONS['astronaut.png'].person) assert.ok(meanDistanceTo(out, info.width, box, 0x0000ff) > 60, `person ${box}`);
}

// One healthy server for a still and then a live session, on one worker thread and no media lane:
// the still's mask, the session's frames and its mask jobs all run there, so the model and the
// person detector load once (each thread that makes a mask loads them, about 1.6 CPU-s). The fault
// test below needs its own server, armed at start.
describe('DEVICE=cuda on a healthy (emulated) GPU', { skip }, () => {
  let server: ServerProcess;
  const stops: Array<() => Promise<void>> = [];
  before(async () => {
    server = await startOnEmulatedGpu((fn) => stops.push(fn), { WORKERS: '1', MEDIA_WORKERS: '0' });
  });
  after(async () => {
    for (const stop of stops) await stop();
  });

  test('background-replace of an uploaded photo makes its mask on the CPU path, as on a CPU pod', async (t) => {
    if (skipWithoutPhotos(t)) return;
    await replaceBackground(server);
    const timing = (await (await fetch(`${server.baseUrl}/process?pixels=160x90&effect=background-blur&strength=8&format=i420`)).json()) as Record<string, unknown>;
    assert.equal(timing.ok, true);
    const metrics = await (await fetch(`${server.baseUrl}/metrics`)).text();
    assert.equal(metricValue(metrics, 'app_effect_duration_seconds_count', { effect: 'background-replace', device: 'cpu' }), 1);
    assert.equal(metricValue(metrics, 'app_gpu_fallback_total'), 0);
  });

  test('a live session replaces the background on the (emulated) GPU over the masks its mask jobs make', { timeout: 120_000 }, async (t) => {
    if (skipWithoutPhotos(t)) return;
    // The still above made masks too: this session's are the ones counted past these.
    const earlier = await metricsText(server.baseUrl);
    const count = (text: string, name: string, labels?: Record<string, string>) => metricValue(text, name, labels) ?? 0;
    const size = 128;
    const { data } = await sharp(`${SKIMAGE_DATA}/astronaut.png`).resize(size, size).ensureAlpha().raw().toBuffer({ resolveWithObject: true });
    const card: I420Frame = { width: size, height: size, data: new Uint8Array(size * size * 1.5) };
    rgbaToI420(new Uint8Array(data.buffer, data.byteOffset, data.byteLength), size, size, card.data);
    const publisher = await publish(t, `${server.baseUrl}/whip?effect=background-replace&color=0x0000ff`);
    t.after(publisher.startFrames(10, () => card));
    // Blue in BT.601 limited range: Y 41, U 240, V 110. The wall at the top right, the face in the middle.
    const wall = { x: 115, y: 20 };
    const face = { x: 56, y: 32 };
    const yAt = (f: I420Frame, p: { x: number; y: number }) => f.data[p.y * f.width + p.x] ?? -1;
    const uAt = (f: I420Frame, p: { x: number; y: number }) => f.data[f.width * f.height + (p.y >> 1) * (f.width >> 1) + (p.x >> 1)] ?? -1;
    const frame = await frameWhere(publisher.peer, 'a blue wall', (f) => near(yAt(f, wall), 41, 16) && near(uAt(f, wall), 240, 16), 90_000);
    assert.ok(near(yAt(frame, face), yAt(card, face), 16), `the face is kept: Y ${yAt(frame, face)} vs ${yAt(card, face)}`);
    // Mask jobs run beside the frames at their own pace; the frames between them are composed on the GPU.
    let metrics = '';
    await waitUntil(
      'a mask job, and frames composed on the GPU',
      async () => {
        metrics = await metricsText(server.baseUrl);
        return (
          count(metrics, 'app_segmentation_inference_seconds_count') > count(earlier, 'app_segmentation_inference_seconds_count') &&
          count(metrics, 'app_effect_duration_seconds_count', { effect: 'background-replace', device: 'cuda' }) >
            count(earlier, 'app_effect_duration_seconds_count', { effect: 'background-replace', device: 'cuda' })
        );
      },
      { timeoutMs: 60_000 },
    );
    assert.equal(metricValue(metrics, 'app_gpu_fallback_total'), 0);
  });
});

test('DEVICE=cuda: after a GPU fault (the worker gives its GPU up) a background effect is right on the CPU path, counted', { skip }, async (t) => {
  if (skipWithoutPhotos(t)) return;
  // The worker's warm-up job makes the first launch; the next one, the media lane worker's warm-up
  // (MEDIA_WORKERS defaults to 1), fails with CUDA_ERROR_ILLEGAL_ADDRESS (sticky: it is redone on the
  // CPU, counted, and the engine gives its GPU up before the still arrives). A still's mask is made
  // on the CPU path anyway; the live frames the GPU would compose are covered by the session test above.
  const server = await startOnEmulatedGpu((fn) => t.after(fn), { WORKERS: '1', CUDA_EMU_FAULT: 'cuLaunchKernel 700 1 1' });
  await replaceBackground(server);
  const metrics = await (await fetch(`${server.baseUrl}/metrics`)).text();
  assert.equal(metricValue(metrics, 'app_gpu_fallback_total'), 1);
  assert.equal(metricValue(metrics, 'app_effect_duration_seconds_count', { effect: 'background-replace', device: 'cpu' }), 1);
});
