/**
 * README screenshots from real runs: starts the service, captures the demo page in headless
 * Chromium (its fake camera published over WHIP, processed frames coming back), runs a short
 * open-loop rtc-load ramp against it with --html and captures that report, then the capacity
 * planner's report. Writes docs/img/*.png.
 *
 *   npm run screenshots -- [--chromium /usr/bin/chromium] [--out docs/img]
 */
import { execFile, spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs, promisify } from 'node:util';
import { chromium } from 'playwright-core';

const run = promisify(execFile);
const ROOT = fileURLToPath(new URL('..', import.meta.url));
const { values } = parseArgs({ options: { chromium: { type: 'string', default: '/usr/bin/chromium' }, out: { type: 'string', default: join(ROOT, 'docs/img') } } });

async function startService(): Promise<{ baseUrl: string; stop(): Promise<void> }> {
  const child = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'src/server.ts')], {
    env: { ...process.env, HOST: '127.0.0.1', PORT: '0', WORKERS: '2', LOG_LEVEL: 'info', SHUTDOWN_DELAY_SECONDS: '0', SESSION_DRAIN_SECONDS: '0' },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const baseUrl = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('the service did not start')), 30_000);
    child.stdout!.on('data', (chunk: Buffer) => {
      const m = /Server listening at (http:\/\/127\.0\.0\.1:\d+)/.exec(chunk.toString());
      if (m) {
        clearTimeout(timer);
        resolve(m[1]!);
      }
    });
  });
  return {
    baseUrl,
    stop: () =>
      new Promise((resolve) => {
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
      }),
  };
}

async function rtcLoad(args: readonly string[]): Promise<void> {
  const { stdout } = await run(process.execPath, ['--import', 'tsx', join(ROOT, 'tools/rtc-load/main.ts'), ...args], { cwd: ROOT, maxBuffer: 16 << 20 });
  process.stdout.write(stdout);
}

const log = (message: string): void => void process.stderr.write(`screenshots: ${message}\n`);
const service = await startService();
log(`service at ${service.baseUrl}`);
const work = await mkdtemp(join(tmpdir(), 'rtc-screens-'));
const browser = await chromium.launch({
  executablePath: values.chromium,
  timeout: 30_000,
  args: ['--use-fake-device-for-media-stream', '--use-fake-ui-for-media-stream', '--no-sandbox', '--disable-gpu', '--no-first-run'],
});
log('chromium started');
try {
  // The demo page with a live session: the fake camera through the server's blur and back.
  const page = await browser.newPage({ viewport: { width: 1280, height: 820 } });
  await page.goto(`${service.baseUrl}/`);
  await page.waitForSelector('#effect:not([disabled])', { timeout: 60_000 });
  await page.selectOption('#effect', 'edge');
  await page.click('#start');
  for (let i = 0; i < 60; i++) {
    const text = await page.evaluate(`document.getElementById('stat-latency').textContent`);
    if (/ms/.test(String(text))) break;
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
  // A few seconds of frames so the stats settle.
  await new Promise((resolve) => setTimeout(resolve, 3000));
  await page.screenshot({ path: join(values.out, 'demo-page.png') });
  log('demo page captured');
  await page.click('#stop');

  // A short real ramp against the same service: past its capacity, so p95 and the HPA's ask rise.
  const report = join(work, 'report.html');
  await rtcLoad([`${service.baseUrl}/process?pixels=640x360&iters=3`, '--method', 'POST', '--stages', '8s:40,8s:40,8s:0', '--requests-per-connection', '50', '--hpa-target-p95', '250ms', '--html', report]);
  const reportPage = await browser.newPage({ viewport: { width: 1280, height: 1000 } });
  await reportPage.goto(`file://${report}`);
  await reportPage.screenshot({ path: join(values.out, 'rtc-load-report.png'), fullPage: true });
  log('report captured');

  const plan = join(work, 'plan.html');
  await rtcLoad(['plan', `${service.baseUrl}/process?pixels=640x360&iters=3`, '--max-rate', '80', '--steps', '8', '--step-duration', '3s', '--slo-p95', '250ms', '--target-rps', '200', '--html', plan]);
  const planPage = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  await planPage.goto(`file://${plan}`);
  await planPage.screenshot({ path: join(values.out, 'rtc-load-plan.png'), fullPage: true });
} finally {
  await browser.close();
  await service.stop();
  await rm(work, { recursive: true, force: true });
}
process.stdout.write(`screenshots in ${values.out}\n`);
