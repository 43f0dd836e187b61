/**
 * The inference schedule of a live session: the model on every frame while frames keep up, on one
 * frame in N when they do not (N from the measured latencies, capped), back to every frame when
 * the load goes; the state a fixed size and the backdrop freed on request.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { SessionSegmentation } from '../../src/segmentation/session-segmentation.ts';

/** Feeds `frames` frames at `fps` whose latency is `inferMs` with the model and `reuseMs` without. */
function drive(seg: SessionSegmentation, frames: number, fps: number, inferMs: number, reuseMs: number, startMs = 0): boolean[] {
  const inferred: boolean[] = [];
  for (let i = 0; i < frames; i++) {
    const task = seg.task(startMs + (i * 1000) / fps);
    inferred.push(task.infer);
    seg.observe(!task.infer, (task.infer ? inferMs : reuseMs) / 1000);
  }
  return inferred;
}

test('frames that keep up run the model every time', () => {
  const seg = new SessionSegmentation({ smoothing: 0.5, maxMaskAgeFrames: 6, maxInferenceFps: 15 });
  assert.ok(drive(seg, 60, 30, 12, 3).every(Boolean));
  assert.equal(seg.maskEvery, 1);
});

test('frames that fall behind run the model on one frame in N and reuse the mask in between', () => {
  const seg = new SessionSegmentation({ smoothing: 0.5, maxMaskAgeFrames: 6, maxInferenceFps: 15 });
  // 30 fps: a 33 ms interval, 26.7 ms budget; 60 ms with the model, 6 ms without: N = ceil(54 / 20.7) = 3.
  const inferred = drive(seg, 90, 30, 60, 6);
  assert.equal(seg.maskEvery, 3);
  const tail = inferred.slice(-30);
  assert.equal(tail.filter(Boolean).length, 10);
  assert.ok(seg.counts.reuses > 0 && seg.counts.inferences > 0);
  // The load goes away: back to every frame.
  drive(seg, 120, 30, 10, 3, 4000);
  assert.equal(seg.maskEvery, 1);
});

test('the mask age is capped, and 1 turns reuse off', () => {
  const capped = new SessionSegmentation({ smoothing: 0.5, maxMaskAgeFrames: 4, maxInferenceFps: 15 });
  drive(capped, 90, 30, 400, 40);
  assert.equal(capped.maskEvery, 4);
  const every = new SessionSegmentation({ smoothing: 0.5, maxMaskAgeFrames: 1, maxInferenceFps: 15 });
  assert.ok(drive(every, 60, 30, 400, 40).every(Boolean));
});

test('a session holds a fixed mask state, plus its backdrop until cleared', () => {
  const seg = new SessionSegmentation();
  assert.equal(seg.heldBytes, 96 + 256 * 256);
  seg.setBackdrop({ width: 4, height: 2, rgba: new Uint8Array(32).fill(7) });
  assert.equal(seg.heldBytes, 96 + 256 * 256 + 32);
  const task = seg.task(0);
  assert.equal(task.backdrop?.width, 4);
  assert.equal(new Uint8Array(task.backdrop!.rgba)[31], 7);
  const id = task.backdrop!.id;
  seg.setBackdrop({ width: 4, height: 2, rgba: new Uint8Array(32) });
  assert.notEqual(seg.task(33).backdrop!.id, id, 'a new image gets a new cache key');
  seg.setBackdrop(undefined);
  assert.equal(seg.task(66).backdrop, undefined);
  assert.equal(seg.heldBytes, 96 + 256 * 256);
});

test('mask jobs: none before the first mask, one at a time, at most SEGMENT_INFERENCE_MAX_FPS; frames then reuse the mask', () => {
  const seg = new SessionSegmentation({ smoothing: 0.5, maxMaskAgeFrames: 6, maxInferenceFps: 10 });
  assert.equal(seg.maskJob(0), undefined, 'the first frame makes the first mask itself');
  assert.equal(seg.task(0).infer, true);
  // A worker wrote the first mask into the state.
  new Int32Array(seg.task(1).state, 0, 1)[0] = 1;
  const first = seg.maskJob(33);
  assert.ok(first?.maskOnly && first.infer);
  assert.equal(seg.task(33).infer, false, 'frames use the latest mask');
  assert.equal(seg.maskJob(66), undefined, 'one mask job at a time');
  seg.maskJobDone();
  assert.equal(seg.maskJob(99), undefined, 'at most 10 per second: not 66 ms after the last');
  assert.ok(seg.maskJob(133));
  seg.maskJobDone();
  assert.equal(seg.task(166).infer, false);
});

test('the detector looks on the first mask, then every SEGMENT_DETECT_INTERVAL_MS; masks in between track', () => {
  const seg = new SessionSegmentation({ smoothing: 0.5, maxMaskAgeFrames: 6, maxInferenceFps: 30, detectIntervalMs: 1000 });
  const first = seg.task(0);
  assert.equal(first.detect, true, 'the first mask looks for people');
  new Int32Array(first.state, 0, 1)[0] = 1;
  const looks: number[] = [];
  for (let ms = 100; ms < 3100; ms += 100) {
    const job = seg.maskJob(ms);
    assert.ok(job, `a mask job at ${ms} ms`);
    if (job.detect) looks.push(ms);
    seg.maskJobDone();
    assert.equal(seg.task(ms + 1).detect, false, 'frames reusing the mask do not look');
  }
  assert.deepEqual(looks, [1000, 2000, 3000]);
});
