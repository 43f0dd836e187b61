import type { FastifyBaseLogger } from 'fastify';

export interface ShutdownSteps {
  readonly log: FastifyBaseLogger;
  /** Seconds to keep serving after readiness fails. */
  readonly delaySeconds: number;
  /** Readiness goes 503. */
  readonly startDraining: () => void;
  /**
   * Tells the live WebRTC publishers, on their control channel, to publish again elsewhere: their
   * sessions end within `seconds` (the delay and the session drain), and calls move to the pods
   * that stay instead of ending with this one.
   */
  readonly announceDrain?: (seconds: number) => void;
  /** SESSION_DRAIN_SECONDS: how long live sessions may still run once the delay is over. */
  readonly sessionDrainSeconds?: number;
  /** Lets live WebRTC sessions end on their own (bounded), while HTTP still answers their DELETEs. */
  readonly drainSessions: () => Promise<void>;
  /** Stops accepting, finishes in-flight work, releases the engine (and what sessions remain). */
  readonly close: () => Promise<void>;
  readonly exit: (code: number) => void;
}

/**
 * SIGTERM/SIGINT: fail readiness at once and tell live publishers to move (they publish again
 * through the Service, which no longer sends new calls here), keep serving for the delay (the pod
 * is still in the Service's endpoints for a while), let live sessions end (new ones are refused
 * while draining), then close in order and exit 0. A second signal exits at once.
 */
export function installShutdown(steps: ShutdownSteps): () => Promise<void> {
  let stopping: Promise<void> | undefined;
  const stop = (signal: string): Promise<void> => {
    if (stopping) {
      steps.log.warn({ signal }, 'second signal, exiting now');
      steps.exit(1);
      return stopping;
    }
    steps.startDraining();
    steps.announceDrain?.(steps.delaySeconds + (steps.sessionDrainSeconds ?? 0));
    steps.log.info({ signal, delaySeconds: steps.delaySeconds }, 'draining: readiness failed, still serving');
    stopping = (async () => {
      await new Promise((resolve) => setTimeout(resolve, steps.delaySeconds * 1000));
      try {
        steps.log.info('draining sessions');
        await steps.drainSessions();
        steps.log.info('closing: no new connections, finishing in-flight work');
        await steps.close();
        steps.log.info('stopped');
        steps.exit(0);
      } catch (err) {
        steps.log.error({ err }, 'shutdown failed');
        steps.exit(1);
      }
    })();
    return stopping;
  };
  const onSignal = (signal: NodeJS.Signals) => void stop(signal);
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  return () => stop('manual');
}
