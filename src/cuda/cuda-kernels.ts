/**
 * The CUDA backend behind the `EffectKernels` interface, one instance per worker thread.
 *
 * Memory: the frames the caller fills and reads are page-locked host blocks (pinned-frames.ts),
 * addressed by their host address and viewed without a copy; freed blocks are kept per size for
 * reuse. Device buffers are pooled per size as well (idle-pool.ts). Each pool keeps a bounded number of idle
 * bytes and gives back the least recently used beyond that: page-locked memory is RAM the kernel
 * cannot page out, so its budget is small; device memory is plentiful, and cuMemFree waits for the
 * whole device, so its budget is larger.
 *
 * run(): one upload, every iteration on the device (two device frames ping-pong; the gaussian
 * adds one float intermediate), one download, all queued on this instance's own stream, then one
 * blocking wait on an event (the worker thread sleeps rather than spins). Two timing events
 * around the kernels give `lastKernelSeconds`.
 *
 * The kernels and their argument layouts are in kernels.cu; the PTX that the driver JIT-compiles
 * is committed in ptx/kernels.ptx (scripts/build-ptx.mjs). What each effect launches is in
 * filter-passes.ts; the probe at start-up in probe.ts.
 */
import type { EffectKernels } from '../effects/kernel-types.ts';
import type { CudaDeviceInfo } from '../protocol/cuda-types.ts';
import type { EffectJob, EffectParams } from '../effects/catalog.ts';
import { checkFilterJob, checkLayout } from '../effects/job-check.ts';
import { planesOf, type FrameLayout, type PlaneLayout } from '../frames/layout.ts';
import { packagePath } from '../paths.ts';
import { SELFIE_MODEL } from '../segmentation/model.ts';
import { loadGraphModelFile } from '../segmentation/graph-load.ts';
import { CudaSegmenter, type DeviceBackdrop } from './segment.ts';
import {
  CU_EVENT_BLOCKING_SYNC,
  CU_EVENT_DEFAULT,
  CU_EVENT_DISABLE_TIMING,
  CU_STREAM_NON_BLOCKING,
  DEFAULT_CUDA_LIBRARY,
  loadCudaDriver,
  type CuContext,
  type CudaDriver,
  type CuDevicePtr,
  type CuEvent,
  type CuFunction,
  type CuStream,
  type LaunchArgs,
} from './driver.ts';
import { CUDA_KERNEL_NAMES, GAUSS_ARGS_BYTES, LAUNCH_SHAPES, PASSES, writeGaussArgs, writePlaneArgs, type CudaEffect, type CudaOps } from './filter-passes.ts';
import { IdlePool } from './idle-pool.ts';
import { PinnedFrames } from './pinned-frames.ts';
import { deviceInfo, readPtx, type CudaOptions } from './probe.ts';

const DEFAULT_MAX_IDLE_HOST_BYTES = 64 * 1024 * 1024;
const DEFAULT_MAX_IDLE_DEVICE_BYTES = 512 * 1024 * 1024;

export interface CudaKernelsOptions extends CudaOptions {
  /** Idle pinned host bytes kept for reuse, per instance (default 64 MiB). */
  readonly maxIdleHostBytes?: number;
  /** Idle device bytes kept for reuse, per instance (default 512 MiB). */
  readonly maxIdleDeviceBytes?: number;
}

/** What goes behind the person in runBackground(); an image is a pinned frame of the job's layout. */
export type HostBackdrop =
  | { readonly kind: 'blur'; readonly strengthPx: number }
  | { readonly kind: 'colour'; readonly rgb: number }
  | { readonly kind: 'image'; readonly ptr: number };

/** A session's mask for runBackground() (the CPU path's MaskStateView, with this frame's schedule). */
export interface DeviceMaskSession {
  readonly valid: boolean;
  /** Model resolution, one byte per pixel: read when valid, written after an inference. */
  readonly mask: Uint8Array;
  markValid(): void;
  /** Run the model on this frame (false: reuse the mask, when valid). */
  readonly infer: boolean;
  /** Weight of the previous mask, 0 .. 0.95. */
  readonly smoothing: number;
}

/** Creates the kernels on device `ordinal`: its primary context, the module, a stream and events. */
export async function createCudaKernels(options: CudaKernelsOptions = {}): Promise<CudaKernels> {
  const driver = loadCudaDriver(options.libraryPath ?? DEFAULT_CUDA_LIBRARY);
  driver.init();
  const device = driver.device(options.ordinal ?? 0);
  return new CudaKernels(driver, device, readPtx().text, {
    host: options.maxIdleHostBytes ?? DEFAULT_MAX_IDLE_HOST_BYTES,
    device: options.maxIdleDeviceBytes ?? DEFAULT_MAX_IDLE_DEVICE_BYTES,
  });
}

export class CudaKernels implements EffectKernels {
  readonly info: CudaDeviceInfo;
  /** GPU time of the last run's kernels (all iterations), from CUDA events; 0 for iters=0. */
  lastKernelSeconds = 0;

  readonly #driver: CudaDriver;
  readonly #device: number;
  readonly #context: CuContext;
  readonly #resources: Array<() => void> = [];
  readonly #functions = new Map<string, CuFunction>();
  #stream!: CuStream;
  #start!: CuEvent;
  #stop!: CuEvent;
  #done!: CuEvent;
  #args!: LaunchArgs;
  readonly #frames: PinnedFrames;
  readonly #idleDevice: IdlePool<CuDevicePtr>;
  #closed = false;
  /** The segmentation network on this context and stream, made on the first background effect. */
  #segmenter: CudaSegmenter | undefined;
  /** What the effect table may do on this instance's stream. */
  readonly #ops: CudaOps<string> = {
    launch: (name, src, dst, width, height, block) => {
      writePlaneArgs(this.#args.view, src, dst, width, height, block);
      this.#launch(name, width, height, block);
    },
    launchGauss: (name, src, dst, width, height, radius, weights) => {
      writeGaussArgs(this.#args.view, src, dst, width, height, radius, weights);
      this.#launch(name, width, height, 0);
    },
    memset: (dst, value, bytes) => this.#driver.memsetD8Async(dst, value, bytes, this.#stream),
    copy: (dst, src, bytes) => this.#driver.memcpyDtoDAsync(dst, src, bytes, this.#stream),
  };

  constructor(driver: CudaDriver, device: number, ptx: string, maxIdleBytes: { readonly host: number; readonly device: number }) {
    this.#driver = driver;
    this.#device = device;
    this.info = deviceInfo(driver, device);
    this.#context = driver.primaryContextRetain(device);
    this.#resources.push(() => driver.primaryContextRelease(device));
    this.#frames = new PinnedFrames(driver, this.#context, maxIdleBytes.host);
    this.#idleDevice = new IdlePool<CuDevicePtr>(maxIdleBytes.device, (pointer) => driver.memFree(pointer));
    try {
      driver.setCurrentContext(this.#context);
      const module = driver.loadModule(ptx);
      this.#resources.push(() => driver.unloadModule(module));
      for (const name of CUDA_KERNEL_NAMES) this.#functions.set(name, driver.getFunction(module, name));
      const stream = driver.streamCreate(CU_STREAM_NON_BLOCKING);
      this.#stream = stream;
      this.#resources.push(() => driver.streamDestroy(stream));
      const events = [CU_EVENT_DEFAULT, CU_EVENT_DEFAULT, CU_EVENT_BLOCKING_SYNC | CU_EVENT_DISABLE_TIMING].map((flags) => {
        const event = driver.eventCreate(flags);
        this.#resources.push(() => driver.eventDestroy(event));
        return event;
      });
      [this.#start, this.#stop, this.#done] = events as [CuEvent, CuEvent, CuEvent];
      const args = driver.createLaunchArgs(GAUSS_ARGS_BYTES);
      this.#args = args;
      this.#resources.push(() => driver.freeLaunchArgs(args));
    } catch (err) {
      this.close();
      throw err;
    }
  }

  alloc(bytes: number): number {
    return this.#frames.alloc(bytes);
  }

  free(ptr: number, bytes: number): void {
    this.#frames.free(ptr, bytes);
  }

  view(ptr: number, bytes: number): Uint8Array {
    return this.#frames.view(ptr, bytes);
  }

  run(layout: FrameLayout, job: EffectJob, srcPtr: number, dstPtr: number): void {
    if (this.#closed) throw new Error('the CUDA kernels are closed');
    const bytes = checkLayout(layout);
    const { effect: name, params } = checkFilterJob(job);
    this.#frames.check(srcPtr, bytes);
    this.#frames.check(dstPtr, bytes);
    if (srcPtr < dstPtr + bytes && dstPtr < srcPtr + bytes) throw new RangeError('srcPtr and dstPtr frames overlap');
    this.lastKernelSeconds = 0;
    if (job.iters === 0) {
      this.view(dstPtr, bytes).set(this.view(srcPtr, bytes));
      return;
    }

    const d = this.#driver;
    const stream = this.#stream;
    const planes = planesOf(layout);
    const effect = PASSES[name] as CudaEffect<EffectParams>;
    const tmpBytes = effect.tmpBytes(planes[0]!, params);
    const held: Array<[CuDevicePtr, number]> = [];
    const acquire = (size: number): CuDevicePtr => {
      const pointer = this.#idleDevice.take(size) ?? d.memAlloc(size);
      held.push([pointer, size]);
      return pointer;
    };
    let ok = false;
    try {
      d.setCurrentContext(this.#context);
      let from = acquire(bytes);
      let to = acquire(bytes);
      const tmp = tmpBytes > 0 ? acquire(tmpBytes) : 0n;
      d.memcpyHtoDAsync(from, srcPtr, bytes, stream);
      d.eventRecord(this.#start, stream);
      for (let pass = 0; pass < job.iters; pass++) {
        this.#pass(layout, planes, effect, params, from, to, tmp);
        [from, to] = [to, from];
      }
      d.eventRecord(this.#stop, stream);
      d.memcpyDtoHAsync(dstPtr, from, bytes, stream);
      d.eventRecord(this.#done, stream);
      d.eventSynchronize(this.#done);
      this.lastKernelSeconds = d.eventElapsedMs(this.#start, this.#stop) / 1000;
      ok = true;
    } finally {
      this.#settle(ok, held);
    }
  }

  /**
   * After a run: on failure, work may still be queued on these buffers; a later run reuses them
   * only after it, as the stream orders it, but the caller may now read or reuse the host frames at
   * once, so wait for the stream. Then the device buffers go back to the pool.
   */
  #settle(ok: boolean, held: ReadonlyArray<readonly [CuDevicePtr, number]>): void {
    if (!ok) {
      try {
        this.#driver.streamSynchronize(this.#stream);
      } catch {
        // the error that brought us here is the one to report
      }
    }
    for (const [pointer, size] of held) this.#idleDevice.put(size, pointer);
  }

  #pass(layout: FrameLayout, planes: PlaneLayout[], effect: CudaEffect<EffectParams>, params: EffectParams, from: CuDevicePtr, to: CuDevicePtr, tmp: CuDevicePtr): void {
    const rgba = layout.format === 'rgba';
    const ops = this.#ops;
    if (effect.frame) return effect.frame({ ops, rgba, layout, from, to }, params);
    for (let index = 0; index < planes.length; index++) {
      const p = planes[index]!;
      effect.plane(
        { ops, src: from + BigInt(p.offset), dst: to + BigInt(p.offset), tmp, plane: p, rgba, chroma: !rgba && index > 0, c: rgba ? 'c4' : 'c1' },
        params,
      );
    }
  }

  /** The kernel `name` over the arguments already written, shaped for a `width` x `height` plane. */
  #launch(name: string, width: number, height: number, block: number): void {
    const fn = this.#functions.get(name);
    const shape = LAUNCH_SHAPES.get(name);
    if (!fn || !shape) throw new Error(`kernel ${name} is not loaded`);
    const { grid, threads } = shape(width, height, block);
    this.#driver.launch(fn, grid, threads, this.#stream, this.#args);
  }

  /**
   * A background effect (person segmentation, src/cuda/segment.ts) of one frame: the frames are
   * this instance's pinned host blocks, as for run(); an image backdrop is one too, in the frame's
   * layout. The whole chain runs on the device between one upload and one download. With
   * `session`, its mask is uploaded first (when valid), updated with the new inference (unless
   * `infer` is false), and written back after; without it the mask is fresh and not smoothed.
   */
  runBackground(layout: FrameLayout, srcPtr: number, dstPtr: number, backdrop: HostBackdrop, session?: DeviceMaskSession): void {
    if (this.#closed) throw new Error('the CUDA kernels are closed');
    const bytes = checkLayout(layout);
    this.#frames.check(srcPtr, bytes);
    this.#frames.check(dstPtr, bytes);
    if (backdrop.kind === 'image') this.#frames.check(backdrop.ptr, bytes);
    if (srcPtr < dstPtr + bytes && dstPtr < srcPtr + bytes) throw new RangeError('srcPtr and dstPtr frames overlap');
    const d = this.#driver;
    const stream = this.#stream;
    d.setCurrentContext(this.#context);
    const seg = this.#segmenterOnce();
    const held: Array<[CuDevicePtr, number]> = [];
    const acquire = (size: number): CuDevicePtr => {
      const pointer = this.#idleDevice.take(size) ?? d.memAlloc(size);
      held.push([pointer, size]);
      return pointer;
    };
    let ok = false;
    try {
      const src = acquire(bytes);
      const dst = acquire(bytes);
      d.memcpyHtoDAsync(src, srcPtr, bytes, stream);
      let device: DeviceBackdrop;
      if (backdrop.kind === 'image') {
        const bg = acquire(bytes);
        d.memcpyHtoDAsync(bg, backdrop.ptr, bytes, stream);
        device = { kind: 'image', frame: bg };
      } else {
        device = backdrop;
      }
      const valid = session?.valid === true;
      const infer = !valid || session.infer;
      if (valid) seg.enqueueMaskUpload(session.mask);
      d.eventRecord(this.#start, stream);
      seg.enqueueBackground({ layout, src, dst, backdrop: device, infer, smoothing: session?.smoothing ?? 0, fresh: !valid });
      d.eventRecord(this.#stop, stream);
      if (session && infer) seg.enqueueMaskDownload();
      d.memcpyDtoHAsync(dstPtr, dst, bytes, stream);
      d.eventRecord(this.#done, stream);
      d.eventSynchronize(this.#done);
      this.lastKernelSeconds = d.eventElapsedMs(this.#start, this.#stop) / 1000;
      if (session && infer) {
        session.mask.set(seg.hostMask());
        session.markValid();
      }
      ok = true;
    } finally {
      this.#settle(ok, held);
    }
  }

  /**
   * A live session's mask job: the network on one pinned frame, the session's mask updated on the
   * device and written back; no output frame.
   */
  updateMask(layout: FrameLayout, srcPtr: number, session: Omit<DeviceMaskSession, 'infer'>): void {
    if (this.#closed) throw new Error('the CUDA kernels are closed');
    const bytes = checkLayout(layout);
    this.#frames.check(srcPtr, bytes);
    const d = this.#driver;
    const stream = this.#stream;
    d.setCurrentContext(this.#context);
    const seg = this.#segmenterOnce();
    const src = this.#idleDevice.take(bytes) ?? d.memAlloc(bytes);
    let ok = false;
    try {
      d.memcpyHtoDAsync(src, srcPtr, bytes, stream);
      const valid = session.valid;
      if (valid) seg.enqueueMaskUpload(session.mask);
      d.eventRecord(this.#start, stream);
      seg.enqueueMaskUpdate(layout, src, session.smoothing, !valid);
      d.eventRecord(this.#stop, stream);
      seg.enqueueMaskDownload();
      d.eventRecord(this.#done, stream);
      d.eventSynchronize(this.#done);
      this.lastKernelSeconds = d.eventElapsedMs(this.#start, this.#stop) / 1000;
      session.mask.set(seg.hostMask());
      session.markValid();
      ok = true;
    } finally {
      this.#settle(ok, [[src, bytes]]);
    }
  }

  #segmenterOnce(): CudaSegmenter {
    const spec = SELFIE_MODEL;
    this.#segmenter ??= new CudaSegmenter(this.#driver, this.#context, this.#stream, loadGraphModelFile(packagePath(spec.graphPath)), {
      scale: spec.inputScale,
      offset: spec.inputOffset,
    });
    return this.#segmenter;
  }

  /** Gives every buffer, the stream, events, module and context back to the driver. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    const d = this.#driver;
    const steps: Array<() => void> = [
      () => d.setCurrentContext(this.#context),
      () => this.#segmenter?.close(),
      () => this.#idleDevice.drain(),
      () => this.#frames.drainIdle(),
      () => this.#frames.freeLive(),
      ...this.#resources.reverse(),
    ];
    // Best effort: after a sticky error every call fails, and the rest should still be tried.
    for (const step of steps) {
      try {
        step();
      } catch {
        // nothing more to do for this resource
      }
    }
  }

  get device(): number {
    return this.#device;
  }
}
