/**
 * A session's final captions as a WebVTT file, bounded in bytes: when a new cue would pass the cap,
 * the oldest cues are dropped (the file says how many in a NOTE). Pure, no I/O.
 */
import type { Caption } from './caption-types.ts';

export type VttTrack = 'source' | 'translation';

interface Cue {
  /** The cue blocks as the file has them, built once when the caption came. */
  readonly source: string;
  readonly translation: string | undefined;
  /** UTF-8 bytes of the source and translation cues together. */
  readonly bytes: number;
}

const HEADER = 'WEBVTT\n\n';

/** 00:01:02.345 */
export function vttTimestamp(ms: number): string {
  const total = Math.max(0, Math.round(ms));
  const pad = (n: number, width = 2): string => String(n).padStart(width, '0');
  const hours = Math.floor(total / 3_600_000);
  const minutes = Math.floor(total / 60_000) % 60;
  const seconds = Math.floor(total / 1000) % 60;
  return `${pad(hours)}:${pad(minutes)}:${pad(seconds)}.${pad(total % 1000, 3)}`;
}

/** Cue text may not hold "-->" nor a blank line, and <, & start markup. */
const cueText = (text: string): string => text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/\s*\n\s*/g, ' ').trim();

const cueBlock = (startMs: number, endMs: number, text: string): string => `${vttTimestamp(startMs)} --> ${vttTimestamp(Math.max(endMs, startMs + 1))}\n${cueText(text)}\n\n`;

export class WebVttLog {
  readonly #maxBytes: number;
  readonly #cues: Cue[] = [];
  #bytes = 0;
  #dropped = 0;

  /** `maxBytes`: CAPTIONS_WEBVTT_MAX_BYTES, what the cues may hold (the header and the note aside). */
  constructor(maxBytes: number) {
    this.#maxBytes = maxBytes;
  }

  add(caption: Caption): void {
    if (!caption.final || caption.text === '') return;
    const source = cueBlock(caption.startMs, caption.endMs, caption.text);
    const translation = caption.translation === undefined ? undefined : cueBlock(caption.startMs, caption.endMs, caption.translation.text);
    const bytes = Buffer.byteLength(source) + (translation === undefined ? 0 : Buffer.byteLength(translation));
    if (bytes > this.#maxBytes) {
      this.#dropped++;
      return;
    }
    this.#cues.push({ source, translation, bytes });
    this.#bytes += bytes;
    while (this.#bytes > this.#maxBytes) {
      const oldest = this.#cues.shift()!;
      this.#bytes -= oldest.bytes;
      this.#dropped++;
    }
  }

  /** Cues dropped to keep the file within its cap. */
  get dropped(): number {
    return this.#dropped;
  }

  /** The file: the recognised text, or the translation (cues without one are left out). */
  text(track: VttTrack = 'source'): string {
    const note = this.#dropped > 0 ? `NOTE ${this.#dropped} earlier cues dropped (CAPTIONS_WEBVTT_MAX_BYTES)\n\n` : '';
    let body = '';
    for (const cue of this.#cues) body += (track === 'source' ? cue.source : cue.translation) ?? '';
    return HEADER + note + body;
  }
}
