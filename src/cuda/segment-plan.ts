/**
 * Where the network's data lives on the device, planned once per model: its weights packed in one
 * buffer, and its tensors in a few buffers reused by liveness, so that a frame allocates nothing.
 */
import { elements, opInputs, type GraphModel } from '../segmentation/graph.ts';

const ALIGN_BYTES = 256;
export const F32 = 4;

export const alignUp = (n: number): number => Math.ceil(n / ALIGN_BYTES) * ALIGN_BYTES;

/** Byte offsets of each layer's filter and bias in the weights buffer (undefined: a layer without weights). */
export interface WeightsPlan {
  readonly totalBytes: number;
  readonly at: ReadonlyArray<{ readonly filter: number; readonly bias: number } | undefined>;
}

/** All filters and biases in one buffer, each 256-byte aligned, in the order of the layers. */
export function planWeights(model: GraphModel): WeightsPlan {
  let totalBytes = 0;
  const at = model.ops.map((op) => {
    if (!('filter' in op)) return undefined;
    const filter = totalBytes;
    totalBytes += alignUp(op.filter.byteLength);
    const bias = totalBytes;
    totalBytes += alignUp(op.bias.byteLength);
    return { filter, bias };
  });
  return { totalBytes, at };
}

/** The tensors' buffers: their sizes, and which one each tensor uses (-1: a tensor no layer writes). */
export interface TensorPlan {
  readonly bufferBytes: readonly number[];
  readonly bufferOf: readonly number[];
}

/** One buffer per live tensor at a time: a buffer is free again after its tensor's last reader. */
export function planTensors(model: GraphModel): TensorPlan {
  const { tensors, ops, output } = model;
  const lastUse = new Array<number>(tensors.length).fill(-1);
  ops.forEach((op, i) => {
    for (const t of opInputs(op)) lastUse[t] = i;
  });
  lastUse[output] = Number.POSITIVE_INFINITY;
  const bufferBytes: number[] = [];
  const free: number[] = [];
  const bufferOf = new Array<number>(tensors.length).fill(-1);
  const take = (bytes: number): number => {
    let best = -1;
    for (const s of free) if (bufferBytes[s]! >= bytes && (best < 0 || bufferBytes[s]! < bufferBytes[best]!)) best = s;
    if (best >= 0) {
      free.splice(free.indexOf(best), 1);
      return best;
    }
    bufferBytes.push(bytes);
    return bufferBytes.length - 1;
  };
  bufferOf[0] = take(elements(tensors[0]!) * F32);
  ops.forEach((op, i) => {
    bufferOf[op.output] = take(elements(tensors[op.output]!) * F32);
    for (const t of new Set(opInputs(op))) if (lastUse[t] === i) free.push(bufferOf[t]!);
  });
  return { bufferBytes, bufferOf };
}
