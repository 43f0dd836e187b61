import { runCommand } from './command.ts';

/**
 * The whole program: picks the command by its first word and runs it; returns the exit code. Each
 * command is loaded on demand: a WebRTC run never loads the HTTP client (undici, the histograms),
 * an HTTP run never loads libwebrtc.
 */
export async function runCli(argv: readonly string[]): Promise<number> {
  if (argv[0] === 'webrtc') {
    const { WEBRTC_COMMAND } = await import('./webrtc/command.ts');
    return runCommand(WEBRTC_COMMAND, argv.slice(1));
  }
  if (argv[0] === 'plan') {
    const { PLAN_COMMAND } = await import('./plan/command.ts');
    return runCommand(PLAN_COMMAND, argv.slice(1));
  }
  const { HTTP_COMMAND } = await import('./http/command.ts');
  return runCommand(HTTP_COMMAND, argv);
}
