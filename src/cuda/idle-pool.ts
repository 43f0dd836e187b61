/**
 * Idle buffers by exact size, least recently released first out when over budget. `dispose`
 * gives a buffer back to the driver.
 */
export class IdlePool<T> {
  readonly #bySize = new Map<number, T[]>();
  /** Release order, for eviction. */
  #order: Array<{ size: number; item: T }> = [];
  #idleBytes = 0;

  readonly #maxIdleBytes: number;
  readonly #dispose: (item: T, size: number) => void;

  constructor(maxIdleBytes: number, dispose: (item: T, size: number) => void) {
    this.#maxIdleBytes = maxIdleBytes;
    this.#dispose = dispose;
  }

  take(size: number): T | undefined {
    const list = this.#bySize.get(size);
    const item = list?.pop();
    if (item === undefined) return undefined;
    this.#idleBytes -= size;
    const at = this.#order.findIndex((e) => e.item === item);
    if (at >= 0) this.#order.splice(at, 1);
    return item;
  }

  put(size: number, item: T): void {
    const list = this.#bySize.get(size);
    if (list) list.push(item);
    else this.#bySize.set(size, [item]);
    this.#order.push({ size, item });
    this.#idleBytes += size;
    while (this.#idleBytes > this.#maxIdleBytes && this.#order.length > 0) {
      const oldest = this.#order.shift()!;
      const same = this.#bySize.get(oldest.size)!;
      same.splice(same.indexOf(oldest.item), 1);
      this.#idleBytes -= oldest.size;
      this.#dispose(oldest.item, oldest.size);
    }
  }

  drain(): void {
    for (const { size, item } of this.#order) this.#dispose(item, size);
    this.#order = [];
    this.#bySize.clear();
    this.#idleBytes = 0;
  }
}
