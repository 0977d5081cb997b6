// What the hub carries (spec 11 `features`), kept for the outbound downgrade policy: one JSON value
// per deployment in Redis (`${prefix}:hub-features`, a HubFeatures of src/policy/features-cache.ts),
// shared by the replicas, and an in-memory copy of it that the policy reads for every message
// without a round trip. The copy is read from Redis again at most every `refreshMs` (5 s; the
// first read of the process is awaited, later ones run behind the messages), and this process's own
// learning (a `features` answer, a 406) goes into it at once.
//
// The hub is asked when one of this process's sessions opens and the value is absent or older than
// `maxAgeMs` (10 min), and, since a session may stay open for weeks, by a check every `maxAgeMs / 4`
// through one of the sessions open here (`start`) when it has grown stale: one ask at a time per process; a failed ask is logged and ignored (the spec's
// defaults, or the older answer, stay) and not repeated for a minute. Writes are a compare-and-set
// on the JSON read (retried on a race): two replicas writing at once are merged (mergeFeatures), a
// 406 is added to whatever is stored (withRefused). Our own limits (`limits.max_media_bytes`) are
// applied to every view (withLimits), whichever replica wrote it.
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { featuresFromAnswer, isStale, mergeFeatures, SPEC_FEATURES, withLimits, withRefused, type HubFeatures } from '../policy/index.ts';
import type { IqResultPayload, MediaKind } from '../protocol/index.ts';
import { RedisScript } from '../redis-script.ts';
import { HubSessionError, type HubConnection } from './connection.ts';

// KEYS: the value; ARGV: the JSON read ('' for absent; a written value is never empty), the new JSON.
const SET_IF_UNCHANGED = new RedisScript(`local cur = redis.call('get', KEYS[1])
if (cur or '') ~= ARGV[1] then return 0 end
redis.call('set', KEYS[1], ARGV[2])
return 1`);

/** How often the in-memory copy is read from Redis again. */
export const FEATURES_REFRESH_MS = 5_000;
/** Age of an answer after which a session opening asks the hub again (docs/downgrade-policy.md). */
export const FEATURES_MAX_AGE_MS = 10 * 60_000;
/** After a failed ask, sessions opening do not ask again for this long. */
const ASK_RETRY_MS = 60_000;
/** Compare-and-set rounds before a write gives up (each lost round means another replica wrote). */
const CAS_TRIES = 8;

export interface HubFeaturesStoreOptions {
  redis: Redis;
  prefix: string;
  /** Config `limits.max_media_bytes`. */
  limits?: Readonly<Partial<Record<MediaKind, number>>>;
  logger: Logger;
  refreshMs?: number;
  maxAgeMs?: number;
  /** Clock time in ms (answers and 406s are compared across replicas by it). */
  now?: () => number;
}

export class HubFeaturesStore {
  readonly key: string;
  readonly #o: HubFeaturesStoreOptions;
  readonly #limits: Readonly<Partial<Record<MediaKind, number>>>;
  readonly #now: () => number;
  #view: HubFeatures;
  /** When the copy was last read from (or written to) Redis; never yet: -Infinity. */
  #readAt = -Infinity;
  #reading: Promise<HubFeatures> | undefined;
  #asking: Promise<void> | undefined;
  #askAfter = 0;
  #closed = false;
  #checker: NodeJS.Timeout | undefined;

  constructor(o: HubFeaturesStoreOptions) {
    this.#o = o;
    this.key = `${o.prefix}:hub-features`;
    this.#limits = o.limits ?? {};
    this.#now = o.now ?? Date.now;
    this.#view = withLimits(SPEC_FEATURES, this.#limits);
  }

  /** The view the policy decides from: the in-memory copy, refreshed from Redis as said above. */
  async view(): Promise<HubFeatures> {
    if (this.#now() - this.#readAt >= (this.#o.refreshMs ?? FEATURES_REFRESH_MS)) {
      const reading = this.#refresh();
      if (this.#readAt === -Infinity) return reading;
    }
    return this.#view;
  }

  /** Whether an ask of the hub is in flight (for tests and shutdown). */
  get asking(): Promise<void> | undefined {
    return this.#asking;
  }

  /**
   * A 406 `unsupported-in-interop` naming `name` (spec 4): taken into the copy at once and added to
   * the stored value. Resolves with the view that includes it; a failed write is logged only.
   */
  async refused(name: string): Promise<HubFeatures> {
    const at = this.#now();
    this.#view = withRefused(this.#view, name, at);
    this.#o.logger.info({ feature: name }, 'hub refused a kind (406): later messages are downgraded before sending');
    try {
      await this.#update((cur) => withRefused(cur ?? this.#view, name, at));
    } catch (err) {
      this.#failed(err, 'could not store a refused kind');
    }
    return this.#view;
  }

  /**
   * A hub session opened (the session manager's `onOpened`): asks the hub `features` when what is
   * known is absent or stale. Never throws; one ask at a time.
   */
  opened(conn: HubConnection): void {
    if (this.#closed || this.#asking !== undefined || this.#now() < this.#askAfter) return;
    // The copy is fresh: nothing to ask, and no Redis call either.
    if (!this.#isStale(this.#view)) return;
    this.#asking = this.#ask(conn)
      .catch((err: unknown) => this.#failed(err, 'hub features not learned'))
      .finally(() => {
        this.#asking = undefined;
      });
  }

  /**
   * Starts the periodic check (Core.start): every `maxAgeMs / 4`, when the answer is absent or
   * stale and this process has a session open, the hub is asked through it (as `opened` does).
   * The copy is refreshed from Redis first, so that replicas do not all ask.
   */
  start(openSessions: () => readonly HubConnection[]): void {
    if (this.#checker !== undefined || this.#closed) return;
    const every = Math.max(1000, (this.#o.maxAgeMs ?? FEATURES_MAX_AGE_MS) / 4);
    this.#checker = setInterval(() => {
      const conn = openSessions()[0];
      if (conn !== undefined) this.opened(conn);
    }, every);
    this.#checker.unref();
  }

  /** No asks or writes after this (the process is stopping). */
  close(): void {
    this.#closed = true;
    clearInterval(this.#checker);
    this.#checker = undefined;
  }

  async #ask(conn: HubConnection): Promise<void> {
    // Another replica may have asked since the copy was read.
    if (!this.#isStale(await this.#refresh())) return;
    let answer: Extract<IqResultPayload, { op: 'features' }>;
    try {
      const r = await conn.iq({ xmlns: 'features', op: 'features' }, 'get');
      if (r.op !== 'features') throw new Error(`the hub answered features with ${r.op}`);
      answer = r;
    } catch (err) {
      // A session closing under the ask is not the hub's answer: the next session asks again.
      if (!(err instanceof HubSessionError)) this.#askAfter = this.#now() + ASK_RETRY_MS;
      this.#o.logger.warn({ err: (err as Error).message }, 'hub did not answer features: the spec defaults (or the older answer) stay');
      return;
    }
    if (this.#closed) return;
    const at = this.#now();
    const fresh = withLimits(featuresFromAnswer(answer, at, this.#view), this.#limits);
    this.#view = this.#merged(fresh);
    this.#o.logger.info({ unsupported: fresh.unsupported, kinds: Object.keys(fresh.kinds) }, 'hub features learned');
    try {
      await this.#update((cur) => (cur === undefined ? fresh : mergeFeatures(cur, fresh)));
    } catch (err) {
      this.#failed(err, 'could not store the hub features');
    }
  }

  #isStale(f: HubFeatures): boolean {
    return isStale(f, this.#now(), this.#o.maxAgeMs ?? FEATURES_MAX_AGE_MS);
  }

  /** Reads the stored value into the copy (one read at a time); a failed read keeps the copy. */
  #refresh(): Promise<HubFeatures> {
    this.#reading ??= (async () => {
      try {
        const raw = await this.#o.redis.get(this.key);
        const stored = raw === null ? undefined : this.#parse(raw);
        if (stored !== undefined) this.#view = this.#merged(stored);
      } catch (err) {
        this.#failed(err, 'could not read the hub features');
      } finally {
        this.#readAt = this.#now();
        this.#reading = undefined;
      }
      return this.#view;
    })();
    return this.#reading;
  }

  /** `f` merged with the copy: the newer answer, and the 406s of both learned after it. */
  #merged(f: HubFeatures): HubFeatures {
    return withLimits(mergeFeatures(f, this.#view), this.#limits);
  }

  /** Compare-and-set of the stored value, retried when another replica wrote in between. */
  async #update(change: (cur: HubFeatures | undefined) => HubFeatures): Promise<void> {
    if (this.#closed) return;
    for (let i = 0; i < CAS_TRIES; i++) {
      const raw = await this.#o.redis.get(this.key);
      const next = withLimits(change(raw === null ? undefined : this.#parse(raw)), this.#limits);
      const json = JSON.stringify(next);
      if (json === raw || (await SET_IF_UNCHANGED.run(this.#o.redis, [this.key], [raw ?? '', json])) === 1) {
        this.#view = this.#merged(next);
        this.#readAt = this.#now();
        return;
      }
    }
    throw new Error(`${CAS_TRIES} concurrent writes in a row`);
  }

  /** The stored JSON, if it is a HubFeatures; anything else counts as absent (and is overwritten). */
  #parse(raw: string): HubFeatures | undefined {
    try {
      const v = JSON.parse(raw) as Partial<HubFeatures> | null;
      const isRecord = (x: unknown): x is Record<string, unknown> => typeof x === 'object' && x !== null && !Array.isArray(x);
      if (
        isRecord(v) && isRecord(v.kinds) && Array.isArray(v.unsupported) && v.unsupported.every((n) => typeof n === 'string') &&
        isRecord(v.refused) && Object.values(v.refused).every((t) => typeof t === 'number') &&
        (v.source === 'spec' || v.source === 'hub') && (v.learnedAt === undefined || typeof v.learnedAt === 'number')
      ) {
        return v as HubFeatures;
      }
    } catch {
      // not JSON
    }
    this.#o.logger.warn({ key: this.key }, 'stored hub features are not readable: ignored');
    return undefined;
  }

  #failed(err: unknown, what: string): void {
    const e = { err: (err as Error).message };
    if (this.#closed) this.#o.logger.debug(e, what);
    else this.#o.logger.warn(e, what);
  }
}
