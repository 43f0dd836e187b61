// The seed's users drive /process with hey and curl exactly as its README and HPA demos do:
// a POST with no body but a Content-Type (hey: text/html; curl -d '': a form) processes the
// test card, as the seed's service did; a real body of a foreign type is still refused.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { after, before, describe, test } from 'node:test';
import { startServer, type ServerProcess } from '../helpers-process.ts';
import { haveTool } from '../tools.ts';

describe('seed compatibility: hey and curl against the real server', { timeout: 60_000 }, () => {
  let server: ServerProcess;
  before(async () => {
    server = await startServer({ SLO_ADMISSION: 'false', SHUTDOWN_DELAY_SECONDS: '0' });
  });
  after(async () => {
    server.child.kill('SIGTERM');
    await server.exited;
  });

  test('hey -m POST (Content-Type text/html, no body): every request 200', (t) => {
    if (!haveTool(t, 'hey')) return;
    const result = spawnSync('hey', ['-n', '20', '-c', '4', '-m', 'POST', `${server.baseUrl}/process?pixels=320x240&iters=1`], { encoding: 'utf8', timeout: 30_000 });
    assert.equal(result.status, 0, result.stderr);
    assert.match(result.stdout, /\[200\]\s+20 responses/, result.stdout);
    assert.doesNotMatch(result.stdout, /\[415\]/);
  });

  test("curl -X POST -d '' (a form type, empty body): the test card's timing JSON", (t) => {
    if (!haveTool(t, 'curl')) return;
    const result = spawnSync('curl', ['-sS', '-X', 'POST', '-d', '', '-w', '\n%{http_code}', `${server.baseUrl}/process?pixels=640x480&iters=2`], { encoding: 'utf8', timeout: 30_000 });
    assert.equal(result.status, 0, result.stderr);
    const [body = '', status] = result.stdout.split('\n');
    assert.equal(status, '200', body);
    const json = JSON.parse(body) as { ok: boolean; pixels: string; iters: number };
    assert.equal(json.ok, true);
    assert.equal(json.pixels, '640x480');
    assert.equal(json.iters, 2);
  });

  test('a non-empty body of an unsupported type is still 415 with a JSON reason', async () => {
    const res = await fetch(`${server.baseUrl}/process?pixels=64x64`, { method: 'POST', headers: { 'content-type': 'text/html' }, body: '<p>hi</p>' });
    assert.equal(res.status, 415);
    const json = (await res.json()) as { error: string; detail: string };
    assert.equal(json.error, 'unsupported_media_type');
    assert.match(json.detail, /text\/html/);
  });
});
