import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { test } from 'node:test';
import { compiledEntry, startServer } from '../helpers-process.ts';
import { requireOrSkip } from '../tools.ts';

// `npm test` builds first, so this runs the same files `npm start` and the Docker images run.
test('the compiled server (npm start, the images) serves the API and the demo page', async (t) => {
  const skip = requireOrSkip(existsSync(compiledEntry), 'dist/src/server.js', 'run `npm run build` first (npm test does)');
  if (skip !== false) return t.skip(skip);
  const server = await startServer({ SHUTDOWN_DELAY_SECONDS: '0' }, 20_000, true);
  t.after(() => server.child.kill('SIGKILL'));
  const health = (await (await fetch(`${server.baseUrl}/healthz`)).json()) as { ok: boolean; device: string };
  assert.equal(health.ok, true);
  const res = await fetch(`${server.baseUrl}/process?pixels=320x240&iters=2&effect=gaussian&sigma=3`, { method: 'POST' });
  assert.equal(res.status, 200);
  assert.equal(((await res.json()) as { effect: string }).effect, 'gaussian');
  const page = await fetch(`${server.baseUrl}/`);
  assert.equal(page.status, 200);
  assert.match(await page.text(), /<html/i);
  server.child.kill('SIGTERM');
  assert.equal(await server.exited, 0);
});
