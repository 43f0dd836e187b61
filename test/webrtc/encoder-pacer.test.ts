import assert from 'node:assert/strict';
import { test } from 'node:test';
import { EncoderPacer } from '../../src/webrtc/encoder-pacer.ts';

/** Feeds `seconds` of 30 fps arrivals starting at `startMs`; returns how many were admitted. */
function arrivals(pacer: EncoderPacer, startMs: number, seconds: number, onAdmit: () => void = () => undefined): number {
  let admitted = 0;
  for (let i = 0; i < 30 * seconds; i++) {
    if (pacer.admit(startMs + (i * 1000) / 30)) {
      admitted++;
      onAdmit();
    }
  }
  return admitted;
}

test('every frame goes while the encoder keeps up', () => {
  const pacer = new EncoderPacer();
  let encoded = 0;
  pacer.sample(0, 1000);
  for (let s = 0; s < 3; s++) {
    assert.equal(arrivals(pacer, s * 1000, 1, () => pacer.handed()), 30);
    encoded += 29;
    pacer.sample(encoded, 1000);
    assert.equal(pacer.fps, undefined, 'no pacing while ≥ 90 % of the frames are encoded');
  }
});

test('while the encoder drops frames, frames are admitted at the rate it encodes, and the rate recovers', () => {
  const pacer = new EncoderPacer();
  pacer.sample(100, 1000);
  arrivals(pacer, 0, 1, () => pacer.handed());
  // 30 handed, 18 encoded: behind.
  pacer.sample(118, 1000);
  assert.ok(pacer.fps !== undefined && Math.abs(pacer.fps - 18 * 0.95) < 1e-9, `paced at ${pacer.fps}`);
  const admitted = arrivals(pacer, 1000, 1, () => pacer.handed());
  assert.ok(admitted >= 16 && admitted <= 18, `admitted ${admitted} of 30 in a second at 17.1 fps`);

  // The encoder now keeps everything it is given: the rate steps up until no frame is skipped.
  let encoded = 118 + admitted;
  pacer.sample(encoded, 1000);
  const stepped = pacer.fps;
  assert.ok(stepped !== undefined && stepped > 17.1, 'one step up');
  for (let s = 2; s < 20 && pacer.fps !== undefined; s++) {
    encoded += arrivals(pacer, s * 1000, 1, () => pacer.handed());
    pacer.sample(encoded, 1000);
  }
  assert.equal(pacer.fps, undefined, 'back to every frame');
});

test('never below the floor rate; no verdict from short or encoder-less intervals', () => {
  const pacer = new EncoderPacer({ keepRatio: 0.9, minFps: 5, stepUp: 1.15, minFramesPerInterval: 10 });
  pacer.sample(10, 1000);
  arrivals(pacer, 0, 1, () => pacer.handed());
  pacer.sample(11, 1000);
  assert.equal(pacer.fps, 5, 'one frame encoded of 30: the floor');

  const quiet = new EncoderPacer();
  quiet.sample(0, 1000);
  for (let i = 0; i < 5; i++) quiet.handed();
  quiet.sample(0, 1000);
  assert.equal(quiet.fps, undefined, 'five frames say nothing');

  const sendonly = new EncoderPacer();
  sendonly.sample(0, 1000);
  arrivals(sendonly, 0, 1, () => sendonly.handed());
  sendonly.sample(0, 1000);
  assert.equal(sendonly.fps, undefined, 'a connection that never encoded (sendonly publisher) is not paced');
});
