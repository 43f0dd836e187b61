/**
 * The control data channel against a real listening server (issue 19): data channels under any
 * label and a second control channel, a message far over any effect change's size, and a flood of
 * junk messages. One server for the file, an ordinary publisher beside each attack.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { buildApp, type AppContext } from '../../src/app.ts';
import { configWith } from '../../src/config.ts';
import { CONTROL_ERROR_CODES } from '../../src/errors.ts';
import { ClientPeer } from '../../tools/rtc-load/client/peer.ts';
import { WhipPublisher } from '../../tools/rtc-load/client/whip.ts';
import { metricValue } from '../helpers.ts';
import { listenOnLoopback, metricsText } from '../webrtc/support.ts';
import { waitUntil } from '../wait.ts';

const CHANGES_PER_SECOND = 5;

let ctx: AppContext;
let base: string;
let ordinary: WhipPublisher;
const peers: ClientPeer[] = [];

before(async () => {
  ctx = await buildApp(
    configWith({
      device: 'cpu',
      workers: 1,
      // No media lane (its thread costs half a CPU-second to start): frames share the one worker.
      mediaWorkers: 0,
      logLevel: 'silent',
      sessionDrainSeconds: 0,
      sloAdmission: false,
      maxSessionsPerClient: 0,
      effectChangesPerSecond: CHANGES_PER_SECOND,
      controlMessageMaxBytes: 4096,
      maxEventLoopDelayMs: 0,
    }),
    { logger: false },
  );
  base = await listenOnLoopback(ctx.app);
  ordinary = await WhipPublisher.publish(`${base}/whip?effect=invert`, { controlChannel: true });
});

after(async () => {
  ordinary?.abandon();
  for (const peer of peers) peer.close();
  await ctx?.app.close();
});

/**
 * A publisher with a control channel that ignores the answer's a=max-message-size (a hostile
 * client need not honour it), connected and with the channel open; its replies are collected.
 */
async function hostilePublisher(): Promise<{ peer: ClientPeer; replies: { error?: string; type: string }[] }> {
  const peer = new ClientPeer();
  peers.push(peer);
  const replies: { error?: string; type: string }[] = [];
  peer.on('message', (_label, text) => replies.push(JSON.parse(text)));
  let open = false;
  peer.on('channelopen', () => (open = true));
  const offer = await peer.offer({ send: true, receive: true, channel: 'control' });
  const res = await fetch(`${base}/whip?effect=invert`, { method: 'POST', headers: { 'content-type': 'application/sdp' }, body: offer });
  const answer = await res.text();
  assert.equal(res.status, 201, answer);
  assert.match(answer, /^a=max-message-size:4096\r?$/m, 'the answer says how large a control message may be');
  await peer.acceptAnswer(answer.replace(/^a=max-message-size:\d+/m, 'a=max-message-size:262144'));
  await waitUntil('the control channel to open', () => open, { timeoutMs: 10_000 });
  return { peer, replies };
}

/** The ordinary publisher's effect change is answered on its own channel. */
async function ordinaryServed(effect: string): Promise<void> {
  const replies: string[] = [];
  const onMessage = (_label: string, text: string) => replies.push(text);
  ordinary.peer.on('message', onMessage);
  try {
    await waitUntil('the ordinary publisher\'s channel', () => ordinary.peer.sendMessage('control', JSON.stringify({ effect })), { timeoutMs: 10_000 });
    await waitUntil('the ordinary publisher\'s reply', () => replies.some((r) => JSON.parse(r).effect === effect), { timeoutMs: 10_000 });
  } finally {
    ordinary.peer.off('message', onMessage);
  }
}

const rejected = async (reason: string) => metricValue(await metricsText(base), 'app_rejected_total', { reason }) ?? 0;

test('only one data channel, labelled control, is kept: any other label and a second control channel are closed on arrival', async () => {
  const before = await rejected('data_channel');
  const { peer, replies } = await hostilePublisher();
  const extra = ['chat', 'control', 'x'.repeat(200), 'control', ''].map((label) => peer.openChannel(label));
  await Promise.all(extra.map((c) => c.closed));
  assert.ok(extra.every((c) => c.state === 'closed'));
  assert.equal((await rejected('data_channel')) - before, extra.length);
  // The first control channel still works.
  assert.ok(peer.sendMessage('control', JSON.stringify({ effect: 'grayscale' })));
  await waitUntil('the reply', () => replies.some((r) => r.type === 'effect'), { timeoutMs: 5000 });
  await ordinaryServed('blur');
});

test('a 200 KiB control message is refused unparsed; junk goes through the token bucket; replies are bounded', async () => {
  const limitedBefore = await rejected('rate_limited');
  const tooLargeBefore = await rejected('data_channel');
  const { peer, replies } = await hostilePublisher();
  const sentAtMs = performance.now();
  assert.ok(peer.sendMessage('control', `{"effect":"${'x'.repeat(200 * 1024)}"}`));
  for (let i = 0; i < 30; i++) assert.ok(peer.sendMessage('control', i % 2 ? `junk ${i}` : '[1,2,3]'));
  const answered = () => replies.filter((r) => !(r.type === 'error' && r.error === 'rate_limited'));
  // Each message either took a token (and is answered) or was counted as rate_limited.
  await waitUntil('every message handled', async () => answered().length + (await rejected('rate_limited')) - limitedBefore >= 31, { timeoutMs: 10_000 });
  const seconds = (performance.now() - sentAtMs) / 1000;
  // The burst (twice the rate) and what refilled while the messages arrived.
  const bound = 2 * CHANGES_PER_SECOND + Math.ceil(seconds * CHANGES_PER_SECOND);
  assert.ok(answered().length <= bound, `${answered().length} answered, at most ${bound}`);
  assert.equal(answered()[0]?.error, 'payload_too_large', 'the large message is refused before it is parsed');
  assert.ok(answered().slice(1).every((r) => r.error === 'bad_request'), JSON.stringify(answered()));
  const notices = replies.length - answered().length;
  assert.ok(notices >= 1 && notices <= 1 + Math.ceil(seconds), `${notices} rate_limited notices in ${seconds.toFixed(1)} s`);
  assert.equal((await rejected('data_channel')) - tooLargeBefore, 1);
  const codes: readonly string[] = CONTROL_ERROR_CODES;
  assert.ok(replies.every((r) => r.type !== 'error' || codes.includes(r.error ?? '')), 'every error code is one docs/errors.md lists for the channel');
  await ordinaryServed('sharpen');
});
