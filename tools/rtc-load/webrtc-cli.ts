import { writeFile } from 'node:fs/promises';
import { ArgError } from './args.ts';
import { parseWebRtcCommandLine, WEBRTC_HELP_TEXT } from './webrtc-args.ts';
import { renderWebRtcHtmlReport } from './webrtc-html.ts';
import { formatWebRtcSummary, type WebRtcReport } from './webrtc-report.ts';
import { runWebRtcLoad } from './webrtc-run.ts';

const EXIT_OK = 0;
const EXIT_FAILURES = 1;
const EXIT_USAGE = 2;
const EXIT_INTERRUPTED_TWICE = 130;

/** `rtc-load webrtc ...` (argv without the word `webrtc`): parse, run, print; returns the exit code. */
export async function runWebRtcCli(argv: readonly string[]): Promise<number> {
  let command;
  try {
    command = parseWebRtcCommandLine(argv);
  } catch (error) {
    if (!(error instanceof ArgError)) throw error;
    process.stderr.write(`rtc-load webrtc: ${error.message}\nRun 'rtc-load webrtc --help' for usage.\n`);
    return EXIT_USAGE;
  }
  if (command.kind === 'help') {
    process.stdout.write(WEBRTC_HELP_TEXT);
    return EXIT_OK;
  }
  const { options } = command;

  // First Ctrl-C stops sending, deletes every session and still reports; a second leaves at once.
  const interrupt = new AbortController();
  const onSignal = (): void => {
    if (interrupt.signal.aborted) process.exit(EXIT_INTERRUPTED_TWICE);
    interrupt.abort();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  let report: WebRtcReport;
  try {
    report = await runWebRtcLoad(options, {
      progressStream: process.stderr,
      warn: (message) => process.stderr.write(`rtc-load webrtc: ${message}\n`),
      signal: interrupt.signal,
    });
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }

  if (options.output.json) {
    process.stdout.write(`${JSON.stringify(report)}\n`);
    if (process.stderr.isTTY) process.stderr.write(formatWebRtcSummary(report));
  } else {
    process.stdout.write(formatWebRtcSummary(report));
  }
  if (options.output.htmlPath !== undefined) {
    try {
      await writeFile(options.output.htmlPath, renderWebRtcHtmlReport(report));
    } catch (error) {
      const reason = error instanceof Error ? error.message : String(error);
      process.stderr.write(`rtc-load webrtc: cannot write HTML report ${options.output.htmlPath}: ${reason}\n`);
      return EXIT_FAILURES;
    }
    if (!options.output.json) process.stdout.write(`HTML report: ${options.output.htmlPath}\n`);
  }
  if (options.output.failOnErrors && hasFailures(report)) return EXIT_FAILURES;
  return EXIT_OK;
}

function hasFailures(report: WebRtcReport): boolean {
  const { sessions } = report;
  return sessions.rejected > 0 || sessions.failed > 0 || sessions.withFrames < sessions.established;
}
