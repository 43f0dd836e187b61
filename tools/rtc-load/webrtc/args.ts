import { EFFECT_NAMES, isEffectName } from '../../../src/effects/catalog.ts';
import { ArgError, durationOption, parseStrict, progressIntervalOption, parseTargetUrl, positiveInteger } from '../core/args.ts';
import { MIN_HEIGHT, MIN_WIDTH } from './frame-id.ts';

const DEFAULT_SESSIONS = 1;
const DEFAULT_WIDTH = 1280;
const DEFAULT_HEIGHT = 720;
const DEFAULT_FPS = 30;
const DEFAULT_DURATION_MS = 30_000;
const DEFAULT_TIMEOUT_MS = 10_000;
const MAX_SESSIONS = 1000;
const MAX_FPS = 120;
const MAX_PIXELS = 3840 * 2160;

export interface WebRtcOutputOptions {
  json: boolean;
  htmlPath: string | undefined;
  failOnErrors: boolean;
  /** Off a terminal, a plain progress line this often (0: none); on one, the live line. */
  progressIntervalMs: number;
}

export interface WebRtcRunOptions {
  /** The WHIP endpoint, with `effect=` set when --effect was given. */
  url: URL;
  /** The effect the server applies (from --effect or the URL), or undefined for its default. */
  effect: string | undefined;
  sessions: number;
  width: number;
  height: number;
  fps: number;
  /** How long all sessions run together once the ramp is over. */
  durationMs: number;
  /** Sessions start evenly spread over this span. */
  rampMs: number;
  timeoutMs: number;
  token: string | undefined;
  output: WebRtcOutputOptions;
}

export type ParsedWebRtcCommand = { kind: 'help' } | { kind: 'run'; options: WebRtcRunOptions };

const OPTION_SPEC = {
  sessions: { type: 'string', short: 's' },
  resolution: { type: 'string', short: 'r' },
  fps: { type: 'string' },
  duration: { type: 'string', short: 'd' },
  ramp: { type: 'string' },
  effect: { type: 'string', short: 'e' },
  timeout: { type: 'string' },
  token: { type: 'string' },
  json: { type: 'boolean' },
  html: { type: 'string' },
  'fail-on-errors': { type: 'boolean' },
  'progress-interval': { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

/** Parses the arguments after `webrtc`; throws ArgError (exit 2) on anything invalid. */
export function parseWebRtcCommandLine(argv: readonly string[]): ParsedWebRtcCommand {
  const { values, positionals } = parseStrict(argv, OPTION_SPEC);
  if (values.help) return { kind: 'help' };
  if (positionals.length === 0) throw new ArgError('missing WHIP URL, e.g. http://localhost:8080/whip (try webrtc --help)');
  if (positionals.length > 1) throw new ArgError(`unexpected argument: ${positionals[1] ?? ''}`);

  const url = parseTargetUrl(positionals[0] ?? '');
  if (values.effect !== undefined) {
    if (!isEffectName(values.effect)) throw new ArgError(`--effect must be one of ${EFFECT_NAMES.join(', ')}: ${values.effect}`);
    url.searchParams.set('effect', values.effect);
  }
  const effect = url.searchParams.get('effect') ?? undefined;

  const { width, height } = values.resolution === undefined ? { width: DEFAULT_WIDTH, height: DEFAULT_HEIGHT } : parseResolution(values.resolution);
  const output: WebRtcOutputOptions = {
    json: values.json ?? false,
    htmlPath: values.html,
    failOnErrors: values['fail-on-errors'] ?? false,
    progressIntervalMs: progressIntervalOption(values['progress-interval']),
  };
  if (output.htmlPath === '') throw new ArgError('--html needs a file name');
  if (values.token === '') throw new ArgError('--token needs a value');

  return {
    kind: 'run',
    options: {
      url,
      effect,
      sessions: values.sessions === undefined ? DEFAULT_SESSIONS : positiveInteger('--sessions', values.sessions, MAX_SESSIONS),
      width,
      height,
      fps: values.fps === undefined ? DEFAULT_FPS : parseFps(values.fps),
      durationMs: values.duration === undefined ? DEFAULT_DURATION_MS : durationOption('--duration', values.duration),
      rampMs: values.ramp === undefined ? 0 : durationOption('--ramp', values.ramp, true),
      timeoutMs: values.timeout === undefined ? DEFAULT_TIMEOUT_MS : durationOption('--timeout', values.timeout),
      token: values.token,
      output,
    },
  };
}

export function parseResolution(text: string): { width: number; height: number } {
  const m = /^(\d{1,5})x(\d{1,5})$/i.exec(text.trim());
  if (!m) throw new ArgError(`--resolution must look like 1280x720: ${text}`);
  const width = Number(m[1]);
  const height = Number(m[2]);
  if (width < MIN_WIDTH || height < MIN_HEIGHT) throw new ArgError(`--resolution must be at least ${MIN_WIDTH}x${MIN_HEIGHT} (room for the frame id): ${text}`);
  if (width % 2 !== 0 || height % 2 !== 0) throw new ArgError(`--resolution must have even width and height (I420): ${text}`);
  if (width * height > MAX_PIXELS) throw new ArgError(`--resolution must be at most 3840x2160 pixels in all: ${text}`);
  return { width, height };
}

function parseFps(text: string): number {
  const value = Number(text);
  if (text.trim() === '' || !Number.isFinite(value) || value <= 0 || value > MAX_FPS) throw new ArgError(`--fps must be a number in (0, ${MAX_FPS}]: ${text}`);
  return value;
}

export const WEBRTC_HELP_TEXT = `rtc-load webrtc: synthetic WHIP publishers with frame round-trip latency

Usage:
  rtc-load webrtc URL [options]          URL: the WHIP endpoint, e.g. http://localhost:8080/whip

Each session publishes a generated ${DEFAULT_WIDTH}x${DEFAULT_HEIGHT} test card over WHIP and receives the
processed video on the same connection. Every frame carries its id as a block code in the luma
plane; the id is read back from the returned frame, so each frame's round trip (send -> receipt
of the processed frame) goes into an HDR histogram. Effects that wipe the code (edge) still give
fps, but no round trip.

Load:
  -s, --sessions N           publishers (default ${DEFAULT_SESSIONS})
  -r, --resolution WxH       frame size sent (default ${DEFAULT_WIDTH}x${DEFAULT_HEIGHT}; even, at least ${MIN_WIDTH}x${MIN_HEIGHT})
      --fps F                frames per second sent by each session (default ${DEFAULT_FPS})
  -d, --duration D           how long all sessions run together after the ramp (default 30s)
      --ramp D               start the sessions evenly spread over D (default 0: all at once)
  -e, --effect NAME          ${EFFECT_NAMES.join(', ')}
                             (sets effect= in the URL; other query parameters pass through,
                             e.g. 'http://host/whip?effect=gaussian&sigma=3')
      --timeout D            bound on each WHIP POST and DELETE (default 10s)
      --token T              send 'Authorization: Bearer T' (the server's WHIP_TOKEN)

Output:
      --json                 print one JSON object on stdout instead of the table
      --html FILE            write a self-contained HTML report
      --fail-on-errors       exit 1 if a session was refused, failed, or returned no frame
      --progress-interval D  when stderr is not a terminal (a pipe, a Job's log), a plain
                             progress line every D (default 5s; 0 for none)
  -h, --help                 show this help

Every session is ended with DELETE at the end, and on Ctrl-C (a second Ctrl-C quits at once).
Exit codes: 0 done, 1 failures with --fail-on-errors (or a fatal error), 2 invalid arguments.

Examples:
  rtc-load webrtc http://localhost:8080/whip --sessions 4 --resolution 1280x720 --fps 30 --ramp 5s
  rtc-load webrtc 'http://localhost:8080/whip?effect=gaussian&sigma=2' -s 2 -d 1m --html webrtc.html
`;
