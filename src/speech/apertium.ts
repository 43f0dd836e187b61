/**
 * Apertium machine translation, one long-lived pipeline per language pair, shared by every session
 * of the pod that translates into it and ended when the last one closes. This is the one file that
 * talks to Apertium's processes.
 *
 * The pair's mode (modes/<pair>.mode) is run in null-flush mode (`apertium-wblank-mode -z`): each
 * sentence goes in followed by '\0' and its translation comes out followed by '\0', so one process
 * chain serves every sentence. (The `apertium -z` wrapper puts a text deformatter in front that
 * holds its output until the input ends, and opens /dev/stdin by name, which a socket is not.)
 * One sentence is in flight at a time: a lost or doubled '\0' cannot pair a sentence with another's
 * translation, and a timeout restarts the chain.
 */
import { execFile, spawn, type ChildProcessByStdio } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { Readable, Writable } from 'node:stream';
import { promisify } from 'node:util';

const execFileAsync = promisify(execFile);

export type TranslationFailure = 'queue_full' | 'timeout' | 'failed';

export class TranslationError extends Error {
  readonly reason: TranslationFailure;
  constructor(reason: TranslationFailure, message: string) {
    super(message);
    this.name = 'TranslationError';
    this.reason = reason;
  }
}

export interface ApertiumOptions {
  /** APERTIUM_DATA_DIR: where modes/<pair>.mode are (Debian: /usr/share/apertium). */
  readonly dataDir: string;
  /** TRANSLATE_QUEUE_MAX: sentences that may wait for the pair (more are refused at once). */
  readonly queueMax: number;
  /** TRANSLATE_TIMEOUT_MS: one sentence's longest wait for its translation (the first includes the start). */
  readonly timeoutMs: number;
  /** Longest sentence sent, in characters (the rest is cut). */
  readonly maxChars: number;
}

interface Pending {
  readonly text: string;
  readonly resolve: (translation: string) => void;
  readonly reject: (err: TranslationError) => void;
}

/** Apertium's stream format reserves these; a backslash makes each literal. */
const escapeStream = (text: string): string => text.replace(/[\\[\]{}^$@/<>]/g, (c) => `\\${c}`);
/** Escapes undone; the marks a generator may leave on words it could not handle (#, @, *) dropped. */
const unescapeStream = (text: string): string =>
  text
    .replace(/(^|[\s([{"'¿¡])[#@*](?=\S)/gu, '$1')
    .replace(/\\(.)/g, '$1')
    .trim();

type Chain = ChildProcessByStdio<Writable, Readable, null>;

export class ApertiumPair {
  readonly pair: string;
  readonly #options: ApertiumOptions;
  readonly #queue: Pending[] = [];
  #current: (Pending & { readonly timer: NodeJS.Timeout }) | undefined;
  #chain: Chain | undefined;
  #script: Promise<string> | undefined;
  #output = '';
  #closed = false;

  constructor(pair: string, options: ApertiumOptions) {
    this.pair = pair;
    this.#options = options;
  }

  /** The sentence in the pair's target language; rejects with a TranslationError. */
  translate(text: string): Promise<string> {
    if (this.#closed) return Promise.reject(new TranslationError('failed', 'the translator is closed'));
    const sentence = text.replace(/\0/g, ' ').trim().slice(0, this.#options.maxChars);
    if (sentence === '') return Promise.resolve('');
    if (this.#queue.length >= this.#options.queueMax) {
      return Promise.reject(new TranslationError('queue_full', `${this.#queue.length} sentences already wait for ${this.pair} (TRANSLATE_QUEUE_MAX)`));
    }
    return new Promise((resolve, reject) => {
      this.#queue.push({ text: sentence, resolve, reject });
      void this.#next();
    });
  }

  /** Starts the chain ahead of the first sentence (loading a pair's data takes a second or two). */
  warm(): void {
    if (this.#closed) return;
    this.#start().catch(() => undefined);
  }

  close(): void {
    this.#closed = true;
    for (const waiting of this.#queue.splice(0)) waiting.reject(new TranslationError('failed', 'the translator closed'));
    this.#fail(new TranslationError('failed', 'the translator closed'));
  }

  async #next(): Promise<void> {
    if (this.#current !== undefined || this.#closed) return;
    const job = this.#queue.shift();
    if (job === undefined) return;
    const timer = setTimeout(() => this.#fail(new TranslationError('timeout', `no translation from ${this.pair} within ${this.#options.timeoutMs} ms (TRANSLATE_TIMEOUT_MS)`)), this.#options.timeoutMs);
    const current = { ...job, timer };
    this.#current = current;
    try {
      const chain = await this.#start();
      // Still this sentence's turn (a timeout while the chain started moves on to the next, which may have the same text).
      if (this.#current !== current || this.#closed) return;
      chain.stdin.write(`${escapeStream(job.text)}\n\0`);
    } catch (err) {
      this.#fail(new TranslationError('failed', err instanceof Error ? err.message : String(err)));
    }
  }

  async #start(): Promise<Chain> {
    if (this.#chain !== undefined) return this.#chain;
    this.#script ??= execFileAsync('apertium-wblank-mode', ['-z', path.join(this.#options.dataDir, 'modes', `${this.pair}.mode`)], { timeout: 10_000 }).then((r) => r.stdout);
    let script: string;
    try {
      script = await this.#script;
    } catch (err) {
      this.#script = undefined;
      throw err;
    }
    if (this.#closed) throw new Error('the translator is closed');
    if (this.#chain !== undefined) return this.#chain;
    // $1: the generator's mode (-n: unknown words unmarked), $2: the tagger's extra option (none).
    const chain = spawn('bash', ['-c', script, 'apertium', '-n', ''], {
      stdio: ['pipe', 'pipe', 'ignore'],
      // Its own process group: the chain's stages are killed with it, not only bash.
      detached: true,
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', LC_ALL: 'C.UTF-8' },
    });
    chain.stdout.setEncoding('utf8');
    chain.stdout.on('data', (chunk: string) => this.#read(chunk));
    chain.stdin.on('error', () => undefined);
    chain.on('error', (err) => this.#lost(chain, err.message));
    chain.on('exit', (code, signal) => this.#lost(chain, `the ${this.pair} pipeline exited (${signal ?? code})`));
    this.#chain = chain;
    return chain;
  }

  #read(chunk: string): void {
    this.#output += chunk;
    for (let end = this.#output.indexOf('\0'); end >= 0; end = this.#output.indexOf('\0')) {
      const translation = this.#output.slice(0, end);
      this.#output = this.#output.slice(end + 1);
      const job = this.#current;
      // A '\0' with no sentence in flight (each stage flushes once more when its input ends) is not an answer.
      if (job === undefined) continue;
      clearTimeout(job.timer);
      this.#current = undefined;
      job.resolve(unescapeStream(translation));
      void this.#next();
    }
    // Output without its '\0' never grows past what one answer may be.
    if (this.#output.length > 8 * this.#options.maxChars + 1024) this.#fail(new TranslationError('failed', `${this.pair} answered more than a sentence`));
  }

  #lost(chain: Chain, message: string): void {
    if (this.#chain !== chain) return;
    this.#chain = undefined;
    this.#fail(new TranslationError('failed', message));
  }

  /** The sentence in flight fails; the chain is ended and the next sentence starts a new one. */
  #fail(err: TranslationError): void {
    const chain = this.#chain;
    this.#chain = undefined;
    this.#output = '';
    if (chain !== undefined) endChain(chain, this.#closed && this.#current === undefined);
    const job = this.#current;
    this.#current = undefined;
    if (job !== undefined) {
      clearTimeout(job.timer);
      job.reject(err);
    }
    void this.#next();
  }
}

/** A chain left alone this long after its input ended is killed. */
const CHAIN_EXIT_MS = 2000;

/**
 * Ends a chain: its input closed, each stage reads to its end and exits, and bash, having reaped
 * them, exits too. A chain that is stuck (or when `gracefully` is false) has its stages killed
 * while bash lives, so that bash still reaps them: a stage orphaned by killing bash first would be
 * left a zombie where this process is the container's init. Without /proc, the whole group goes.
 */
function endChain(chain: Chain, gracefully: boolean): void {
  chain.stdin.destroy();
  const kill = (): void => {
    const pid = chain.pid;
    if (pid === undefined || chain.exitCode !== null || chain.signalCode !== null) return;
    let stages: number[] = [];
    try {
      stages = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter((p) => p !== '').map(Number);
    } catch {
      // no /proc here
    }
    try {
      if (stages.length === 0) process.kill(-pid, 'SIGKILL');
      for (const stage of stages) process.kill(stage, 'SIGKILL');
    } catch {
      // already gone
    }
  };
  if (!gracefully) return kill();
  const timer = setTimeout(kill, CHAIN_EXIT_MS);
  timer.unref();
  chain.once('exit', () => clearTimeout(timer));
}

/** The pairs in use, each shared by the sessions that translate into it and closed with the last one. */
const inUse = new Map<string, { readonly pair: ApertiumPair; users: number }>();

export function acquireApertium(pair: string, options: ApertiumOptions): { readonly pair: ApertiumPair; release(): void } {
  const key = `${options.dataDir}\0${pair}`;
  let entry = inUse.get(key);
  if (entry === undefined) {
    entry = { pair: new ApertiumPair(pair, options), users: 0 };
    inUse.set(key, entry);
    entry.pair.warm();
  }
  entry.users++;
  const held = entry;
  let released = false;
  return {
    pair: held.pair,
    release() {
      if (released) return;
      released = true;
      if (--held.users === 0) {
        held.pair.close();
        inUse.delete(key);
      }
    },
  };
}
