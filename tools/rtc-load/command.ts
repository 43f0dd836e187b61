import { writeFile } from 'node:fs/promises';
import { ArgError } from './core/args.ts';

/** One set of exit codes for every rtc-load command. */
export const EXIT_OK = 0;
/** Failures with --fail-on-errors, an unwritable report, or a fatal error. */
export const EXIT_FAILURES = 1;
export const EXIT_USAGE = 2;
/** A second Ctrl-C (or SIGTERM) leaves at once, as shells report an interrupted command. */
export const EXIT_INTERRUPTED_TWICE = 130;

/** What a run gets from the command around it. */
export interface RunEnvironment {
  /** Where the live progress line goes (only if it is a TTY). */
  progressStream: NodeJS.WriteStream;
  warn(message: string): void;
  /** Aborting ends the run early; what finished so far is still reported. */
  signal?: AbortSignal;
}

export interface CommandOutputOptions {
  json: boolean;
  htmlPath: string | undefined;
  failOnErrors: boolean;
}

export type ParsedCommandLine<Options> = { kind: 'help' } | { kind: 'run'; options: Options };

/** A command (`rtc-load`, `rtc-load webrtc`, `rtc-load plan`) as the runner drives it. */
export interface CommandSpec<Options extends { output: CommandOutputOptions }, Report> {
  /** As the messages name it, e.g. `rtc-load webrtc`. */
  readonly name: string;
  readonly helpText: string;
  /** Throws ArgError on an invalid command line. */
  parse(argv: readonly string[]): ParsedCommandLine<Options>;
  run(options: Options, environment: RunEnvironment): Promise<Report>;
  summary(report: Report): string;
  html(report: Report): string;
  hasFailures(report: Report): boolean;
}

/**
 * Parse, run, print, and the exit code to end with; the same for every command. The first
 * SIGINT/SIGTERM ends the run and still reports (a Kubernetes Job's pod gets SIGTERM on delete);
 * a second leaves at once.
 */
export async function runCommand<Options extends { output: CommandOutputOptions }, Report>(
  spec: CommandSpec<Options, Report>,
  argv: readonly string[],
): Promise<number> {
  let command: ParsedCommandLine<Options>;
  try {
    command = spec.parse(argv);
  } catch (error) {
    if (!(error instanceof ArgError)) throw error;
    process.stderr.write(`${spec.name}: ${error.message}\nRun '${spec.name} --help' for usage.\n`);
    return EXIT_USAGE;
  }
  if (command.kind === 'help') {
    process.stdout.write(spec.helpText);
    return EXIT_OK;
  }
  const { options } = command;

  const interrupt = new AbortController();
  const onSignal = (): void => {
    if (interrupt.signal.aborted) process.exit(EXIT_INTERRUPTED_TWICE);
    interrupt.abort();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  let report: Report;
  try {
    report = await spec.run(options, {
      progressStream: process.stderr,
      warn: (message) => process.stderr.write(`${spec.name}: ${message}\n`),
      signal: interrupt.signal,
    });
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }

  const { output } = options;
  if (output.json) {
    process.stdout.write(`${JSON.stringify(report)}\n`);
    if (process.stderr.isTTY) process.stderr.write(spec.summary(report));
  } else {
    process.stdout.write(spec.summary(report));
  }
  if (output.htmlPath !== undefined) {
    try {
      await writeFile(output.htmlPath, spec.html(report));
    } catch (error) {
      const reason = error instanceof Error ? error.message : String(error);
      process.stderr.write(`${spec.name}: cannot write HTML report ${output.htmlPath}: ${reason}\n`);
      return EXIT_FAILURES;
    }
    if (!output.json) process.stdout.write(`HTML report: ${output.htmlPath}\n`);
  }
  if (output.failOnErrors && spec.hasFailures(report)) return EXIT_FAILURES;
  return EXIT_OK;
}
