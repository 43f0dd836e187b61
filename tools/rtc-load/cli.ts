import { writeFile } from 'node:fs/promises';
import { ArgError, parseCommandLine } from './args.ts';
import { HELP_TEXT } from './help.ts';
import { renderHtmlReport } from './html-report.ts';
import type { LoadReport } from './report.ts';
import { runHttpLoad } from './run.ts';
import { formatSummary } from './summary.ts';

export const EXIT_OK = 0;
export const EXIT_FAILURES = 1;
export const EXIT_USAGE = 2;
const EXIT_INTERRUPTED_TWICE = 130;

/** The whole command: parse, run, print, and the exit code to end with. */
export async function runCli(argv: readonly string[]): Promise<number> {
  if (argv[0] === 'webrtc') {
    // Loaded on demand: HTTP runs never load the WebRTC client.
    const { runWebRtcCli } = await import('./webrtc-cli.ts');
    return runWebRtcCli(argv.slice(1));
  }
  let command;
  try {
    command = parseCommandLine(argv);
  } catch (error) {
    if (!(error instanceof ArgError)) throw error;
    process.stderr.write(`rtc-load: ${error.message}\nRun 'rtc-load --help' for usage.\n`);
    return EXIT_USAGE;
  }
  if (command.kind === 'help') {
    process.stdout.write(HELP_TEXT);
    return EXIT_OK;
  }
  const { options } = command;

  // First Ctrl-C ends the run and still reports; a second one leaves at once.
  const interrupt = new AbortController();
  const onSigint = (): void => {
    if (interrupt.signal.aborted) process.exit(EXIT_INTERRUPTED_TWICE);
    interrupt.abort();
  };
  process.on('SIGINT', onSigint);
  let report: LoadReport;
  try {
    report = await runHttpLoad(options, {
      progressStream: process.stderr,
      warn: (message) => process.stderr.write(`rtc-load: ${message}\n`),
      signal: interrupt.signal,
    });
  } finally {
    process.off('SIGINT', onSigint);
  }

  if (options.output.json) {
    process.stdout.write(`${JSON.stringify(report)}\n`);
    if (process.stderr.isTTY) process.stderr.write(formatSummary(report));
  } else {
    process.stdout.write(formatSummary(report));
  }
  if (options.output.htmlPath !== undefined) {
    try {
      await writeFile(options.output.htmlPath, renderHtmlReport(report));
    } catch (error) {
      const reason = error instanceof Error ? error.message : String(error);
      process.stderr.write(`rtc-load: cannot write HTML report ${options.output.htmlPath}: ${reason}\n`);
      return EXIT_FAILURES;
    }
    if (!options.output.json) process.stdout.write(`HTML report: ${options.output.htmlPath}\n`);
  }
  if (options.output.failOnErrors && hasFailures(report)) return EXIT_FAILURES;
  return EXIT_OK;
}

function hasFailures(report: LoadReport): boolean {
  if (Object.keys(report.errors).length > 0) return true;
  return Object.keys(report.statusCounts).some((code) => !code.startsWith('2') || code.length !== 3);
}
