import { runCommand } from './command.ts';
import { HTTP_COMMAND } from './http/command.ts';

/** The whole program: picks the command by its first word and runs it; returns the exit code. */
export async function runCli(argv: readonly string[]): Promise<number> {
  if (argv[0] === 'webrtc') {
    // Loaded on demand: HTTP runs never load libwebrtc.
    const { WEBRTC_COMMAND } = await import('./webrtc/command.ts');
    return runCommand(WEBRTC_COMMAND, argv.slice(1));
  }
  if (argv[0] === 'plan') {
    const { PLAN_COMMAND } = await import('./plan/command.ts');
    return runCommand(PLAN_COMMAND, argv.slice(1));
  }
  return runCommand(HTTP_COMMAND, argv);
}
