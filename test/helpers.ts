import type { TestContext } from 'node:test';
import { buildApp, type AppContext } from '../src/app.ts';
import { configWith, type Config } from '../src/config.ts';

/** An app with a small CPU engine and no logging, closed when the test ends (CPU even on a GPU machine). */
export async function testApp(t: TestContext, overrides: Partial<Config> = {}): Promise<AppContext> {
  const ctx = await buildApp(configWith({ device: 'cpu', workers: 1, maxQueue: 16, logLevel: 'silent', ...overrides }), { logger: false });
  t.after(() => ctx.app.close());
  return ctx;
}

/** Reads one sample of a metric from Prometheus text exposition. */
export function metricValue(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  for (const line of text.split('\n')) {
    if (!line.startsWith(name)) continue;
    const m = /^([a-zA-Z_:][\w:]*)(\{[^}]*\})?\s+(\S+)/.exec(line);
    if (!m || m[1] !== name) continue;
    const lineLabels = Object.fromEntries([...(m[2] ?? '').matchAll(/(\w+)="([^"]*)"/g)].map((x) => [x[1], x[2]]));
    if (Object.entries(labels).every(([k, v]) => lineLabels[k] === v)) return Number(m[3]);
  }
  return undefined;
}
