/**
 * The background effects on a live WebRTC session (real peer connections on 127.0.0.1): a photo
 * of a person sent as video, the effect chosen by the WHIP query, changed by PATCH and by the data
 * channel, and a backdrop image set per session.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import sharp from 'sharp';
import type { I420Frame } from '../../src/webrtc/peer-types.ts';
import type { SessionStats } from '../../src/webrtc/publisher-session.ts';
import { rgbaToI420 } from '../../src/segmentation/worker-effects.ts';
import { frameWhere, listeningApp, near, publish } from '../webrtc/support.ts';
import { SKIMAGE_DATA, skipWithoutPhotos } from './photos.ts';
import { waitUntil } from '../wait.ts';

const SIZE = 256;
// Boxes in the 256x256 astronaut: the face, and the wall at the top right.
const FACE = { x: 112, y: 65 };
const WALL = { x: 230, y: 40 };
const TOLERANCE = 16;

async function astronautFrame(): Promise<I420Frame> {
  const { data } = await sharp(`${SKIMAGE_DATA}/astronaut.png`).resize(SIZE, SIZE).ensureAlpha().raw().toBuffer({ resolveWithObject: true });
  const out = new Uint8Array(SIZE * SIZE * 1.5);
  rgbaToI420(new Uint8Array(data.buffer, data.byteOffset, data.byteLength), SIZE, SIZE, out);
  return { width: SIZE, height: SIZE, data: out };
}

const yAt = (f: I420Frame, p: { x: number; y: number }) => f.data[p.y * f.width + p.x] ?? -1;
const uAt = (f: I420Frame, p: { x: number; y: number }) => f.data[f.width * f.height + (p.y >> 1) * (f.width >> 1) + (p.x >> 1)] ?? -1;
const vAt = (f: I420Frame, p: { x: number; y: number }) => f.data[f.width * f.height * 1.25 + (p.y >> 1) * (f.width >> 1) + (p.x >> 1)] ?? -1;
/** BT.601 limited range of an RGB colour, as the server converts it. */
const yuvOf = (r: number, g: number, b: number) => ({
  y: Math.round(16 + 0.257 * r + 0.504 * g + 0.098 * b),
  u: Math.round(128 - 0.148 * r - 0.291 * g + 0.439 * b),
  v: Math.round(128 + 0.439 * r - 0.368 * g - 0.071 * b),
});
const isColour = (f: I420Frame, p: { x: number; y: number }, c: { y: number; u: number; v: number }) =>
  near(yAt(f, p), c.y, TOLERANCE) && near(uAt(f, p), c.u, TOLERANCE) && near(vAt(f, p), c.v, TOLERANCE);

test('a live session replaces and blurs the background of a person, per query, PATCH, backdrop image and data channel', { timeout: 90_000 }, async (t) => {
  if (skipWithoutPhotos(t)) return;
  const card = await astronautFrame();
  // One worker thread and no media lane: frames and mask jobs share it, so the model loads once.
  const { base } = await listeningApp(t, { mediaWorkers: 0 });
  const publisher = await publish(t, `${base}/whip?effect=background-replace&color=0x0000ff`, { controlChannel: true });
  const stop = publisher.startFrames(15, () => card);
  t.after(stop);
  const faceY = yAt(card, FACE);

  const blue = yuvOf(0, 0, 255);
  const replaced = await frameWhere(publisher.peer, 'a blue wall', (f) => isColour(f, WALL, blue), 20_000);
  assert.ok(near(yAt(replaced, FACE), faceY, TOLERANCE), `the face is kept: Y ${yAt(replaced, FACE)} vs ${faceY}`);

  // A backdrop image (solid red) for this session.
  const red = await sharp({ create: { width: 64, height: 48, channels: 3, background: { r: 255, g: 0, b: 0 } } }).png().toBuffer();
  const put = await fetch(`${publisher.resourceUrl}/background`, { method: 'PUT', headers: { 'content-type': 'image/png' }, body: red });
  assert.equal(put.status, 204);
  const redYuv = yuvOf(255, 0, 0);
  const withImage = await frameWhere(publisher.peer, 'a red wall', (f) => isColour(f, WALL, redYuv), 20_000);
  assert.ok(near(yAt(withImage, FACE), faceY, TOLERANCE));
  const notImage = await fetch(`${publisher.resourceUrl}/background`, { method: 'PUT', headers: { 'content-type': 'image/png' }, body: Buffer.from('nope') });
  assert.equal(notImage.status, 400);
  assert.equal((await fetch(`${publisher.resourceUrl}/background`, { method: 'DELETE' })).status, 204);
  await frameWhere(publisher.peer, 'the blue wall again', (f) => isColour(f, WALL, blue), 20_000);

  // PATCH to background-blur: the wall is the photo's (blurred), not a colour; the face is kept.
  const patched = await fetch(publisher.resourceUrl, { method: 'PATCH', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ effect: 'background-blur', params: { strength: 24 } }) });
  assert.equal(patched.status, 200);
  assert.deepEqual(await patched.json(), { effect: 'background-blur', params: { strength: 24 }, iters: 1 });
  const wallY = yAt(card, WALL);
  const blurred = await frameWhere(publisher.peer, 'the wall back', (f) => near(yAt(f, WALL), wallY, 30) && !isColour(f, WALL, blue), 20_000);
  assert.ok(near(yAt(blurred, FACE), faceY, TOLERANCE));

  // The data channel takes the same requests.
  const replies: string[] = [];
  publisher.peer.on('message', (_label, text) => replies.push(text));
  assert.ok(publisher.peer.sendMessage('control', JSON.stringify({ effect: 'background-replace', params: { color: 0x00ff00 } })));
  await waitUntil('a control reply', () => replies.length > 0, { timeoutMs: 10_000 });
  assert.deepEqual(JSON.parse(replies[0]!), { type: 'effect', effect: 'background-replace', params: { color: 0x00ff00 }, iters: 1 });
  await frameWhere(publisher.peer, 'a green wall', (f) => isColour(f, WALL, yuvOf(0, 255, 0)), 20_000);

  const stats = (await (await fetch(publisher.resourceUrl)).json()) as SessionStats;
  assert.equal(stats.effect, 'background-replace');
  assert.ok(stats.framesProcessed > 4);
});
