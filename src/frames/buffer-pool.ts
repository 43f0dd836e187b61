/**
 * Frame-sized shared buffers, reused across requests so the hot path allocates no frame memory.
 * SharedArrayBuffer lets a worker read and write the frame in place: nothing is copied or
 * transferred between threads. Idle buffers are kept up to `maxIdleBytes` in total.
 */
export class SharedBufferPool {
  readonly #free = new Map<number, SharedArrayBuffer[]>();
  readonly #maxIdleBytes: number;
  #idleBytes = 0;

  constructor(maxIdleBytes: number) {
    this.#maxIdleBytes = maxIdleBytes;
  }

  acquire(bytes: number): SharedArrayBuffer {
    const list = this.#free.get(bytes);
    const buf = list?.pop();
    if (buf) {
      this.#idleBytes -= bytes;
      return buf;
    }
    return new SharedArrayBuffer(bytes);
  }

  release(buf: SharedArrayBuffer): void {
    const bytes = buf.byteLength;
    if (this.#idleBytes + bytes > this.#maxIdleBytes) return;
    let list = this.#free.get(bytes);
    if (!list) {
      list = [];
      this.#free.set(bytes, list);
    }
    list.push(buf);
    this.#idleBytes += bytes;
  }

  get idleBytes(): number {
    return this.#idleBytes;
  }
}
