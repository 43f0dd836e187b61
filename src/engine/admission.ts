import { EFFECTS, isSegmentationEffect, type EffectJob } from '../effects/catalog.ts';
import { SEGMENTATION_WEIGHT_MASK_GIVEN } from '../segmentation/cost.ts';
import { OverloadedError, TooCostlyError } from '../errors.ts';
import type { FrameLayout } from '../frames/layout.ts';

/**
 * Cost-and-time admission: a job's cost is pixels x passes x its effect's weight (catalog.ts), in
 * units of one RGBA box-blur pass over one pixel; the seconds per unit are learnt from the jobs the
 * workers finish. A job is refused when it alone would take longer than `maxJobSeconds` (422, cost)
 * or when the work admitted ahead of it would keep it waiting longer than `maxQueueWaitSeconds`
 * (503, queue_full), so that admitted jobs keep a bounded latency and the excess is shed at once.
 */
export interface AdmissionOptions {
  readonly workers: number;
  readonly maxQueueWaitSeconds: number;
  readonly maxJobSeconds: number;
  readonly retryAfterSeconds: number;
  /**
   * CLIENT_QUEUE_SHARE: the part of MAX_QUEUE_WAIT_SECONDS one client's own queued work may fill
   * (1: no per-client bound), so one address cannot take the whole queue from everyone else.
   */
  readonly clientQueueShare?: number;
}

/** I420 is 1.5 bytes a pixel against RGBA's 4, and the kernels' time follows the bytes. */
const FORMAT_FACTOR = { rgba: 1, i420: 0.4 } as const;
/** iters=0 copies the frame: about a fifth of a blur pass. */
const COPY_WEIGHT = 0.2;
/** Before any job has been measured: 1 ns a unit (a 2-core VM does a 720p blur pass in 0.5 ms, 0.55 ns). */
const INITIAL_SECONDS_PER_UNIT = 1e-9;
/** Per-job cost that does not scale with pixels (thread hand-off, result). */
const JOB_OVERHEAD_SECONDS = 0.0002;
/** Jobs smaller than this say more about overheads than about throughput: not learnt from. */
const MIN_UNITS_TO_LEARN = 1e5;
const LEARN_RATE = 0.3;

export function costUnits(layout: FrameLayout, job: EffectJob, segmentation?: { readonly infer: boolean }): number {
  const pixels = layout.width * layout.height;
  // A segmentation effect is one pass whatever iters says; a live frame composed with its
  // session's last mask skips the model, most of the effect's cost.
  if (isSegmentationEffect(job.effect)) {
    const withModel: (params: Readonly<Record<string, number>>) => number = EFFECTS[job.effect].weight;
    const weight = segmentation && !segmentation.infer ? SEGMENTATION_WEIGHT_MASK_GIVEN : withModel(job.params);
    return pixels * weight * FORMAT_FACTOR[layout.format];
  }
  const weight = job.iters === 0 ? COPY_WEIGHT : job.iters * EFFECTS[job.effect].weight(job.params);
  return pixels * weight * FORMAT_FACTOR[layout.format];
}

/** One admitted job: `done` once it finished (or was cancelled); idempotent. */
export interface AdmittedJob {
  readonly predictedSeconds: number;
  done(measured?: { units: number; computeSeconds: number }): void;
}

export class Admission {
  readonly #options: AdmissionOptions;
  #secondsPerUnit = INITIAL_SECONDS_PER_UNIT;
  #backlogSeconds = 0;
  #jobs = 0;
  /** Predicted seconds of each client's admitted, unfinished jobs (entries leave at zero: bounded by jobs). */
  readonly #clients = new Map<string, number>();

  constructor(options: AdmissionOptions) {
    this.#options = options;
  }

  get secondsPerUnit(): number {
    return this.#secondsPerUnit;
  }

  /** Predicted compute seconds of admitted jobs not yet finished (queued and running). */
  get backlogSeconds(): number {
    return this.#backlogSeconds;
  }

  predictSeconds(units: number): number {
    return JOB_OVERHEAD_SECONDS + units * this.#secondsPerUnit;
  }

  /** How long a job admitted now would wait for a worker. */
  predictedWaitSeconds(): number {
    if (this.#jobs < this.#options.workers) return 0;
    return this.#backlogSeconds / this.#options.workers;
  }

  /** Admits a job of `units` or throws TooCostlyError / OverloadedError (reason queue_full). */
  admit(units: number, client?: string): AdmittedJob {
    const predicted = this.predictSeconds(units);
    if (predicted > this.#options.maxJobSeconds) {
      throw new TooCostlyError(
        `this job would take about ${predicted.toFixed(1)} s of compute; the limit is ${this.#options.maxJobSeconds} s (MAX_JOB_SECONDS): ask for fewer pixels, passes or a smaller radius`,
      );
    }
    const wait = this.predictedWaitSeconds();
    if (wait > this.#options.maxQueueWaitSeconds) {
      throw new OverloadedError(
        `the work queued ahead would keep this job waiting about ${wait.toFixed(2)} s (MAX_QUEUE_WAIT_SECONDS ${this.#options.maxQueueWaitSeconds}); retry later`,
        this.#options.retryAfterSeconds,
        'queue_full',
      );
    }
    const share = this.#options.clientQueueShare ?? 1;
    const own = client === undefined ? 0 : (this.#clients.get(client) ?? 0);
    // A client with nothing in flight always gets its one job (within MAX_JOB_SECONDS); beyond that
    // its own work may fill only its share of the wait, idle workers or not, so that one address
    // cannot take every worker in the moment no one else has a job.
    if (client !== undefined && share < 1 && own > 0 && (own + predicted) / this.#options.workers > share * this.#options.maxQueueWaitSeconds) {
      throw new OverloadedError(
        `this client's own queued work would keep it waiting about ${(own / this.#options.workers).toFixed(2)} s (CLIENT_QUEUE_SHARE ${share} of MAX_QUEUE_WAIT_SECONDS); retry later`,
        this.#options.retryAfterSeconds,
        'queue_full',
      );
    }
    this.#backlogSeconds += predicted;
    this.#jobs++;
    if (client !== undefined) this.#clients.set(client, own + predicted);
    let finished = false;
    return {
      predictedSeconds: predicted,
      done: (measured) => {
        if (finished) return;
        finished = true;
        this.#jobs--;
        this.#backlogSeconds = this.#jobs === 0 ? 0 : Math.max(0, this.#backlogSeconds - predicted);
        if (client !== undefined) {
          const left = (this.#clients.get(client) ?? 0) - predicted;
          if (left <= 1e-9 || this.#jobs === 0) this.#clients.delete(client);
          else this.#clients.set(client, left);
        }
        if (measured && measured.units >= MIN_UNITS_TO_LEARN && measured.computeSeconds > 0) this.#learn(measured.units, measured.computeSeconds);
      },
    };
  }

  #learn(units: number, seconds: number): void {
    const observed = Math.max(0, seconds - JOB_OVERHEAD_SECONDS) / units;
    // One odd job (a GC pause, a noisy neighbour) moves the estimate at most fourfold.
    const bounded = Math.min(this.#secondsPerUnit * 4, Math.max(this.#secondsPerUnit / 4, observed));
    this.#secondsPerUnit += LEARN_RATE * (bounded - this.#secondsPerUnit);
  }
}
