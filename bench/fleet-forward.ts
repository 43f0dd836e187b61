/**
 * What forwarding costs a call: the same `GET /whip/{id}` sent straight to the session's owner and
 * to another replica of a two-replica local fleet (which forwards it), alternately, in rounds.
 * Reports p50 and p95 of each, in milliseconds, per round.
 *
 *   node --import tsx bench/fleet-forward.ts [--calls 300] [--rounds 2]
 *
 * Needs haproxy (the fleet helper starts it, though these calls bypass it).
 */
import os from 'node:os';
import { parseArgs } from 'node:util';
import { addressOfOwnerKey } from '../src/fleet/session-id.ts';
import { WhipPublisher } from '../tools/rtc-load/client/whip.ts';
import { startFleet } from '../test/fleet/haproxy-fleet.ts';
import { CARD } from '../test/webrtc/support.ts';

const { values: args } = parseArgs({ options: { calls: { type: 'string', default: '300' }, rounds: { type: 'string', default: '2' } } });
const calls = Number(args.calls);
const rounds = Number(args.rounds);

async function timed(url: string): Promise<{ p50Ms: number; p95Ms: number }> {
  const ms: number[] = [];
  for (let i = 0; i < calls; i++) {
    const started = performance.now();
    const res = await fetch(url);
    await res.arrayBuffer();
    if (res.status !== 200) throw new Error(`GET answered ${res.status}`);
    ms.push(performance.now() - started);
  }
  ms.sort((a, b) => a - b);
  const at = (q: number) => Math.round(ms[Math.min(ms.length - 1, Math.floor(q * ms.length))]! * 100) / 100;
  return { p50Ms: at(0.5), p95Ms: at(0.95) };
}

const fleet = await startFleet({ replicas: 2, spareSlots: 0, env: { MAX_EVENT_LOOP_DELAY_MS: '0', MAX_EVENT_LOOP_UTILIZATION: '0', SLO_ADMISSION: 'false' } });
try {
  const publisher = await WhipPublisher.publish(`${fleet.replicas[0]!.url}/whip?effect=invert`);
  const stop = publisher.startFrames(15, () => CARD);
  const path = new URL(publisher.resourceUrl).pathname;
  const owner = addressOfOwnerKey(path.split('/')[2]!.split('.')[0]!);
  const direct = fleet.replicas.find((r) => `127.0.0.1:${r.port}` === owner)!;
  const other = fleet.replicas.find((r) => r !== direct)!;
  await timed(`${direct.url}${path}`); // warm-up: connections, JIT
  await timed(`${other.url}${path}`);
  process.stdout.write(`node ${process.version}, ${os.availableParallelism()} cores, load ${os.loadavg()[0]!.toFixed(1)}, ${calls} calls per figure\n`);
  for (let round = 1; round <= rounds; round++) {
    const d = await timed(`${direct.url}${path}`);
    const f = await timed(`${other.url}${path}`);
    process.stdout.write(`round ${round}: direct p50 ${d.p50Ms} ms p95 ${d.p95Ms} ms | forwarded p50 ${f.p50Ms} ms p95 ${f.p95Ms} ms\n`);
  }
  stop();
  await publisher.close();
} finally {
  await fleet.close();
}
