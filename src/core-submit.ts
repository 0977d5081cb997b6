// The core's outbound messages on their way to the outbox (Core.submit, submitMany): checked,
// downgraded per policy (spec 11), their attachment hosted once, written with their idempotency
// claim and their lane set going; and the same policy applied again when the hub refuses a
// message with 406 (spec 4), from the adapter's message the record keeps for it. Split from core.ts.
import type { Redis } from 'ioredis';
import type { MessageStatus, OutboundMessage, SubmitOutcome } from '../adapters/contract.ts';
import type { PolicyConfig } from './config/policy-schema.ts';
import type { FinalOutcome, OutboundRecord, Outbox, StoredMediaRef, Submitted } from './delivery/outbox.ts';
import { downgradeAfter406, downgradeOutbound, type HubFeatures } from './policy/index.ts';
import { parseAddress } from './protocol/index.ts';
import { RedisScript } from './redis-script.ts';
import { RateLimitError, SubmitError } from './submit-error.ts';

/** The adapter's message as kept for the 406 path: file bytes are hosted already, not kept twice. */
function withoutFileBytes(m: OutboundMessage): OutboundMessage {
  if (m.media?.data === undefined) return m;
  const { data: _data, ...media } = m.media;
  return { ...m, media };
}

// A fixed window per provider user: the first message starts it (PEXPIRE, also on a key somehow
// left without a TTL) and it lasts per_seconds on Redis's clock, so every replica counts into the
// same window. INCRBY takes a whole batch's messages of one user at once; refused ones are counted
// too, which only matters within the window that refused them.
const RATE_WINDOW = new RedisScript(`
local n = redis.call('INCRBY', KEYS[1], ARGV[1])
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  ttl = tonumber(ARGV[2])
end
return {n, ttl}
`);

/** `limits.outbound_rate_per_user`, counted in Redis (shared by the replicas). */
export class OutboundRateLimit {
  readonly #redis: Redis;
  readonly #prefix: string;
  readonly max: number;
  readonly perSeconds: number;

  constructor(redis: Redis, prefix: string, limit: { max_messages: number; per_seconds: number }) {
    this.#redis = redis;
    this.#prefix = prefix;
    this.max = limit.max_messages;
    this.perSeconds = limit.per_seconds;
  }

  /** Under the user's hash tag, as the user's other keys. */
  key(user: string): string {
    return `${this.#prefix}:rate:{${user}}`;
  }

  /** Counts `n` messages of `user`: how many of them (the first ones) are within the limit, and when the window ends. */
  async take(user: string, n: number): Promise<{ allowed: number; retryAfterS: number }> {
    const [count, ttlMs] = (await RATE_WINDOW.run(this.#redis, [this.key(user)], [n, this.perSeconds * 1000])) as [number, number];
    const before = count - n;
    return { allowed: Math.max(0, Math.min(n, this.max - before)), retryAfterS: Math.max(1, Math.ceil(ttlMs / 1000)) };
  }
}

/** A message that passed the checks: the sender's hub address (a repeat is answered before counting). */
type Checked = { kind: 'checked'; m: OutboundMessage; user: string } | { kind: 'repeat'; messageId: string };

/** What `#prepare` makes of a message: a record to write, or a repeat already known (media messages). */
type Prepared =
  | { kind: 'write'; m: OutboundMessage; user: string; record: Omit<OutboundRecord, 'id' | 't'>; final?: FinalOutcome }
  | { kind: 'repeat'; messageId: string };

/** Messages of one `submitMany` prepared at once: opt-in reads and media fetches overlap, within bounds. */
const PREPARE_CONCURRENCY = 8;

/** `f` over `items` with at most `limit` calls running; results in the items' order. */
async function mapLimit<T, R>(items: ReadonlyArray<T>, limit: number, f: (item: T) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    for (let i = next++; i < items.length; i = next++) out[i] = await f(items[i] as T);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}

/** What the core lends: its parts are reached through callbacks, so this module never imports core.ts. */
export interface CoreSubmitOptions {
  outbox: Outbox;
  maxTextBytes: number;
  /** The downgrade rules (config `policy`). */
  policy: PolicyConfig;
  /** Core.userAddress: a provider user's hub address; throws SubmitError for a bad local part. */
  userAddress: (local: string) => string;
  isEnabled: (user: string) => Promise<boolean>;
  /** Core.statuses: a repeat of an accepted key is found by it. */
  statuses: (adapterId: string, keyOrId: string) => Promise<MessageStatus[] | undefined>;
  /** Checks, encrypts and hosts an attachment (core-media.ts); throws SubmitError for bad media. */
  prepareMedia: (media: NonNullable<OutboundMessage['media']>) => Promise<StoredMediaRef>;
  /** Sets a lane going whose head the write made. */
  kick: (j: { user: string; peer: string; id: string }) => void;
  /**
   * Hands the policy's final failure, as stored and marked due by the write (Outbox#submit), to the
   * adapter at least once: OutboundDelivery#reportDue, which clears the mark once the adapter took
   * it (else a sweep reports it again).
   */
  onStatus: (s: MessageStatus) => void;
  /** `limits.outbound_rate_per_user`; no limit (and no Redis call) when unset. */
  rateLimit?: OutboundRateLimit;
  /**
   * What the hub carries (hub/features.ts HubFeaturesStore): read for each message (from memory),
   * and told of each 406's refused kind. The spec's defaults when unset.
   */
  hubFeatures?: { view(): Promise<HubFeatures>; refused(name: string): Promise<HubFeatures> };
}

export class CoreSubmit {
  readonly #o: CoreSubmitOptions;

  constructor(o: CoreSubmitOptions) {
    this.#o = o;
  }

  async submit(adapterId: string, m: OutboundMessage): Promise<{ messageId: string; duplicate: boolean }> {
    const c = await this.#check(adapterId, m);
    if (c.kind === 'repeat') return { messageId: c.messageId, duplicate: true };
    const rate = this.#o.rateLimit;
    if (rate) {
      const t = await rate.take(c.user, 1);
      if (t.allowed === 0) throw new RateLimitError(rate.max, rate.perSeconds, t.retryAfterS);
    }
    const p = await this.#prepare(adapterId, c);
    if (p.kind === 'repeat') return { messageId: p.messageId, duplicate: true };
    return this.#accepted(p, await this.#o.outbox.submit(p.record, p.final));
  }

  /**
   * Several messages in one call (the webhook adapter's batch endpoint): each is checked and
   * prepared as `submit` does, then every accepted one is written in a single Redis script, in the
   * given order (so one conversation's messages keep it). A message refused as the sender's error
   * (SubmitError: not opted in, bad media, over the rate limit…) is answered `refused` and nothing
   * of it is stored; the others go on. Any other failure rejects the call before anything is written.
   */
  async submitMany(adapterId: string, ms: ReadonlyArray<OutboundMessage>): Promise<SubmitOutcome[]> {
    const refusal = async <T>(f: () => Promise<T>): Promise<T | SubmitError> => {
      try {
        return await f();
      } catch (err) {
        if (err instanceof SubmitError) return err;
        throw err;
      }
    };
    const checked = await mapLimit(ms, PREPARE_CONCURRENCY, (m) => refusal(() => this.#check(adapterId, m)));
    const rated = await this.#takeMany(checked);
    const prepared = await mapLimit(rated, PREPARE_CONCURRENCY, (c): Promise<Prepared | SubmitError> =>
      c instanceof SubmitError || c.kind === 'repeat' ? Promise.resolve(c) : refusal(() => this.#prepare(adapterId, c)));
    const writes = prepared.filter((p): p is Extract<Prepared, { kind: 'write' }> => !(p instanceof SubmitError) && p.kind === 'write');
    const written = await this.#o.outbox.submitMany(writes.map((p) => ({ record: p.record, ...(p.final ? { final: p.final } : {}) })));
    const byWrite = new Map(writes.map((p, i) => [p, written[i] as Submitted]));
    return prepared.map((p): SubmitOutcome => {
      if (p instanceof SubmitError) return { refused: { field: p.field, message: p.message } };
      if (p.kind === 'repeat') return { messageId: p.messageId, duplicate: true };
      return this.#accepted(p, byWrite.get(p) as Submitted);
    });
  }

  /**
   * The rate limit over a batch: one count per user, and a user's first messages (in request
   * order) are the ones within it; the others are refused.
   */
  async #takeMany(checked: Array<Checked | SubmitError>): Promise<Array<Checked | SubmitError>> {
    const rate = this.#o.rateLimit;
    if (!rate) return checked;
    const byUser = new Map<string, number[]>();
    checked.forEach((c, i) => {
      if (c instanceof SubmitError || c.kind !== 'checked') return;
      const list = byUser.get(c.user);
      if (list) list.push(i);
      else byUser.set(c.user, [i]);
    });
    const out = [...checked];
    await Promise.all([...byUser].map(async ([user, idx]) => {
      const t = await rate.take(user, idx.length);
      for (const i of idx.slice(t.allowed)) out[i] = new RateLimitError(rate.max, rate.perSeconds, t.retryAfterS);
    }));
    return out;
  }

  /**
   * The checks that refuse a message as the sender's error before anything is counted or hosted.
   * With a rate limit, a repeat of an accepted key is answered here (as a duplicate, before the
   * count), so that resending an accepted message is never refused as over the limit.
   */
  async #check(adapterId: string, m: OutboundMessage): Promise<Checked> {
    let user: string;
    try {
      user = this.#o.userAddress(m.from);
    } catch {
      throw new SubmitError('from', 'must be a provider user id: 1–64 of [a-z0-9._=-]');
    }
    if (parseAddress(m.to)?.kind !== 'hub-user') throw new SubmitError('to', 'must be a hub user address such as 447700900123@hub');
    if (m.feature === undefined && m.media === undefined && (m.text === undefined || m.text.length === 0)) throw new SubmitError('text', 'is required');
    if (m.text !== undefined && Buffer.byteLength(m.text, 'utf8') > this.#o.maxTextBytes) throw new SubmitError('text', `is longer than ${this.#o.maxTextBytes} bytes`);
    if (!(await this.#o.isEnabled(user))) throw new SubmitError('from', 'has not opted in to third-party chats');
    if (this.#o.rateLimit) {
      const messageId = await this.#repeatOf(adapterId, m);
      if (messageId !== undefined) return { kind: 'repeat', messageId };
    }
    return { kind: 'checked', m, user };
  }

  /** The message id an accepted idempotency key names, if `m` repeats one (its status history). */
  async #repeatOf(adapterId: string, m: OutboundMessage): Promise<string | undefined> {
    const prior = await this.#o.statuses(adapterId, m.idempotencyKey);
    return prior?.[0]?.idempotencyKey === m.idempotencyKey ? prior[0].messageId : undefined;
  }

  /** Applies the policy and media pipeline to a checked message; throws SubmitError for the sender's errors. */
  async #prepare(adapterId: string, { m, user }: Extract<Checked, { kind: 'checked' }>): Promise<Prepared> {
    const base = { adapterId, idempotencyKey: m.idempotencyKey, user, peer: m.to, from: m.from };
    // The downgrade policy (spec 11): what the hub does not carry is converted, rejected or dropped.
    const hubFeatures = await this.#o.hubFeatures?.view();
    const d = downgradeOutbound(m, this.#o.policy, { self: user, ...(hubFeatures ? { hubFeatures } : {}) });
    if (d.kind !== 'send') {
      return { kind: 'write', m, user, record: { ...base, message: { idempotencyKey: m.idempotencyKey, from: m.from, to: m.to }, original: withoutFileBytes(m) }, final: { reason: d.reason, message: d.message } };
    }
    let media: StoredMediaRef | undefined;
    if (d.message.media !== undefined) {
      // A repeat of an accepted key must not encrypt and host the file again (#check looked already
      // when there is a rate limit).
      const messageId = this.#o.rateLimit ? undefined : await this.#repeatOf(adapterId, m);
      if (messageId !== undefined) return { kind: 'repeat', messageId };
      media = await this.#o.prepareMedia(d.message.media);
    }
    const { media: _media, ...message } = d.message;
    return {
      kind: 'write', m, user,
      record: {
        ...base,
        message,
        ...(m.feature ? { original: withoutFileBytes(m) } : {}),
        ...(d.fallbacks.length > 0 ? { fallbacks: d.fallbacks, downgraded: d.downgraded } : {}),
        ...(d.notice ? { notice: d.notice } : {}),
        ...(media ? { media } : {}),
      },
    };
  }

  /**
   * After the outbox write: the policy's final status is reported (the one stored, so that a sweep's
   * re-report is the same status), or the lane is set going.
   */
  #accepted(p: Extract<Prepared, { kind: 'write' }>, r: Submitted): { messageId: string; duplicate: boolean } {
    const { m, final } = p;
    if (final) {
      if (r.failed) this.#o.onStatus(r.failed);
    } else if (!r.duplicate && r.head) this.#o.kick({ user: p.user, peer: m.to, id: r.id });
    return { messageId: r.id, duplicate: r.duplicate };
  }

  /**
   * Spec 4's 406: downgrade per policy and send again once, else fail with the reason. The refused
   * kind (the ack's `<unsupported feature>`, else the media kind the stanza declared) is learned, so
   * that later messages of that kind are downgraded before they are sent.
   */
  async after406(r: OutboundRecord, feature: string | undefined): Promise<{ record: OutboundRecord } | { reason: string; message: string }> {
    const named = feature ?? r.media?.kind;
    const hubFeatures = named === undefined ? await this.#o.hubFeatures?.view() : await this.#o.hubFeatures?.refused(named);
    // What was refused, as the policy sees a message: the hosted file stands for its bytes.
    const hosted = r.media
      ? { media: { kind: r.media.kind, mime: r.media.mime, ...(r.media.filename !== undefined ? { filename: r.media.filename } : {}), ...(r.media.caption !== undefined ? { caption: r.media.caption } : {}) } }
      : {};
    const source: OutboundMessage = r.original ? { ...r.original, ...(r.original.media ? hosted : {}) } : { ...r.message, idempotencyKey: r.idempotencyKey, ...hosted };
    const d = downgradeAfter406(source, feature, this.#o.policy, {
      self: r.user, resent: r.resent406 === true, ...(hubFeatures ? { hubFeatures } : {}), ...(r.media ? { mediaSize: r.media.size } : {}),
    });
    if (d.kind !== 'send') return { reason: d.reason, message: d.message };
    const { media: newMedia, ...message } = d.message;
    // A media kind change (e.g. image → document) keeps the hosted file: only the declared kind changes.
    const media = newMedia && r.media ? { ...r.media, kind: newMedia.kind, ...(newMedia.filename !== undefined ? { filename: newMedia.filename } : {}) } : undefined;
    if (newMedia && !media) return { reason: 'unsupported-in-interop', message: 'The downgraded message would need a file that was not prepared.' };
    const { media: _old, ...rest } = r;
    return { record: { ...rest, message, original: source, fallbacks: d.fallbacks, downgraded: d.downgraded, resent406: true, ...(d.notice ? { notice: d.notice } : {}), ...(media ? { media } : {}) } };
  }
}
