import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Page } from 'playwright-core';
import { metricValue } from '../helpers.ts';
import { listeningApp, metricsText } from './support.ts';
import { waitUntil } from '../wait.ts';
import { launchChromium } from '../browser.ts';

// Page-side code is written as text: the project compiles without the DOM library.

/** Mean |R-G| + |G-B| over a video element's current frame, read through a canvas. */
const colourfulness = (videoId: string): string => `(() => {
  const video = document.getElementById(${JSON.stringify(videoId)});
  const canvas = document.createElement('canvas');
  canvas.width = video.videoWidth;
  canvas.height = video.videoHeight;
  const g = canvas.getContext('2d', { willReadFrequently: true });
  g.drawImage(video, 0, 0);
  const { data } = g.getImageData(0, 0, canvas.width, canvas.height);
  let sum = 0;
  for (let i = 0; i < data.length; i += 4) sum += Math.abs(data[i] - data[i + 1]) + Math.abs(data[i + 1] - data[i + 2]);
  return sum / (data.length / 4);
})()`;

/**
 * Polls a page expression until it is truthy. page.evaluate goes through the DevTools protocol, so
 * it works under the page's CSP (waitForFunction would need 'unsafe-eval').
 */
async function pageValue(page: Page, expression: string, what: string, timeoutMs: number): Promise<unknown> {
  let value: unknown;
  await waitUntil(what, async () => Boolean((value = await page.evaluate(expression))), { timeoutMs: timeoutMs });
  return value;
}

const PROCESSED_PLAYING = `(() => {
  const v = document.getElementById('processed');
  return v.readyState >= 2 && v.videoWidth > 0 && (v.getVideoPlaybackQuality?.().totalVideoFrames ?? 0) > 15;
})()`;

test('Chromium publishes its camera from the demo page, gets grayscale frames back, and switches effect', { timeout: 90_000 }, async (t) => {
  const browser = await launchChromium(t);
  if (!browser) return;
  const { base } = await listeningApp(t);
  const page = await browser.newPage();
  const pageErrors: string[] = [];
  page.on('pageerror', (err) => pageErrors.push(err.message));
  page.on('console', (msg) => {
    if (msg.type() === 'error') pageErrors.push(msg.text());
  });

  await page.goto(`${base}/`);
  await page.waitForSelector('#effect:not([disabled])', { timeout: 10_000 });
  await page.selectOption('#effect', 'grayscale');
  await page.click('#start');
  const sessionUrl = await pageValue(page, 'document.body.dataset.session', 'the WHIP session to start', 20_000);
  assert.match(String(sessionUrl), /\/whip\/[\w-]+\.[\w-]{22}\.[\w-]{43}$/);

  // Frames come back: the processed video plays.
  await pageValue(page, PROCESSED_PLAYING, 'processed frames to play', 20_000);
  const local = Number(await page.evaluate(colourfulness('local')));
  const processed = Number(await page.evaluate(colourfulness('processed')));
  assert.ok(local > 10, `the fake camera should be colourful (${local.toFixed(1)})`);
  assert.ok(processed < 6, `processed frames should be gray, R≈G≈B (${processed.toFixed(1)} vs ${local.toFixed(1)} locally)`);

  // Picking another effect on the page switches the running session (over the control channel).
  await page.selectOption('#effect', 'invert');
  await waitUntil('colour in the processed video again', async () => Number(await page.evaluate(colourfulness('processed'))) > 10, { timeoutMs: 10_000 });

  // The page's live stats come from the server's session resource.
  await pageValue(page, `/ms/.test(document.getElementById('stat-latency').textContent)`, 'the server frame latency on the page', 10_000);
  const stats = (await (await fetch(String(sessionUrl))).json()) as { effect: string; framesProcessed: number };
  assert.equal(stats.effect, 'invert');
  assert.ok(stats.framesProcessed > 0);
  const during = await metricsText(base);
  assert.equal(metricValue(during, 'app_webrtc_sessions_active'), 1);
  assert.ok((metricValue(during, 'app_frame_latency_seconds_count') ?? 0) > 0);

  await page.click('#stop');
  await waitUntil('the session to end', async () => metricValue(await metricsText(base), 'app_webrtc_sessions_active') === 0);
  assert.equal(metricValue(await metricsText(base), 'app_webrtc_sessions_total', { outcome: 'closed' }), 1);
  assert.equal((await fetch(String(sessionUrl))).status, 404);
  assert.deepEqual(pageErrors, []);
});
