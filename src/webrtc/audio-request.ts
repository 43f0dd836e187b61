/**
 * What a publisher asks of its audio, from the WHIP query string (`audio=denoise&captions=en&
 * translate=es&subtitles=burn`) or a change request (`{"audio": "mute", "subtitles": "off"}`).
 * Throws 422: `unprocessable` for an unknown audio effect or subtitles mode, `unsupported_language`
 * for a language this pod cannot caption or translate into.
 */
import { AUDIO_EFFECTS, type AudioEffect } from '../audio/pcm.ts';
import { HttpError, InvalidEffectError } from '../errors.ts';
import type { CaptionRequest } from '../speech/caption-types.ts';

/** What the pod's speech engines offer (checked at start-up by the caption pipeline's module). */
export interface CaptionsAvailability {
  readonly available: boolean;
  /** Languages the recogniser knows (BCP 47 primary tags). */
  readonly languages: readonly string[];
  /** Languages captions may be translated into. */
  readonly translations: readonly string[];
}

export const SUBTITLE_MODES = ['off', 'burn'] as const;
export type SubtitlesMode = (typeof SUBTITLE_MODES)[number];

export interface AudioRequest {
  readonly effect: AudioEffect;
  readonly captions: CaptionRequest | undefined;
  readonly subtitles: SubtitlesMode;
}

export const DEFAULT_AUDIO_EFFECT: AudioEffect = 'passthrough';

const isAudioEffect = (value: unknown): value is AudioEffect => typeof value === 'string' && (AUDIO_EFFECTS as readonly string[]).includes(value);
const quoted = (value: unknown): string => JSON.stringify(String(value).slice(0, 40));
const given = (value: unknown): boolean => value !== undefined && value !== '';

export function parseAudioEffect(raw: unknown, fallback: AudioEffect): AudioEffect {
  if (!given(raw)) return fallback;
  if (!isAudioEffect(raw)) throw new InvalidEffectError(`unknown audio effect ${quoted(raw)}; one of ${AUDIO_EFFECTS.join(', ')}`);
  return raw;
}

export function parseSubtitles(raw: unknown, fallback: SubtitlesMode): SubtitlesMode {
  if (!given(raw)) return fallback;
  if (typeof raw !== 'string' || !(SUBTITLE_MODES as readonly string[]).includes(raw)) {
    throw new InvalidEffectError(`subtitles must be one of ${SUBTITLE_MODES.join(', ')}, got ${quoted(raw)}`);
  }
  return raw as SubtitlesMode;
}

function language(raw: unknown, key: string, offered: readonly string[], availability: CaptionsAvailability | undefined): string {
  if (!availability?.available) {
    throw new HttpError('unsupported_language', `${key}=: captions are not available on this pod (no speech engine); GET /effects says what is`);
  }
  if (typeof raw !== 'string' || !offered.includes(raw)) {
    const list = offered.length > 0 ? offered.join(', ') : 'none';
    throw new HttpError('unsupported_language', `${key}=${quoted(raw)} is not offered here; one of ${list}`);
  }
  return raw;
}

/** The audio part of a WHIP query: the audio effect, captions (translate implies them) and subtitles. */
export function parseAudioRequest(raw: Readonly<Record<string, unknown>>, availability: CaptionsAvailability | undefined): AudioRequest {
  const effect = parseAudioEffect(raw.audio, DEFAULT_AUDIO_EFFECT);
  const subtitles = parseSubtitles(raw.subtitles, 'off');
  const wantsCaptions = given(raw.captions) || given(raw.translate);
  let captions: CaptionRequest | undefined;
  if (wantsCaptions) {
    // translate= alone captions in the recogniser's first language.
    const lang = given(raw.captions) ? language(raw.captions, 'captions', availability?.languages ?? [], availability) : language(availability?.languages[0], 'captions', availability?.languages ?? [], availability);
    captions = given(raw.translate) ? { lang, translate: language(raw.translate, 'translate', availability?.translations ?? [], availability) } : { lang };
  }
  if (subtitles === 'burn' && captions === undefined) throw new InvalidEffectError('subtitles=burn needs captions=<lang> (or translate=<lang>)');
  return { effect, captions, subtitles };
}
