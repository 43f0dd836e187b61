/**
 * `npm run fleet -- --replicas N`: N replicas behind HAProxy round-robin on this machine, until Ctrl-C.
 * Extra replica settings come from the environment as usual (WORKERS, MAX_SESSIONS, …); LOG_LEVEL stays
 * info because the helper watches for the "listening" line.
 */
import { startFleet } from '../test/fleet/haproxy-fleet.ts';

const replicas = Number(process.argv[2] ?? '3');
if (!Number.isInteger(replicas) || replicas < 1 || replicas > 16) {
  process.stderr.write(`usage: local-fleet [replicas 1..16], got ${JSON.stringify(process.argv[2])}\n`);
  process.exit(2);
}
// A Ctrl-C while the replicas start must still stop them: remember it and close once they are up.
let stopRequested = false;
let stop = (): void => {
  stopRequested = true;
};
process.on('SIGINT', () => stop());
process.on('SIGTERM', () => stop());

process.stdout.write(`starting ${replicas} replicas behind HAProxy…\n`);
const passOn = Object.fromEntries(Object.entries(process.env).filter((e): e is [string, string] => e[1] !== undefined));
const fleet = await startFleet({ replicas, env: { ...passOn, LOG_LEVEL: 'info' }, startTimeoutMs: 60_000 });
stop = () => void fleet.close().then(() => process.exit(0));
if (stopRequested) stop();
process.stdout.write(`balancer: ${fleet.url}\n`);
for (const r of fleet.replicas) process.stdout.write(`replica:  ${r.url}\n`);
process.stdout.write('Ctrl-C stops the fleet\n');
