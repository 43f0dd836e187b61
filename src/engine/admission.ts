import { EFFECTS, isSegmentationEffect, type CpuKernels, type EffectJob } from '../effects/catalog.ts';
import { SEGMENTATION_WEIGHT_DETECTOR_LOOK, SEGMENTATION_WEIGHT_MASK_GIVEN } from '../effects/segmentation-cost.ts';
import { TooCostlyError } from '../errors.ts';
import type { FrameLayout } from '../frames/layout.ts';

/**
 * Cost admission: a job's cost is pixels x passes x its effect's weight on the pod's CPU kernels
 * (catalog.ts), in units of one RGBA box-blur pass over one pixel; the seconds per unit are learnt from the jobs the workers
 * finish. A job is refused when it alone would take longer than `maxJobSeconds` (422, cost). How
 * long admitted jobs may wait, and in which order, is the dispatcher's (dispatcher.ts).
 */
export interface AdmissionOptions {
  readonly maxJobSeconds: number;
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

export function costUnits(
  layout: FrameLayout,
  job: EffectJob,
  segmentation?: { readonly infer: boolean; readonly detect?: boolean },
  cpu: CpuKernels = 'wasm',
): number {
  const pixels = layout.width * layout.height;
  // A segmentation effect is one pass whatever iters says; a live frame composed with its
  // session's last mask skips the model, most of the effect's cost; a still (no session) and a
  // session's look for people add the person detector.
  if (isSegmentationEffect(job.effect)) {
    const withModel: (params: Readonly<Record<string, number>>) => number = (p) => EFFECTS[job.effect].weight(p, { cpu, format: layout.format });
    const look = !segmentation || segmentation.detect === true ? SEGMENTATION_WEIGHT_DETECTOR_LOOK : 0;
    const weight = segmentation && !segmentation.infer ? SEGMENTATION_WEIGHT_MASK_GIVEN : withModel(job.params) + look;
    return pixels * weight * FORMAT_FACTOR[layout.format];
  }
  const weight = job.iters === 0 ? COPY_WEIGHT : job.iters * EFFECTS[job.effect].weight(job.params, { cpu, format: layout.format });
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

  /** Admits a job of `units` or throws TooCostlyError. */
  admit(units: number): AdmittedJob {
    const predicted = this.predictSeconds(units);
    if (predicted > this.#options.maxJobSeconds) {
      throw new TooCostlyError(
        `this job would take about ${predicted.toFixed(1)} s of compute; the limit is ${this.#options.maxJobSeconds} s (MAX_JOB_SECONDS): ask for fewer pixels, passes or a smaller radius`,
      );
    }
    this.#backlogSeconds += predicted;
    this.#jobs++;
    let finished = false;
    return {
      predictedSeconds: predicted,
      done: (measured) => {
        if (finished) return;
        finished = true;
        this.#jobs--;
        this.#backlogSeconds = this.#jobs === 0 ? 0 : Math.max(0, this.#backlogSeconds - predicted);
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
