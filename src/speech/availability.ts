/**
 * What this pod can caption and translate, probed once per set of paths (at start-up, by the first
 * caller): the recogniser's library and model files, and the Apertium pairs installed. Without the
 * engine, captions are reported unavailable (GET /effects, 422 when asked) and everything else runs.
 */
import { existsSync, readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import type { SpeechEngineSpec } from './speech-engine.ts';

export interface SpeechPaths {
  /** CAPTIONS_ENGINE_LIBRARY. */
  readonly engineLibrary: string;
  /** CAPTIONS_MODEL_DIR: en-us/ (acoustic model), en-us.lm.bin, cmudict-en-us.dict. */
  readonly modelDir: string;
  /** APERTIUM_DATA_DIR. */
  readonly apertiumDataDir: string;
}

export const DEFAULT_SPEECH_PATHS: SpeechPaths = {
  engineLibrary: 'libpocketsphinx.so.3',
  modelDir: '/usr/share/pocketsphinx/model/en-us',
  apertiumDataDir: '/usr/share/apertium',
};

export interface CaptionsAvailability {
  readonly available: boolean;
  /** Languages the recogniser knows (BCP 47 primary tags). */
  readonly languages: readonly string[];
  /** Languages captions may be translated into (installed Apertium pairs from the first language). */
  readonly translations: readonly string[];
  /** Why captions are unavailable (for the start-up log line). */
  readonly reason?: string;
}

/** BCP 47 primary tags and the ISO 639-3 codes Apertium names its pairs with. */
const ISO_639_3: Readonly<Record<string, string>> = {
  en: 'eng', es: 'spa', ca: 'cat', fr: 'fra', pt: 'por', it: 'ita', de: 'deu', gl: 'glg', eo: 'epo', eu: 'eus', oc: 'oci',
  nb: 'nob', nn: 'nno', ro: 'ron', sv: 'swe', da: 'dan', nl: 'nld', cy: 'cym', ga: 'gle', br: 'bre', an: 'arg', ast: 'ast',
};
const BCP_47 = Object.fromEntries(Object.entries(ISO_639_3).map(([tag, iso]) => [iso, tag])) as Readonly<Record<string, string>>;

/** The Apertium pair (e.g. eng-spa) that translates `from` into `to` (BCP 47 tags). */
export function apertiumPair(from: string, to: string): string {
  return `${ISO_639_3[from] ?? from}-${ISO_639_3[to] ?? to}`;
}

/** The recogniser's model files under CAPTIONS_MODEL_DIR and the language they recognise. */
export function engineSpec(paths: SpeechPaths): SpeechEngineSpec {
  return {
    kind: 'pocketsphinx',
    library: paths.engineLibrary,
    supportLibrary: path.join(path.dirname(paths.engineLibrary), path.basename(paths.engineLibrary).replace('pocketsphinx', 'sphinxbase')),
    acousticModel: path.join(paths.modelDir, 'en-us'),
    languageModel: path.join(paths.modelDir, 'en-us.lm.bin'),
    dictionary: path.join(paths.modelDir, 'cmudict-en-us.dict'),
  };
}

const RECOGNISED_LANGUAGE = 'en';

function onPath(tool: string): boolean {
  return (process.env.PATH ?? '').split(path.delimiter).some((dir) => dir !== '' && existsSync(path.join(dir, tool)));
}

function probeEngine(paths: SpeechPaths): string | undefined {
  const spec = engineSpec(paths);
  for (const file of [spec.acousticModel, spec.languageModel, spec.dictionary]) {
    if (!existsSync(file)) return `the model file ${file} is missing (CAPTIONS_MODEL_DIR; Debian: pocketsphinx-en-us)`;
  }
  try {
    const koffi = createRequire(import.meta.url)('koffi') as typeof import('koffi');
    // Loading is all: the decoder itself only ever runs in a caption worker.
    koffi.load(spec.supportLibrary);
    koffi.load(spec.library);
  } catch (err) {
    return `the recogniser library cannot be loaded (CAPTIONS_ENGINE_LIBRARY=${paths.engineLibrary}; Debian: libpocketsphinx3): ${err instanceof Error ? err.message : String(err)}`;
  }
  return undefined;
}

/** Target languages of the installed pairs from `from` (variants such as eng-cat_valencia left out). */
function probeTranslations(from: string, dataDir: string): string[] {
  if (!onPath('apertium-wblank-mode') || !onPath('lt-proc')) return [];
  let modes: string[];
  try {
    modes = readdirSync(path.join(dataDir, 'modes'));
  } catch {
    return [];
  }
  const prefix = `${ISO_639_3[from] ?? from}-`;
  const targets = new Set<string>();
  for (const file of modes) {
    const m = /^([a-z]{2,3})-([a-z]{2,3})\.mode$/.exec(file);
    if (!m || `${m[1]}-` !== prefix) continue;
    const tag = BCP_47[m[2]!];
    if (tag !== undefined) targets.add(tag);
  }
  return [...targets].sort();
}

const probed = new Map<string, CaptionsAvailability>();

/** Probed once per set of paths; later calls return the same answer. */
export function captionsAvailable(paths: SpeechPaths = DEFAULT_SPEECH_PATHS): CaptionsAvailability {
  const key = JSON.stringify(paths);
  const known = probed.get(key);
  if (known !== undefined) return known;
  const reason = probeEngine(paths);
  const availability: CaptionsAvailability =
    reason === undefined
      ? { available: true, languages: [RECOGNISED_LANGUAGE], translations: probeTranslations(RECOGNISED_LANGUAGE, paths.apertiumDataDir) }
      : { available: false, languages: [], translations: [], reason };
  probed.set(key, availability);
  return availability;
}
