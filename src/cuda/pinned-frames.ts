/**
 * The CUDA backend's frames: page-locked host blocks (cuMemHostAlloc) that the caller fills and
 * reads through views without a copy, addressed by their host address, and that the device copies
 * at full speed. Freed blocks are kept per size for reuse within a small idle budget: page-locked
 * memory is RAM the kernel cannot page out.
 */
import type { FrameMemory } from '../effects/kernel-types.ts';
import type { CuContext, CudaDriver, CuHostPointer } from './driver.ts';
import { IdlePool } from './idle-pool.ts';

const PAGE_BYTES = 4096;

const roundToPage = (bytes: number) => Math.ceil(Math.max(bytes, 1) / PAGE_BYTES) * PAGE_BYTES;

interface HostBlock {
  readonly pointer: CuHostPointer;
  readonly address: number;
  readonly capacity: number;
  readonly buffer: ArrayBuffer;
}

export class PinnedFrames implements FrameMemory {
  readonly #driver: CudaDriver;
  readonly #context: CuContext;
  readonly #live = new Map<number, HostBlock>();
  readonly #idle: IdlePool<HostBlock>;

  constructor(driver: CudaDriver, context: CuContext, maxIdleBytes: number) {
    this.#driver = driver;
    this.#context = context;
    this.#idle = new IdlePool<HostBlock>(maxIdleBytes, (block) => driver.memFreeHost(block.pointer));
  }

  alloc(bytes: number): number {
    if (!Number.isSafeInteger(bytes) || bytes < 0) throw new RangeError(`alloc: invalid size ${bytes}`);
    const capacity = roundToPage(bytes);
    let block = this.#idle.take(capacity);
    if (!block) {
      this.#driver.setCurrentContext(this.#context);
      const { pointer, address } = this.#driver.memHostAlloc(capacity);
      block = { pointer, address, capacity, buffer: this.#driver.hostView(pointer, capacity) };
    }
    this.#live.set(block.address, block);
    return block.address;
  }

  free(ptr: number, bytes: number): void {
    const block = this.#live.get(ptr);
    if (!block || roundToPage(bytes) !== block.capacity) throw new RangeError(`free: ${ptr} (+${bytes}) was not allocated here`);
    this.#live.delete(ptr);
    this.#idle.put(block.capacity, block);
  }

  view(ptr: number, bytes: number): Uint8Array {
    const block = this.#blockOf(ptr, bytes);
    return new Uint8Array(block.buffer, ptr - block.address, bytes);
  }

  /** Throws a RangeError unless [ptr, ptr + bytes) lies in one live block. */
  check(ptr: number, bytes: number): void {
    this.#blockOf(ptr, bytes);
  }

  #blockOf(ptr: number, bytes: number): HostBlock {
    const exact = this.#live.get(ptr);
    if (exact && bytes <= exact.capacity) return exact;
    for (const block of this.#live.values()) {
      if (ptr >= block.address && ptr + bytes <= block.address + block.capacity) return block;
    }
    throw new RangeError(`frame at ${ptr} (+${bytes}) lies outside the kernels' memory`);
  }

  /** Gives the idle blocks back to the driver. */
  drainIdle(): void {
    this.#idle.drain();
  }

  /** Gives the blocks still in use back to the driver (at close). */
  freeLive(): void {
    for (const block of this.#live.values()) this.#driver.memFreeHost(block.pointer);
    this.#live.clear();
  }
}
