import { startFleet } from './fleet/haproxy-fleet.ts';
const t0 = performance.now();
const fleet = await startFleet({ replicas: 3, spareSlots: 0, env: { LOG_LEVEL: 'info', MAX_EVENT_LOOP_DELAY_MS: '0' }, startTimeoutMs: 90000 }).catch((e) => { console.log('ERR', e.message.slice(0, 2000)); process.exit(1); });
console.log('up after', performance.now() - t0);
console.log((await fleet.haproxy('show stat')).split('\n').map((l) => l.split(',').slice(0, 2).concat(l.split(',')[17] ?? '').join(' ')).join('\n'));
await fleet.close();
