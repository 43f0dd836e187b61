/**
 * A local fleet: N real server processes on loopback behind HAProxy in round-robin, so that every
 * call may land on another replica (as behind a Kubernetes Service or an Ingress). Used by the fleet
 * tests, by the demo scripts and by people (`scripts/local_fleet.sh`).
 *
 * Replicas know each other through PEERS (every slot's `host:port`, reserved up front) and their own
 * SELF_ADDRESS, and sign the calls they forward with one FLEET_SECRET made for the fleet. HAProxy writes
 * X-Forwarded-For from its own address (BALANCER_SOURCE), which the replicas believe from it only. `addReplica()` starts a server in a reserved slot and enables that slot in HAProxy
 * through its runtime API (stats socket), so the fleet can grow while it runs without restarting anyone.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import type { TestContext } from 'node:test';
import { startServer, type ServerProcess } from '../helpers-process.ts';
import { freePort } from '../ports.ts';
import { which } from '../tools.ts';
import { waitUntil } from '../wait.ts';
import { requireOrSkip } from '../tools.ts';

export interface Replica {
  /** `http://127.0.0.1:<port>`: the replica itself, bypassing the balancer. */
  readonly url: string;
  readonly port: number;
  readonly child: ChildProcess;
  /** The replica's log lines so far (stdout and stderr). */
  readonly logs: string[];
  /** Sends `signal` (default SIGTERM) and resolves with the exit code or signal name once it exited. */
  stop(signal?: NodeJS.Signals): Promise<number | string>;
  /** Resolves with the exit code (or signal name) whenever the process exits. */
  readonly exited: Promise<number | string>;
}

export interface Fleet {
  /** The balancer: `http://127.0.0.1:<port>`. */
  readonly url: string;
  /** Replicas started so far (stopped ones stay listed). */
  readonly replicas: Replica[];
  /** Every slot's peer address (`127.0.0.1:<port>`), the PEERS list each replica was given. */
  readonly peers: readonly string[];
  /** Starts a replica in the next free slot and puts it behind the balancer. */
  addReplica(): Promise<Replica>;
  /** Runs one HAProxy runtime API command (stats socket) and returns its answer. */
  haproxy(command: string): Promise<string>;
  /** Stops every replica (SIGKILL after a grace period) and the balancer, and removes the temporary files. */
  close(): Promise<void>;
}

export interface FleetOptions {
  readonly replicas: number;
  /** Extra environment for every replica (the fleet's own settings win: PORT, SELF_ADDRESS, PEERS). */
  readonly env?: Record<string, string>;
  /** Slots reserved for addReplica() beyond `replicas` (default 2). */
  readonly spareSlots?: number;
  /** How long a replica may take to start (default 120 s: tsx compiles on a loaded 2-core machine). */
  readonly startTimeoutMs?: number;
}

/** HAProxy's binary: on PATH, or where the Debian package puts it (/usr/sbin is not always on PATH). */
export function haproxyPath(): string | undefined {
  const found = which('haproxy');
  if (found) return found;
  return fs.existsSync('/usr/sbin/haproxy') ? '/usr/sbin/haproxy' : undefined;
}

/** True when HAProxy is there; otherwise fails under CI=true and skips, visibly, elsewhere. */
export function haveHaproxy(t: TestContext): boolean {
  const skip = requireOrSkip(haproxyPath() !== undefined, 'haproxy', 'apt-get install haproxy');
  if (skip !== false) t.skip(skip);
  return skip === false;
}

const slotName = (i: number): string => `r${i}`;

/** The address HAProxy connects to the replicas from: the one address they take X-Forwarded-For from. */
export const BALANCER_SOURCE = '127.0.0.2';

function haproxyConfig(listenPort: number, socketPath: string, slots: readonly number[], enabled: number): string {
  const servers = slots.map(
    (port, i) =>
      // Health checks on /readyz take a draining replica out of the rotation (other replicas then
      // forward its sessions' calls to it); `disabled` slots wait for addReplica().
      `  server ${slotName(i)} 127.0.0.1:${port} check inter 500ms fall 3 rise 1${i < enabled ? '' : ' disabled'}`,
  );
  return [
    'global',
    `  stats socket ${socketPath} mode 600 level admin`,
    '  maxconn 512',
    'defaults',
    '  mode http',
    '  timeout connect 2s',
    '  timeout client 60s',
    '  timeout server 60s',
    '  timeout http-request 10s',
    // Without it a check must finish within `inter`; a loaded machine answers /readyz slower than that.
    '  timeout check 3s',
    // Connection refused (a replica just killed) is retried on another server, never shown to the client.
    '  retries 2',
    '  option redispatch 1',
    'frontend fleet',
    `  bind 127.0.0.1:${listenPort}`,
    // Only replicas set the fleet's headers on the calls they forward (signed); a client's are dropped at the door.
    '  http-request del-header ^x-rtc-scale- -m reg',
    // The client's address, as an ingress writes it; the replicas trust it from the balancer (TRUST_PROXY).
    '  http-request set-header X-Forwarded-For %[src]',
    '  default_backend replicas',
    'backend replicas',
    '  balance roundrobin',
    // Each request is balanced on its own: no server connection is kept or shared between requests,
    // so a client's keep-alive connection does not pin it to one replica.
    '  option http-server-close',
    '  http-reuse never',
    '  option httpchk GET /readyz',
    // From its own loopback address, as an ingress controller has its own: the replicas trust this
    // one (TRUST_PROXY), never each other (they forward from 127.0.0.1 and carry the client signed).
    `  source ${BALANCER_SOURCE}`,
    ...servers,
    '',
  ].join('\n');
}

/** One command over the HAProxy runtime API (a unix socket that answers and closes). */
function runtimeCommand(socketPath: string, command: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.createConnection(socketPath);
    const chunks: Buffer[] = [];
    socket.setTimeout(5000, () => socket.destroy(new Error(`haproxy runtime API: no answer to ${command}`)));
    socket.on('connect', () => socket.end(`${command}\n`));
    socket.on('data', (c: Buffer) => chunks.push(c));
    socket.on('error', reject);
    socket.on('close', () => resolve(Buffer.concat(chunks).toString()));
  });
}

/** Servers of the backend that HAProxy currently sees as UP (from `show stat`). */
async function upServers(socketPath: string): Promise<Set<string>> {
  const csv = await runtimeCommand(socketPath, 'show stat');
  const lines = csv.split('\n');
  const header = (lines[0] ?? '').replace(/^# /, '').split(',');
  const [px, sv, status] = ['pxname', 'svname', 'status'].map((n) => header.indexOf(n));
  const up = new Set<string>();
  for (const line of lines.slice(1)) {
    const f = line.split(',');
    if (f[px!] === 'replicas' && f[status!] === 'UP') up.add(f[sv!]!);
  }
  return up;
}

export async function startFleet(options: FleetOptions): Promise<Fleet> {
  const haproxy = haproxyPath();
  if (!haproxy) throw new Error('haproxy is not installed (Debian package haproxy)');
  const startTimeoutMs = options.startTimeoutMs ?? 120_000;
  const slotCount = options.replicas + (options.spareSlots ?? 2);
  const slots: number[] = [];
  while (slots.length < slotCount) {
    const port = await freePort();
    if (!slots.includes(port)) slots.push(port);
  }
  const peers = slots.map((port) => `127.0.0.1:${port}`);
  // One secret for this fleet's replicas, as a Kubernetes Secret gives every pod the same one.
  const fleetSecret = randomBytes(32).toString('base64url');
  const listenPort = await freePort();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rtc-fleet-'));
  const socketPath = path.join(dir, 'haproxy.sock');
  const configPath = path.join(dir, 'haproxy.cfg');
  fs.writeFileSync(configPath, haproxyConfig(listenPort, socketPath, slots, options.replicas));

  const replicas: Replica[] = [];
  const children: ChildProcess[] = [];
  let balancer: ChildProcess | undefined;
  const balancerLogs: string[] = [];

  const startReplica = async (slot: number): Promise<Replica> => {
    const port = slots[slot]!;
    let server: ServerProcess;
    try {
      server = await startServer(
        {
          DEVICE: 'cpu',
          SHUTDOWN_DELAY_SECONDS: '1',
          FLEET_SECRET: fleetSecret,
          // The balancer writes the client's address in X-Forwarded-For; nobody else is believed.
          TRUST_PROXY: BALANCER_SOURCE,
          ...options.env,
          PORT: String(port),
          SELF_ADDRESS: peers[slot]!,
          PEERS: peers.join(','),
        },
        startTimeoutMs,
      );
    } catch (err) {
      throw new Error(`replica ${slotName(slot)} on port ${port} did not start: ${err instanceof Error ? err.message : String(err)}`);
    }
    children.push(server.child);
    const replica: Replica = {
      url: server.baseUrl,
      port,
      child: server.child,
      logs: server.logs,
      exited: server.exited,
      stop: async (signal = 'SIGTERM') => {
        if (server.child.exitCode === null && server.child.signalCode === null) server.child.kill(signal);
        return server.exited;
      },
    };
    replicas.push(replica);
    return replica;
  };

  const close = async (): Promise<void> => {
    await Promise.all(
      children.map(async (child) => {
        if (child.exitCode !== null || child.signalCode !== null) return;
        const exited = once(child, 'exit');
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
        await exited;
        clearTimeout(timer);
      }),
    );
    if (balancer && balancer.exitCode === null && balancer.signalCode === null) {
      const exited = once(balancer, 'exit');
      balancer.kill('SIGTERM');
      await exited;
    }
    fs.rmSync(dir, { recursive: true, force: true });
  };

  try {
    // Wait for every start to settle, so that none is still starting (and left behind) on failure.
    const started = await Promise.allSettled(Array.from({ length: options.replicas }, (_, i) => startReplica(i)));
    const failed = started.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) throw failed.reason;
    // Start order is not slot order; keep `replicas[i]` in slot i for the callers' sake.
    replicas.sort((a, b) => slots.indexOf(a.port) - slots.indexOf(b.port));
    balancer = spawn(haproxy, ['-db', '-f', configPath], { stdio: ['ignore', 'pipe', 'pipe'] });
    balancer.stdout!.on('data', (c: Buffer) => balancerLogs.push(c.toString()));
    balancer.stderr!.on('data', (c: Buffer) => balancerLogs.push(c.toString()));
    const balancerExit = once(balancer, 'exit');
    await Promise.race([
      waitUntil('local fleet: HAProxy to see every replica UP', async () => (await upServers(socketPath)).size === options.replicas, { timeoutMs: startTimeoutMs, intervalMs: 100, untilNoError: true }).catch(
        async (err: unknown) => {
          const stat = await runtimeCommand(socketPath, 'show stat').catch(() => '');
          const states = stat.split('\n').map((l) => l.split(',').slice(0, 2).concat(l.split(',')[17] ?? '', l.split(',')[36] ?? '').join(' '));
          throw new Error(`${err instanceof Error ? err.message : String(err)}\n${states.join('\n')}`);
        },
      ),
      balancerExit.then(([code]) => {
        throw new Error(`haproxy exited (${String(code)}): ${balancerLogs.join('')}`);
      }),
    ]);
  } catch (err) {
    await close();
    throw err;
  }

  let nextSlot = options.replicas;
  return {
    url: `http://127.0.0.1:${listenPort}`,
    replicas,
    peers,
    haproxy: (command) => runtimeCommand(socketPath, command),
    addReplica: async () => {
      if (nextSlot >= slotCount) throw new Error(`local fleet: all ${slotCount} slots are used (raise spareSlots)`);
      const slot = nextSlot++;
      const replica = await startReplica(slot);
      const answer = await runtimeCommand(socketPath, `enable server replicas/${slotName(slot)}`);
      if (answer.trim() !== '') throw new Error(`haproxy refused to enable ${slotName(slot)}: ${answer}`);
      await waitUntil(`local fleet: HAProxy to see ${slotName(slot)} UP`, async () => (await upServers(socketPath)).has(slotName(slot)), { timeoutMs: startTimeoutMs, intervalMs: 100, untilNoError: true });
      return replica;
    },
    close,
  };
}
