/**
 * Headless Chromium for the tests that drive the demo page: Debian's binary through playwright-core,
 * a fake camera and no permission prompt. Skips the test (fails it under CI=true) without Chromium.
 */
import { existsSync } from 'node:fs';
import type { TestContext } from 'node:test';
import { chromium, type Browser } from 'playwright-core';
import { requireOrSkip } from './tools.ts';

export const CHROMIUM = '/usr/bin/chromium';

const ARGS = [
  '--use-fake-device-for-media-stream',
  '--use-fake-ui-for-media-stream',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

/**
 * A browser closed after the test, or undefined when the test was skipped. `extraArgs`: more
 * switches, e.g. `--use-file-for-fake-audio-capture=<wav>` for a microphone that speaks a file.
 */
export async function launchChromium(t: TestContext, extraArgs: readonly string[] = []): Promise<Browser | undefined> {
  const skip = requireOrSkip(existsSync(CHROMIUM), CHROMIUM, "apt-get install chromium (Debian's package)");
  if (skip !== false) {
    t.skip(skip);
    return undefined;
  }
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: [...ARGS, ...extraArgs], timeout: 30_000 });
  t.after(() => browser.close());
  return browser;
}
