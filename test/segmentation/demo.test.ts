/**
 * The demo page in Chromium (fake camera): background-blur is the default with its strength
 * slider, and background-replace gets a colour picker whose colour reaches the running session.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { test } from 'node:test';
import { chromium, type Browser } from 'playwright-core';
import { eventually, listeningApp } from '../webrtc/support.ts';

const CHROMIUM = '/usr/bin/chromium';
const ARGS = ['--use-fake-device-for-media-stream', '--use-fake-ui-for-media-stream', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run'];

test('the demo page starts with background-blur and sends the picked backdrop colour', { timeout: 120_000 }, async (t) => {
  if (!existsSync(CHROMIUM)) {
    const message = `${CHROMIUM} is missing: install Debian's chromium to run the browser test`;
    if (process.env.CI === 'true') assert.fail(message);
    t.skip(message);
    return;
  }
  const { base } = await listeningApp(t);
  const browser: Browser = await chromium.launch({ executablePath: CHROMIUM, args: ARGS, timeout: 30_000 });
  t.after(() => browser.close());
  const page = await browser.newPage();
  const pageErrors: string[] = [];
  page.on('pageerror', (err) => pageErrors.push(err.message));
  await page.goto(`${base}/`);
  await page.waitForSelector('#effect:not([disabled])', { timeout: 15_000 });
  assert.equal(await page.inputValue('#effect'), 'background-blur');
  assert.equal(await page.getAttribute('#params input[name=strength]', 'max'), '64');

  await page.click('#start');
  let sessionUrl = '';
  await eventually('the WHIP session to start', async () => Boolean((sessionUrl = String((await page.evaluate('document.body.dataset.session')) ?? ''))), 30_000);
  const stats = async () => (await (await fetch(sessionUrl)).json()) as { effect: string; params: Record<string, number> };
  assert.equal((await stats()).effect, 'background-blur');

  await page.selectOption('#effect', 'background-replace');
  assert.equal(await page.getAttribute('#params input[name=color]', 'type'), 'color');
  await page.fill('#params input[name=color]', '#ff8000');
  await eventually('the picked colour in the session', async () => (await stats()).params.color === 0xff8000, 20_000);
  assert.equal((await stats()).effect, 'background-replace');
  await page.click('#stop');
  assert.deepEqual(pageErrors, []);
});
