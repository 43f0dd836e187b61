import type { EffectJob } from '../effects/catalog.ts';
import type { FrameLayout } from '../frames/layout.ts';

/** Every message that crosses the thread boundary between the pool and a worker. */

export type FrameSource =
  /** The worker's cached deterministic test card of this layout. */
  | { readonly kind: 'synthetic' }
  /** A caller's frame; the result is written back into the same buffer. */
  | { readonly kind: 'shared'; readonly buffer: SharedArrayBuffer };

export interface ProcessTask {
  readonly type: 'process';
  readonly layout: FrameLayout;
  readonly job: EffectJob;
  readonly source: FrameSource;
  /** performance.timeOrigin + performance.now() when the task was queued: one clock for all threads. */
  readonly queuedAtMs: number;
}

export interface ProcessResult {
  /** From queuedAtMs to the worker picking the task up. */
  readonly queueSeconds: number;
  readonly computeSeconds: number;
  /** A checksum of the output (synthetic jobs return no pixels; this proves the work was done). */
  readonly checksum: number;
}

export type WorkerTask = ProcessTask;

export function epochNowMs(): number {
  return performance.timeOrigin + performance.now();
}
