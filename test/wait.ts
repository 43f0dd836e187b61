/**
 * The one way a test waits: on a fact, never on time. `waitUntil` polls `check` until it returns
 * something other than false, undefined or null, and resolves with that value; past `timeoutMs` it
 * fails with `what` and, when given, the state `detail` describes (a log tail, the last reading).
 */
export interface WaitOptions {
  /** Give up after this long (default 10 s). */
  timeoutMs?: number;
  /** Pause between checks (default 50 ms). */
  intervalMs?: number;
  /** What to add to the failure: the state the check saw last. */
  detail?: () => string | Promise<string>;
  /** Count a check that throws (a server not listening yet) as not yet, and name its last error. */
  untilNoError?: boolean;
}

type Falsy = false | undefined | null;

export async function waitUntil<T>(what: string, check: () => T | Falsy | Promise<T | Falsy>, options: WaitOptions = {}): Promise<T> {
  const timeoutMs = options.timeoutMs ?? 10_000;
  const intervalMs = options.intervalMs ?? 50;
  const deadline = performance.now() + timeoutMs;
  let lastError = '';
  for (;;) {
    try {
      const value = await check();
      if (value !== false && value !== undefined && value !== null) return value;
    } catch (err) {
      if (options.untilNoError !== true) throw err;
      lastError = ` (last error: ${err instanceof Error ? err.message : String(err)})`;
    }
    if (performance.now() > deadline) {
      const detail = options.detail === undefined ? '' : `\n${await options.detail()}`;
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${lastError}${detail}`);
    }
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}
