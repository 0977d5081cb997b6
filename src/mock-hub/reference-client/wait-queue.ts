// A buffered queue that consumers pull from with a predicate and a timeout: items nobody matched
// stay queued (in arrival order) for later calls. Part of the reference client (tests, demos,
// providers' CI — not the sidecar). No IO.

export class TimeoutError extends Error {
  override readonly name = 'TimeoutError';
}

interface Waiter<T> {
  match: (item: T) => boolean;
  resolve: (item: T) => void;
  reject: (err: Error) => void;
  timer: NodeJS.Timeout | undefined;
}

export class WaitQueue<T> {
  readonly #items: T[] = [];
  readonly #waiters: Array<Waiter<T>> = [];
  #ended: Error | undefined;

  /** Hands the item to the oldest waiter that matches it, else queues it. */
  push(item: T): void {
    const i = this.#waiters.findIndex((w) => w.match(item));
    if (i < 0) {
      this.#items.push(item);
      return;
    }
    const [w] = this.#waiters.splice(i, 1);
    if (w === undefined) return;
    if (w.timer !== undefined) clearTimeout(w.timer);
    w.resolve(item);
  }

  /**
   * The first queued item that matches, else the next one to arrive. Rejects with TimeoutError after
   * `timeoutMs` (Infinity waits for ever), or with the end error once the queue has ended and no
   * queued item matches.
   */
  next(match: (item: T) => boolean = () => true, timeoutMs = 5000, what = 'an item'): Promise<T> {
    const i = this.#items.findIndex(match);
    if (i >= 0) return Promise.resolve(this.#items.splice(i, 1)[0] as T);
    if (this.#ended !== undefined) return Promise.reject(this.#ended);
    return new Promise<T>((resolve, reject) => {
      const w: Waiter<T> = { match, resolve, reject, timer: undefined };
      if (Number.isFinite(timeoutMs)) {
        w.timer = setTimeout(() => {
          const at = this.#waiters.indexOf(w);
          if (at >= 0) this.#waiters.splice(at, 1);
          reject(new TimeoutError(`timed out after ${timeoutMs} ms waiting for ${what}`));
        }, timeoutMs);
      }
      this.#waiters.push(w);
    });
  }

  /** Items queued and not yet taken (a copy). */
  pending(): T[] {
    return [...this.#items];
  }

  /** No more items will come: current and future waiters without a queued match get `err`. */
  end(err: Error): void {
    if (this.#ended !== undefined) return;
    this.#ended = err;
    for (const w of this.#waiters.splice(0)) {
      if (w.timer !== undefined) clearTimeout(w.timer);
      w.reject(err);
    }
  }

  get ended(): boolean {
    return this.#ended !== undefined;
  }
}
