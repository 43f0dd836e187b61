/**
 * PocketSphinx (5prealpha, the Debian libpocketsphinx3) through koffi. This is the one file that
 * touches that library: the rest of the pipeline sees a `SpeechEngine`. Loaded only inside the
 * caption worker thread: every call here blocks its thread for as long as the decoder works.
 *
 * The decoder's voice activity detector (ps_get_in_speech) segments the stream; its log goes
 * nowhere (err_set_logfp(NULL)), since it writes to stderr from C.
 */
import { createRequire } from 'node:module';
import type { SpeechEngine, SpeechEngineSpec } from './speech-engine.ts';

type Koffi = typeof import('koffi');
type KoffiFn = ReturnType<ReturnType<Koffi['load']>['func']>;

/** The decoder's handle, only ever passed back to it. */
declare const decoderBrand: unique symbol;
type Decoder = { readonly [decoderBrand]: true };

interface Bindings {
  readonly psArgs: KoffiFn;
  readonly cmdLnParse: KoffiFn;
  readonly psInit: KoffiFn;
  readonly psFree: KoffiFn;
  readonly startUtt: KoffiFn;
  readonly endUtt: KoffiFn;
  readonly processRaw: KoffiFn;
  readonly getHyp: KoffiFn;
  readonly inSpeech: KoffiFn;
}

const SAMPLE_RATE_HZ = 16_000;

function bind(spec: SpeechEngineSpec): Bindings {
  const koffi = createRequire(import.meta.url)('koffi') as Koffi;
  const base = koffi.load(spec.supportLibrary);
  const lib = koffi.load(spec.library);
  base.func('void err_set_logfp(void *fp)')(null);
  return {
    psArgs: lib.func('void *ps_args()'),
    cmdLnParse: base.func('void *cmd_ln_parse_r(void *inout, void *defn, int32_t argc, const char **argv, int32_t strict)'),
    psInit: lib.func('void *ps_init(void *config)'),
    psFree: lib.func('int ps_free(void *ps)'),
    startUtt: lib.func('int ps_start_utt(void *ps)'),
    endUtt: lib.func('int ps_end_utt(void *ps)'),
    processRaw: lib.func('int ps_process_raw(void *ps, const int16_t *data, size_t n, int no_search, int full_utt)'),
    getHyp: lib.func('const char *ps_get_hyp(void *ps, _Out_ int32_t *score)'),
    inSpeech: lib.func('uint8_t ps_get_in_speech(void *ps)'),
  };
}

export class PocketSphinxEngine implements SpeechEngine {
  readonly sampleRateHz = SAMPLE_RATE_HZ;
  readonly #b: Bindings;
  #decoder: Decoder | undefined;
  /** ps_start_utt was called and ps_end_utt not yet. */
  #open = false;

  constructor(spec: SpeechEngineSpec) {
    this.#b = bind(spec);
    const argv = ['-hmm', spec.acousticModel, '-lm', spec.languageModel, '-dict', spec.dictionary, '-samprate', String(SAMPLE_RATE_HZ)];
    const config = this.#b.cmdLnParse(null, this.#b.psArgs(), argv.length, argv, 1) as unknown;
    if (config === null) throw new Error('pocketsphinx refused its arguments (cmd_ln_parse_r)');
    const decoder = this.#b.psInit(config) as Decoder | null;
    if (decoder === null) throw new Error(`pocketsphinx could not load its model (ps_init): ${spec.acousticModel}`);
    this.#decoder = decoder;
  }

  #ps(): Decoder {
    if (this.#decoder === undefined) throw new Error('the decoder is closed');
    return this.#decoder;
  }

  #check(call: string, result: number): void {
    if (result < 0) throw new Error(`pocketsphinx ${call} failed (${result})`);
  }

  feed(samples: Int16Array): boolean {
    const ps = this.#ps();
    if (!this.#open) {
      this.#check('ps_start_utt', this.#b.startUtt(ps) as number);
      this.#open = true;
    }
    this.#check('ps_process_raw', this.#b.processRaw(ps, samples, samples.length, 0, 0) as number);
    return (this.#b.inSpeech(ps) as number) !== 0;
  }

  partial(): string {
    if (!this.#open) return '';
    return normalise(this.#b.getHyp(this.#ps(), [0]) as string | null);
  }

  restart(): void {
    if (!this.#open) return;
    this.#check('ps_end_utt', this.#b.endUtt(this.#ps()) as number);
    this.#open = false;
  }

  finish(): string {
    if (!this.#open) return '';
    this.restart();
    return normalise(this.#b.getHyp(this.#ps(), [0]) as string | null);
  }

  decodeAll(samples: Int16Array): string {
    this.restart();
    const ps = this.#ps();
    this.#check('ps_start_utt', this.#b.startUtt(ps) as number);
    // full_utt: the whole recording at once, with the model's batch cepstral mean normalisation.
    this.#check('ps_process_raw', this.#b.processRaw(ps, samples, samples.length, 0, 1) as number);
    this.#check('ps_end_utt', this.#b.endUtt(ps) as number);
    return normalise(this.#b.getHyp(ps, [0]) as string | null);
  }

  close(): void {
    if (this.#decoder === undefined) return;
    this.#b.psFree(this.#decoder);
    this.#decoder = undefined;
  }
}

/** The hypothesis as words separated by single spaces (PocketSphinx leaves fillers out already). */
const normalise = (hyp: string | null): string => (hyp ?? '').trim().replace(/\s+/g, ' ');
