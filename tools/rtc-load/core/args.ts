import { parseArgs, type ParseArgsConfig } from 'node:util';
import { parseDurationMs } from './duration.ts';

/** Invalid command line: reported with its message and exit code 2. */
export class ArgError extends Error {
  override readonly name = 'ArgError';
}

/** node:util parseArgs, strict, with positionals; its complaints become ArgError (exit 2). */
export function parseStrict<const O extends NonNullable<ParseArgsConfig['options']>>(argv: readonly string[], options: O) {
  try {
    return parseArgs({ args: [...argv], options, allowPositionals: true, strict: true });
  } catch (error) {
    throw new ArgError(error instanceof Error ? error.message : String(error));
  }
}

export function parseTargetUrl(text: string): URL {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new ArgError(`not a URL: ${text}`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new ArgError(`URL must be http:// or https://: ${text}`);
  return url;
}

export function durationOption(flag: string, text: string, zeroAllowed = false): number {
  const durationMs = parseDurationMs(text);
  if (durationMs === undefined || durationMs < 0 || (!zeroAllowed && durationMs === 0)) {
    throw new ArgError(`${flag} must be a duration such as 500ms, 30s or 2m: ${text}`);
  }
  return durationMs;
}

export function positiveInteger(flag: string, text: string, max = Number.MAX_SAFE_INTEGER): number {
  const value = Number(text);
  if (!/^\d+$/.test(text.trim()) || !Number.isSafeInteger(value) || value < 1 || value > max) {
    throw new ArgError(`${flag} must be a whole number from 1 to ${max}: ${text}`);
  }
  return value;
}

export function positiveNumber(flag: string, text: string): number {
  const value = Number(text);
  if (text.trim() === '' || !Number.isFinite(value) || value <= 0) throw new ArgError(`${flag} must be a number > 0: ${text}`);
  return value;
}

/** Off a terminal, one plain progress line this often unless --progress-interval says otherwise. */
export const DEFAULT_PLAIN_PROGRESS_INTERVAL_MS = 5000;

/** --progress-interval: a duration, or 0 for no plain progress lines (the default when absent). */
export function progressIntervalOption(text: string | undefined): number {
  if (text === undefined) return DEFAULT_PLAIN_PROGRESS_INTERVAL_MS;
  if (text.trim() === '0') return 0;
  const intervalMs = durationOption('--progress-interval', text, true);
  if (intervalMs > 0 && intervalMs < 100) throw new ArgError(`--progress-interval must be 0 (none) or at least 100ms: ${text}`);
  return intervalMs;
}
