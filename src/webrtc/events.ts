/** Events named in a map type; a listener that throws is reported and never reaches the emitter. */
export type EventMap = Record<string, unknown[]>;

type Listener<A extends unknown[]> = (...args: A) => void;

export type ListenerErrorHandler = (err: unknown, event: string) => void;

export class SafeEmitter<E extends EventMap> {
  readonly #listeners = new Map<keyof E, Set<Listener<unknown[]>>>();
  readonly #onListenerError: ListenerErrorHandler;

  constructor(onListenerError: ListenerErrorHandler) {
    this.#onListenerError = onListenerError;
  }

  on<K extends keyof E>(event: K, listener: Listener<E[K]>): this {
    let set = this.#listeners.get(event);
    if (!set) this.#listeners.set(event, (set = new Set()));
    set.add(listener as unknown as Listener<unknown[]>);
    return this;
  }

  off<K extends keyof E>(event: K, listener: Listener<E[K]>): this {
    this.#listeners.get(event)?.delete(listener as unknown as Listener<unknown[]>);
    return this;
  }

  removeAllListeners(): void {
    this.#listeners.clear();
  }

  protected safeEmit<K extends keyof E>(event: K, ...args: E[K]): void {
    const set = this.#listeners.get(event);
    if (!set) return;
    for (const listener of [...set]) {
      try {
        listener(...args);
      } catch (err) {
        this.#onListenerError(err, String(event));
      }
    }
  }
}
