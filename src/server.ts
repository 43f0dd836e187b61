import { buildApp } from './app.ts';
import { ConfigError, loadConfig } from './config.ts';
import { installShutdown } from './shutdown.ts';

/** Process entry: configuration, app, listen, and an orderly stop on SIGTERM/SIGINT. */
async function main(): Promise<void> {
  const config = loadConfig();
  const ctx = await buildApp(config);
  installShutdown({
    log: ctx.app.log,
    delaySeconds: config.shutdownDelaySeconds,
    startDraining: ctx.startDraining,
    announceDrain: (seconds) => ctx.sessions.announceDrain(seconds),
    sessionDrainSeconds: config.sessionDrainSeconds,
    drainSessions: () => ctx.sessions.drain(config.sessionDrainSeconds),
    close: () => ctx.app.close(),
    exit: (code) => process.exit(code),
  });
  await ctx.app.listen({ port: config.port, host: config.host });
  if (ctx.metricsApp) await ctx.metricsApp.listen({ port: config.metricsPort, host: config.host });
}

main().catch((err: unknown) => {
  if (err instanceof ConfigError) {
    process.stderr.write(`${err.message}\n`);
    process.exit(2);
  }
  process.stderr.write(`fatal: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
