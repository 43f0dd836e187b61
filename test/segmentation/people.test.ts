/**
 * Every person kept, nobody invented: the background effects on frames the model was not made
 * for (test/segmentation/composites.ts: scikit-image's people scaled, moved, rotated, darkened,
 * made noisy, two at once, pasted onto other photos at 1280x720; and frames with no person),
 * counted per pixel against the true person mask. Then a live session: the detector's first look,
 * masks that track the person without it, and the person leaving.
 *
 * One model, detector and kernel memory for the file; each frame costs a detector pass (two more
 * on a frame with nobody) and one model run per person.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createWasmKernels } from '../../src/effects/wasm.ts';
import { BackgroundEffects, type SegmentKernelExports } from '../../src/segmentation/background.ts';
import { createCpuSegmenter } from '../../src/segmentation/cpu-mask.ts';
import { createMaskState, viewMaskState } from '../../src/segmentation/mask-state.ts';
import { loadPersonDetector, loadSegmentationModel } from '../../src/segmentation/runtime.ts';
import { buildComposite, CASES, cutout, FRAME_HEIGHT, FRAME_WIDTH, keptAndReplaced, type CaseSpec, type Composite } from './composites.ts';
import { loadPhoto, skipWithoutPhotos } from './photos.ts';

/** The compositor's feathering ramp (background.ts, EDGE_LOW and EDGE_HIGH). */
const RAMP = [80, 176] as const;

let shared: Promise<Awaited<ReturnType<typeof setup>>> | undefined;

async function setup() {
  const kernels = await createWasmKernels();
  const [model, detector, reference] = await Promise.all([loadSegmentationModel(), loadPersonDetector(), createCpuSegmenter()]);
  const effects = new BackgroundEffects(kernels.exports as SegmentKernelExports, kernels, model, detector);
  const cut = async (file: 'astronaut.png' | 'camera.png') => {
    const photo = await loadPhoto(file);
    const mask = reference.maskRgba(photo.rgba, photo.width, photo.height);
    return cutout(file, mask.probability, mask.width, mask.height);
  };
  const people = { astronaut: await cut('astronaut.png'), camera: await cut('camera.png') };
  const layout = { format: 'rgba' as const, width: FRAME_WIDTH, height: FRAME_HEIGHT };
  const srcPtr = kernels.alloc(FRAME_WIDTH * FRAME_HEIGHT * 4);
  const built = new Map<string, Promise<Composite>>();
  const frame = (spec: CaseSpec) => {
    let c = built.get(spec.name);
    if (!c) built.set(spec.name, (c = buildComposite(spec, people)));
    return c;
  };
  /** One mask update on the composite; what the mask keeps of the person and replaces of the rest. */
  const update = (c: Composite, options: { state?: ReturnType<typeof viewMaskState>; detect?: boolean; smoothing?: number } = {}) => {
    kernels.view(srcPtr, c.rgba.length).set(c.rgba);
    const report = effects.updateMask({ layout, srcPtr, smoothing: options.smoothing ?? 0, detect: options.detect ?? true, ...(options.state ? { state: options.state } : {}) });
    return { report, ...keptAndReplaced(effects.maskView(), 256, 256, c.person, RAMP[0], RAMP[1]) };
  };
  /** A still's update (no state: it depends on the frame alone), made once per composite for the file. */
  const stills = new Map<string, ReturnType<typeof update>>();
  const still = (c: Composite) => {
    let got = stills.get(c.name);
    if (!got) stills.set(c.name, (got = update(c)));
    return got;
  };
  return { frame, update, still };
}

function kit() {
  shared ??= setup();
  return shared;
}

const byName = (name: string): CaseSpec => {
  const spec = CASES.find((c) => c.name === name);
  if (!spec) throw new Error(`no case ${name}`);
  return spec;
};

/** What each case must reach: share of the person kept, share of the rest replaced. */
const WANT: Record<string, { kept: number; replaced: number }> = {
  'astronaut 400 px, off-centre, on the rocket': { kept: 0.9, replaced: 0.97 },
  'camera-man 400 px on grey': { kept: 0.9, replaced: 0.97 },
  'camera-man 300 px on grey': { kept: 0.9, replaced: 0.97 },
  'astronaut 180 px on the motorcycle': { kept: 0.9, replaced: 0.97 },
  'astronaut 600 px, full height, centred': { kept: 0.9, replaced: 0.97 },
  // A person taller than the frame is seen stretched a little (squareOf): in the dark, 91 % here.
  'astronaut dark and noisy': { kept: 0.85, replaced: 0.97 },
  // Turned so that the model sees the person standing (the detector's keypoints say which way).
  'astronaut rotated 90°, on the rocket': { kept: 0.9, replaced: 0.97 },
  'two people on the coffee photo': { kept: 0.9, replaced: 0.97 },
  // No person: at most 5 % of the frame kept.
  'no person: coffee': { kept: 0, replaced: 0.95 },
  'no person: the cat': { kept: 0, replaced: 0.95 },
};

test('each person is kept and the background replaced: scale, position, rotation, darkness, noise, two people; nothing kept without a person', async (t) => {
  if (skipWithoutPhotos(t)) return;
  const { frame, still } = await kit();
  for (const [name, want] of Object.entries(WANT)) {
    const c = await frame(byName(name));
    const got = still(c);
    t.diagnostic(`${name}: kept ${(got.kept * 100).toFixed(1)} %, replaced ${(got.replaced * 100).toFixed(1)} %, ${got.report.rois.length} region(s), best score ${got.report.personScore?.toFixed(2)}`);
    assert.ok(got.kept >= want.kept, `${name}: kept ${got.kept.toFixed(3)} of the person (want >= ${want.kept})`);
    assert.ok(got.replaced >= want.replaced, `${name}: replaced ${got.replaced.toFixed(3)} of the background (want >= ${want.replaced})`);
  }
});

test('two people are two regions, each segmented at the model resolution', async (t) => {
  if (skipWithoutPhotos(t)) return;
  const { frame, still } = await kit();
  const got = still(await frame(byName('two people on the coffee photo')));
  assert.equal(got.report.rois.length, 2);
  const [a, b] = [...got.report.rois].sort((p, q) => p.x0 - q.x0);
  assert.ok(a!.x1 < 0.5 && b!.x0 > 0.5, `one region each side: ${JSON.stringify(got.report.rois)}`);
});

test('a live session: the first mask looks, the next ones track without the detector, and a person who leaves is dropped after two looks', async (t) => {
  if (skipWithoutPhotos(t)) return;
  const { frame, update } = await kit();
  const state = viewMaskState(createMaskState(256 * 256), 256 * 256);
  const person = await frame(byName('astronaut 400 px, off-centre, on the rocket'));
  const first = update(person, { state, detect: true, smoothing: 0.5 });
  assert.ok(first.report.detectorSeconds > 0 && first.kept >= 0.9, `first mask: kept ${first.kept}`);
  assert.equal(state.rois().length, 1, 'the person is tracked');
  for (let i = 0; i < 2; i++) {
    const tracked = update(person, { state, detect: false, smoothing: 0.5 });
    assert.equal(tracked.report.detectorSeconds, 0, 'no detector between looks');
    assert.ok(tracked.kept >= 0.9 && tracked.replaced >= 0.97, `tracked mask ${i}: kept ${tracked.kept}, replaced ${tracked.replaced}`);
  }
  // The person leaves: the next two looks find nobody; the tracked region goes, the mask fades.
  const empty = await frame({ name: 'the rocket, nobody', background: 'rocket.jpg', people: [] });
  const shares: number[] = [];
  for (let i = 0; i < 6; i++) shares.push(update(empty, { state, detect: i < 2, smoothing: 0.5 }).report.personShare);
  assert.equal(state.rois().length, 0, 'nobody tracked');
  assert.ok(shares.at(-1)! <= 0.05, `the mask faded: person share per update ${shares.map((s) => s.toFixed(3)).join(', ')}`);
});
