import type { CommandSpec } from '../command.ts';
import { renderWebRtcHtmlReport } from './html.ts';
import { parseWebRtcCommandLine, WEBRTC_HELP_TEXT, type WebRtcRunOptions } from './args.ts';
import { formatWebRtcSummary, type WebRtcReport } from './report.ts';
import { runWebRtcLoad } from './run.ts';

/** `rtc-load webrtc WHIP_URL ...`. */
export const WEBRTC_COMMAND: CommandSpec<WebRtcRunOptions, WebRtcReport> = {
  name: 'rtc-load webrtc',
  helpText: WEBRTC_HELP_TEXT,
  parse: parseWebRtcCommandLine,
  run: runWebRtcLoad,
  summary: formatWebRtcSummary,
  html: (report) => renderWebRtcHtmlReport(report),
  hasFailures({ sessions }) {
    return sessions.rejected > 0 || sessions.failed > 0 || sessions.withFrames < sessions.established;
  },
};
