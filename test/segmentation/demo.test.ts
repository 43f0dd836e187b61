/**
 * The demo page in Chromium (fake camera): background-blur is the default with its strength
 * slider, and background-replace gets a colour picker whose colour reaches the running session.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { listeningApp } from '../webrtc/support.ts';
import { waitUntil } from '../wait.ts';
import { launchChromium } from '../browser.ts';

test('the demo page starts with background-blur and sends the picked backdrop colour', { timeout: 120_000 }, async (t) => {
  const browser = await launchChromium(t);
  if (!browser) return;
  const { base } = await listeningApp(t);
  const page = await browser.newPage();
  const pageErrors: string[] = [];
  page.on('pageerror', (err) => pageErrors.push(err.message));
  await page.goto(`${base}/`);
  await page.waitForSelector('#effect:not([disabled])', { timeout: 15_000 });
  assert.equal(await page.inputValue('#effect'), 'background-blur');
  assert.equal(await page.getAttribute('#params input[name=strength]', 'max'), '64');

  await page.click('#start');
  let sessionUrl = '';
  await waitUntil('the WHIP session to start', async () => Boolean((sessionUrl = String((await page.evaluate('document.body.dataset.session')) ?? ''))), { timeoutMs: 30_000 });
  const stats = async () => (await (await fetch(sessionUrl)).json()) as { effect: string; params: Record<string, number> };
  assert.equal((await stats()).effect, 'background-blur');

  await page.selectOption('#effect', 'background-replace');
  assert.equal(await page.getAttribute('#params input[name=color]', 'type'), 'color');
  await page.fill('#params input[name=color]', '#ff8000');
  await waitUntil('the picked colour in the session', async () => (await stats()).params.color === 0xff8000, { timeoutMs: 20_000 });
  assert.equal((await stats()).effect, 'background-replace');
  await page.click('#stop');
  assert.deepEqual(pageErrors, []);
});
