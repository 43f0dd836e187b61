/**
 * What the server sends on a publisher's `control` data channel: one JSON text per message, the
 * effect now in force or an error whose code is from the catalog's control-channel codes (so a
 * code outside docs/errors.md does not compile).
 */
import type { EffectJob } from '../effects/catalog.ts';
import type { ControlErrorCode } from '../errors.ts';

export type ControlReply =
  | { readonly type: 'effect'; readonly effect: EffectJob['effect']; readonly params: EffectJob['params']; readonly iters: number }
  | { readonly type: 'error'; readonly error: ControlErrorCode; readonly detail: string };

export const controlReplyText = (reply: ControlReply): string => JSON.stringify(reply);
