import { buildApp } from './app.ts';
import { ConfigError, loadConfig } from './config.ts';

/** Process entry: configuration, app, listen, and an orderly stop on SIGTERM/SIGINT. */
async function main(): Promise<void> {
  const config = loadConfig();
  const ctx = await buildApp(config);
  const { app } = ctx;

  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) {
      app.log.warn({ signal }, 'second signal, exiting now');
      process.exit(1);
    }
    stopping = true;
    ctx.startDraining();
    app.log.info({ signal }, 'shutting down');
    await app.close();
    app.log.info('stopped');
    process.exit(0);
  };
  process.on('SIGTERM', (s) => void stop(s));
  process.on('SIGINT', (s) => void stop(s));

  await app.listen({ port: config.port, host: config.host });
}

main().catch((err: unknown) => {
  if (err instanceof ConfigError) {
    process.stderr.write(`${err.message}\n`);
    process.exit(2);
  }
  process.stderr.write(`fatal: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
