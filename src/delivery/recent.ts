// A small in-process memory of values read from Redis that rarely change and are read for every
// message (opt-in flag, safety-number hold, which adapter serves a user, device lists). Each entry
// lives `ttlMs`; writers through this process update or forget it at once; other replicas see a
// change within `ttlMs`. Bounded: the oldest entries go first beyond `max`.
export class Recent<V> {
  readonly #ttlMs: number;
  readonly #max: number;
  readonly #entries = new Map<string, { value: V; until: number }>();
  /** Bumped by every write through this process: a load that started before it is not kept. */
  #generation = 0;

  constructor(ttlMs: number, max = 50_000) {
    this.#ttlMs = ttlMs;
    this.#max = max;
  }

  async get(key: string, load: () => Promise<V>): Promise<V> {
    const e = this.#entries.get(key);
    if (e && e.until > Date.now()) return e.value;
    const generation = this.#generation;
    const value = await load();
    if (generation === this.#generation) this.#put(key, value);
    return value;
  }

  set(key: string, value: V): void {
    this.#generation++;
    this.#put(key, value);
  }

  #put(key: string, value: V): void {
    this.#entries.delete(key);
    this.#entries.set(key, { value, until: Date.now() + this.#ttlMs });
    if (this.#entries.size > this.#max) this.#entries.delete(this.#entries.keys().next().value as string);
  }

  forget(key: string): void {
    this.#generation++;
    this.#entries.delete(key);
  }
}
