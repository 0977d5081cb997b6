// What a caller folds into one Signal unit of work (signal-unit.ts) besides libsignal's own records:
// a guard that ACQUIRE reads before the lock, and writes that COMMIT applies with the session, in
// one script, so that a caller's record and the ratchet step that produced it are written together
// or not at all.

/** A hash field read by ACQUIRE before the lock: once set, the unit is skipped (see SignalUnit.guarded). */
export interface UnitGuard {
  key: string;
  field: string;
}

/**
 * Writes of the caller's own that COMMIT applies with libsignal's, atomically and only while the
 * lock still holds (else LockLostError and nothing at all is written). Values are written as given:
 * seal anything secret first. Keys should share the user's hash tag where a cluster is used.
 */
export interface UnitWrites {
  /**
   * HSET of `fields` on `key`, then EXPIRE `ttlS` (≥ 1) when given. With `nx`, each field is set
   * only if absent (HSETNX): a value another holder stored first stays (the EXPIRE still applies).
   */
  hashes?: Array<{ key: string; fields: Record<string, string | Buffer>; ttlS?: number; nx?: boolean }>;
  /** ZADD of `member` with `score` to the sorted set `key`. */
  zadds?: Array<{ key: string; score: number; member: string }>;
  /**
   * Called once COMMIT applied these writes (never when it wrote nothing), with the fields of their
   * `nx` hash writes that were already set and so kept their value; empty when all were written.
   * Read from COMMIT's reply: no round trip of its own. Must not throw (the locks are gone by then).
   */
  committed?: (kept: KeptField[]) => void;
}

/** A field of an `nx` hash write that COMMIT found set: another value stayed in it. */
export interface KeptField {
  key: string;
  field: string;
}

/**
 * Staged writes encoded as COMMIT's extra KEYS and ARGV (sorted sets first, see COMMIT), checked
 * when staged so that neither the script nor the release can fail on them.
 */
export class Staged {
  readonly #z = { keys: [] as string[], args: [] as Array<string | Buffer> };
  readonly #h = { keys: [] as string[], args: [] as Array<string | Buffer> };
  /** Each `nx` field in the order COMMIT answers for them, with the `committed` of its writes. */
  readonly #nx: Array<KeptField & { of: number }> = [];
  readonly #committed: Array<UnitWrites['committed']> = [];

  add(w: UnitWrites): void {
    for (const z of w.zadds ?? []) {
      if (!Number.isFinite(z.score)) throw new RangeError(`staged ZADD on ${z.key}: score ${z.score} is not a finite number`);
    }
    for (const h of w.hashes ?? []) {
      if (Object.keys(h.fields).length === 0) throw new RangeError(`staged HSET on ${h.key} has no fields`);
      if (h.ttlS !== undefined && (!Number.isSafeInteger(h.ttlS) || h.ttlS < 1)) {
        throw new RangeError(`staged HSET on ${h.key}: TTL ${h.ttlS} is not a positive whole number of seconds`);
      }
    }
    for (const z of w.zadds ?? []) {
      this.#z.keys.push(z.key);
      this.#z.args.push('z', String(z.score), z.member);
    }
    const of = this.#committed.push(w.committed) - 1;
    for (const h of w.hashes ?? []) {
      const pairs = Object.entries(h.fields);
      this.#h.keys.push(h.key);
      this.#h.args.push(h.nx ? 'n' : 'h', String(pairs.length), String(h.ttlS ?? 0), ...pairs.flat());
      if (h.nx) for (const [field] of pairs) this.#nx.push({ key: h.key, field, of });
    }
  }

  /** COMMIT applied the writes; `set`: its reply, 1 per `nx` field written, 0 per one kept. */
  committed(set: number[]): void {
    this.#committed.forEach((f, i) => f?.(this.#nx.filter((x, j) => x.of === i && set[j] === 0).map(({ key, field }) => ({ key, field }))));
  }

  get keys(): string[] {
    return [...this.#z.keys, ...this.#h.keys];
  }

  get args(): Array<string | Buffer> {
    return [...this.#z.args, ...this.#h.args];
  }
}
