/** The two servers a run compares, each a child process (pinned with taskset when asked): the service and the bare echo. */
import { spawn, type ChildProcess } from 'node:child_process';
import { freePort } from '../../test/ports.ts';

export type Target = 'echo' | 'service';

export interface Server {
  readonly target: Target;
  readonly base: string;
  readonly child: ChildProcess;
}

export interface ServerSettings {
  /** taskset CPU list for the servers (undefined: not pinned). */
  readonly serverCpus: string | undefined;
  /** Extra node arguments for the servers (--server-node-args). */
  readonly serverNodeArgs: readonly string[];
  /** FRAME_SLO_MS of the service. */
  readonly sloMs: number;
}

function spawnPinned(script: string, port: number, env: Record<string, string>, settings: ServerSettings): ChildProcess {
  const command = [process.execPath, ...settings.serverNodeArgs, '--import', 'tsx', script];
  const [file, ...rest] = settings.serverCpus === undefined ? command : ['taskset', '-c', settings.serverCpus, ...command];
  return spawn(file!, rest, {
    env: { ...process.env, PORT: String(port), HOST: '127.0.0.1', ...env },
    stdio: ['ignore', 'inherit', 'inherit'],
  });
}

async function waitReady(child: ChildProcess, base: string): Promise<void> {
  const deadline = performance.now() + 60_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`a server exited with ${child.exitCode}`);
    if (performance.now() > deadline) throw new Error('a server did not become ready in 60 s');
    if (await fetch(`${base}/readyz`).then((r) => r.ok, () => false)) return;
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** Waits until the server holds no session, so that the next phase starts from an empty server. */
export async function settle(server: Server): Promise<void> {
  const deadline = performance.now() + 60_000;
  while (performance.now() < deadline) {
    const empty =
      server.target === 'service'
        ? /^app_webrtc_sessions_active 0$/m.test(await fetch(`${server.base}/metrics`).then((r) => r.text(), () => ''))
        : ((await fetch(`${server.base}/sessions`).then((r) => r.json(), () => ({ active: -1 }))) as { active: number }).active === 0;
    if (empty) return;
    await new Promise((r) => setTimeout(r, 500));
  }
}

/** Starts each target, one after the other, and waits until each is ready; the service admits `sessionsHint` + 2 sessions. */
export async function startServers(targets: readonly Target[], sessionsHint: number, settings: ServerSettings): Promise<Server[]> {
  const servers: Server[] = [];
  for (const target of targets) {
    const port = await freePort();
    const base = `http://127.0.0.1:${port}`;
    const child =
      target === 'echo'
        ? spawnPinned('bench/webrtc-echo.ts', port, {}, settings)
        : spawnPinned(
            'src/server.ts',
            port,
            {
              LOG_LEVEL: 'warn',
              MAX_SESSIONS: String(sessionsHint + 2),
              SLO_ADMISSION: 'false',
              SHUTDOWN_DELAY_SECONDS: '0',
              SESSION_DRAIN_SECONDS: '0',
              SESSION_RATE_LIMIT_PER_MINUTE: '0',
              // Every publisher runs here, on one address.
              MAX_SESSIONS_PER_CLIENT: '0',
              FRAME_SLO_MS: String(settings.sloMs),
            },
            settings,
          );
    servers.push({ target, base, child });
    await waitReady(child, base);
  }
  return servers;
}

export async function stopServers(servers: readonly Server[]): Promise<void> {
  await Promise.all(
    servers.map(async ({ child }) => {
      if (child.exitCode !== null) return;
      child.kill('SIGTERM');
      const killer = setTimeout(() => child.kill('SIGKILL'), 20_000);
      await new Promise((r) => child.once('exit', r));
      clearTimeout(killer);
    }),
  );
}
