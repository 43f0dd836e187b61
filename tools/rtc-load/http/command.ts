import type { CommandSpec } from '../command.ts';
import { renderHtmlReport } from './html.ts';
import { parseCommandLine, type HttpRunOptions } from './args.ts';
import { HELP_TEXT } from './help.ts';
import type { LoadReport } from './report.ts';
import { runHttpLoad } from './run.ts';
import { formatSummary } from './summary.ts';

/** `rtc-load [http] URL ...`. */
export const HTTP_COMMAND: CommandSpec<HttpRunOptions, LoadReport> = {
  name: 'rtc-load',
  helpText: HELP_TEXT,
  parse: parseCommandLine,
  run: runHttpLoad,
  summary: formatSummary,
  html: (report) => renderHtmlReport(report),
  hasFailures(report) {
    if (Object.keys(report.errors).length > 0) return true;
    return Object.keys(report.statusCounts).some((code) => !code.startsWith('2') || code.length !== 3);
  },
};
