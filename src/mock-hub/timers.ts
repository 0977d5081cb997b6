// Every timer of the mock hub goes through one Timers registry, so that MockHub.close() can clear
// them all and vitest exits cleanly. After close() nothing new is scheduled.

export interface TimerHandle {
  cancel(): void;
}

export class Timers {
  readonly #live = new Set<NodeJS.Timeout>();
  #closed = false;

  get closed(): boolean {
    return this.#closed;
  }

  /** Runs `fn` once after `ms`; errors thrown by `fn` are passed to `onError`. */
  after(ms: number, fn: () => void | Promise<void>, onError?: (err: unknown) => void): TimerHandle {
    if (this.#closed) return { cancel: () => undefined };
    const t = setTimeout(() => {
      this.#live.delete(t);
      run(fn, onError);
    }, Math.max(0, ms));
    this.#live.add(t);
    return {
      cancel: () => {
        clearTimeout(t);
        this.#live.delete(t);
      },
    };
  }

  /** Runs `fn` every `ms` until cancelled or closed. */
  every(ms: number, fn: () => void | Promise<void>, onError?: (err: unknown) => void): TimerHandle {
    if (this.#closed) return { cancel: () => undefined };
    const t = setInterval(() => run(fn, onError), Math.max(1, ms));
    this.#live.add(t);
    return {
      cancel: () => {
        clearInterval(t);
        this.#live.delete(t);
      },
    };
  }

  get size(): number {
    return this.#live.size;
  }

  close(): void {
    this.#closed = true;
    for (const t of this.#live) clearTimeout(t);
    this.#live.clear();
  }
}

function run(fn: () => void | Promise<void>, onError?: (err: unknown) => void): void {
  try {
    const r = fn();
    if (r instanceof Promise) r.catch((err: unknown) => onError?.(err));
  } catch (err) {
    onError?.(err);
  }
}
