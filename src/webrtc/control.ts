/**
 * What the server sends on a publisher's `control` data channel: one JSON text per message, the
 * effect now in force, a caption of the publisher's speech, an error whose code is from the catalog's control-channel codes (so a
 * code outside docs/errors.md does not compile), or the pod's notice that it is draining: the
 * publisher should publish again (POST the WHIP endpoint, which the balancer sends to another
 * pod) and end this session once the new one runs; this one ends within `seconds` regardless.
 */
import type { AudioEffect } from '../audio/pcm.ts';
import type { EffectJob } from '../effects/catalog.ts';
import type { ControlErrorCode } from '../errors.ts';
import type { Caption } from '../speech/caption-types.ts';
import type { SubtitlesMode } from './audio-request.ts';

export type ControlReply =
  | {
      readonly type: 'effect';
      readonly effect: EffectJob['effect'];
      readonly params: EffectJob['params'];
      readonly iters: number;
      /** Sessions with audio: the audio effect in force. */
      readonly audio?: AudioEffect;
      /** Sessions with captions: whether they are burnt into the video. */
      readonly subtitles?: SubtitlesMode;
    }
  /** A partial or final caption of the publisher's speech (captions=<lang>). */
  | Caption
  | { readonly type: 'error'; readonly error: ControlErrorCode; readonly detail: string }
  | { readonly type: 'drain'; readonly seconds: number; readonly detail: string };

export const controlReplyText = (reply: ControlReply): string => JSON.stringify(reply);
