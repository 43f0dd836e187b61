/**
 * A fresh pod's /metrics, before any traffic: every labelled counter whose label values are a known
 * set exports each of them at 0, so that rates, ratios and alerts over it read 0, not nothing.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { EFFECT_NAMES } from '../../src/effects/catalog.ts';
import { REJECT_REASONS } from '../../src/errors.ts';
import { FORWARD_OUTCOMES, FRAME_DROP_REASONS, JOB_STOP_REASONS, SESSION_OUTCOMES } from '../../src/metrics.ts';
import { CANDIDATE_DROP_REASONS } from '../../src/net/candidates.ts';
import { metricValue, testApp } from '../helpers.ts';

/** Counters whose label values are open (HTTP status codes, routes): no series until they happen. */
const OPEN_LABELS = new Set(['app_requests_total']);

const KNOWN: readonly [name: string, label: string, values: readonly string[]][] = [
  ['app_rejected_total', 'reason', REJECT_REASONS],
  ['app_ice_candidates_dropped_total', 'reason', CANDIDATE_DROP_REASONS],
  ['app_frames_dropped_total', 'reason', FRAME_DROP_REASONS],
  ['app_webrtc_sessions_total', 'outcome', SESSION_OUTCOMES],
  ['app_forwarded_requests_total', 'outcome', FORWARD_OUTCOMES],
  ['app_jobs_cancelled_total', 'reason', JOB_STOP_REASONS],
  ['app_pod_deletion_cost_patches_total', 'result', ['ok', 'failed']],
  ['app_segmentation_masks_total', 'mask', ['inferred', 'reused']],
];

test('each labelled counter has its known series at 0 before any traffic', async (t) => {
  const { app } = await testApp(t);
  const text = (await app.inject('/metrics')).body;
  for (const [name, label, values] of KNOWN) {
    for (const value of values) assert.equal(metricValue(text, name, { [label]: value }), 0, `${name}{${label}="${value}"}`);
  }
  for (const effect of EFFECT_NAMES) {
    assert.equal(metricValue(text, 'app_frames_processed_total', { effect, device: 'cpu' }), 0, effect);
  }
  assert.equal(metricValue(text, 'app_frames_processed_total', { device: 'cuda' }), undefined, 'a CPU pod exports no GPU series');

  // Any labelled counter added later is held to the same rule.
  const counters = [...text.matchAll(/^# TYPE (app_\w+) counter$/gm)].map((m) => m[1]!);
  for (const name of counters) {
    if (OPEN_LABELS.has(name)) continue;
    assert.ok(metricValue(text, name) !== undefined, `${name} has a series before any traffic`);
  }
});
