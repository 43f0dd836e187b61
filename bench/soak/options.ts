/** The soak's command line (bench/soak.ts): parsed and checked once, exit 2 on a bad argument. */
import { parseArgs } from 'node:util';
import { parseResolution } from '../../tools/rtc-load/webrtc/args.ts';

export interface SoakOptions {
  minutes: number;
  sessions: number;
  httpRate: number;
  width: number;
  height: number;
  fps: number;
  maxRssGrowthPercent: number;
  /** A session lives between this and twice this. */
  sessionSeconds: number;
  json: boolean;
}

function usage(message: string): never {
  process.stderr.write(`soak: ${message}\nUsage: npm run soak -- [--minutes 10] [--sessions 2] [--http-rate 50] [--resolution 640x360] [--fps 15] [--max-rss-growth P] [--session-seconds S] [--json]\n`);
  process.exit(2);
}

export function parseOptions(argv: string[]): SoakOptions {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        minutes: { type: 'string', default: '10' },
        sessions: { type: 'string', default: '2' },
        'http-rate': { type: 'string', default: '50' },
        resolution: { type: 'string', default: '640x360' },
        fps: { type: 'string', default: '15' },
        'max-rss-growth': { type: 'string' },
        'session-seconds': { type: 'string' },
        json: { type: 'boolean', default: false },
      },
      strict: true,
    }));
  } catch (error) {
    usage(error instanceof Error ? error.message : String(error));
  }
  const number = (flag: string, text: string, min: number, max: number, integer = false): number => {
    const n = Number(text);
    if (text.trim() === '' || !Number.isFinite(n) || n < min || n > max || (integer && !Number.isInteger(n))) {
      usage(`--${flag} must be ${integer ? 'a whole number' : 'a number'} from ${min} to ${max}: ${text}`);
    }
    return n;
  };
  const minutes = number('minutes', values.minutes, 1, 24 * 60);
  let size;
  try {
    size = parseResolution(values.resolution);
  } catch (error) {
    usage(error instanceof Error ? error.message : String(error));
  }
  return {
    minutes,
    sessions: number('sessions', values.sessions, 0, 100, true),
    httpRate: number('http-rate', values['http-rate'], 0, 10_000),
    width: size.width,
    height: size.height,
    fps: number('fps', values.fps, 1, 60),
    maxRssGrowthPercent:
      values['max-rss-growth'] === undefined ? (minutes >= 5 ? 10 : 25) : number('max-rss-growth', values['max-rss-growth'], 0, 1000),
    sessionSeconds:
      values['session-seconds'] === undefined ? Math.min(30, (minutes * 60) / 6) : number('session-seconds', values['session-seconds'], 1, 3600),
    json: values.json,
  };
}
