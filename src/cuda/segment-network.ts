/**
 * The network of graph.ts on the device: its weights uploaded once into one buffer, its tensors in
 * the buffers segment-plan.ts assigns by liveness (a frame allocates nothing), each layer queued
 * as one kernel of segment.cu on its owner's stream.
 */
import { elements, type GraphModel, type GraphOp } from '../segmentation/graph.ts';
import type { CuDevicePtr } from './driver.ts';
import { OP_KERNELS, writeOpArgs, type SegmentKernelName } from './segment-args.ts';
import { F32, planTensors, planWeights } from './segment-plan.ts';

/** What the network asks of its owner (CudaSegmenter): memory, one upload, launches. */
export interface NetworkDevice {
  /** Device memory the owner keeps and frees. */
  alloc(bytes: number): CuDevicePtr;
  /** Fills `bytes` of floats on the host and copies them to `device`, waiting for the copy. */
  upload(device: CuDevicePtr, bytes: number, fill: (floats: Float32Array) => void): void;
  /** The launch arguments, written before each launch. */
  readonly args: DataView;
  /** Queues `name` over `total` elements with the arguments as written. */
  launch(name: SegmentKernelName, total: number): void;
}

export interface NetworkStats {
  readonly weightBytes: number;
  readonly tensorBytes: number;
  readonly tensorBuffers: number;
}

interface OpWeights {
  readonly filter: CuDevicePtr;
  readonly bias: CuDevicePtr;
}

export class DeviceNetwork {
  readonly model: GraphModel;
  readonly stats: NetworkStats;
  readonly #device: NetworkDevice;
  readonly #weights: OpWeights[];
  /** Device address of each tensor's buffer. */
  readonly #tensor: CuDevicePtr[];

  constructor(model: GraphModel, device: NetworkDevice) {
    this.model = model;
    this.#device = device;
    const weights = this.#uploadWeights();
    this.#weights = weights.ops;
    const tensors = this.#assignTensors();
    this.#tensor = tensors.pointers;
    this.stats = { weightBytes: weights.bytes, tensorBytes: tensors.bytes, tensorBuffers: tensors.buffers };
  }

  /** The model input's buffer (NHWC floats). */
  get input(): CuDevicePtr {
    return this.#tensor[0]!;
  }

  /** The output's buffer (the person probability), written by enqueue(). */
  get output(): CuDevicePtr {
    return this.#tensor[this.model.output]!;
  }

  /** Queues every layer on what the input buffer holds. */
  enqueue(): void {
    this.model.ops.forEach((op, i) => this.#launchOp(op, i));
  }

  /** All filters and biases in one buffer, one copy. */
  #uploadWeights(): { ops: OpWeights[]; bytes: number } {
    const { totalBytes, at } = planWeights(this.model);
    const none = { filter: 0n, bias: 0n };
    if (totalBytes === 0) return { ops: this.model.ops.map(() => none), bytes: 0 };
    const device = this.#device.alloc(totalBytes);
    this.#device.upload(device, totalBytes, (floats) => {
      this.model.ops.forEach((op, i) => {
        const offsets = at[i];
        if (!offsets || !('filter' in op)) return;
        floats.set(op.filter, offsets.filter / F32);
        floats.set(op.bias, offsets.bias / F32);
      });
    });
    const ops = at.map((offsets) => (offsets ? { filter: device + BigInt(offsets.filter), bias: device + BigInt(offsets.bias) } : none));
    return { ops, bytes: totalBytes };
  }

  #assignTensors(): { pointers: CuDevicePtr[]; bytes: number; buffers: number } {
    const { bufferBytes, bufferOf } = planTensors(this.model);
    const buffers = bufferBytes.map((bytes) => this.#device.alloc(bytes));
    return {
      pointers: bufferOf.map((s) => (s >= 0 ? buffers[s]! : 0n)),
      bytes: bufferBytes.reduce((a, b) => a + b, 0),
      buffers: bufferBytes.length,
    };
  }

  #launchOp(op: GraphOp, index: number): void {
    const binary = op.kind === 'add' || op.kind === 'mul';
    const w = this.#weights[index]!;
    writeOpArgs(this.#device.args, op, this.model.tensors, {
      input: this.#tensor[binary ? op.a : op.input]!,
      input2: binary ? this.#tensor[op.b]! : 0n,
      filter: w.filter,
      bias: w.bias,
      output: this.#tensor[op.output]!,
    });
    this.#device.launch(OP_KERNELS[op.kind], elements(this.model.tensors[op.output]!));
  }
}
