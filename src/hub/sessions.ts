// The sidecar's hub sessions: one WebSocket per provider user (spec 2), opened on demand,
// closed when idle, capped in number (least recently used closed first), reopened after failures
// with exponential backoff and full jitter. Concurrent callers for the same user share one open.
//
// Several replicas: the hub keeps one session per user (spec 2: a second one replaces the first,
// 4409). With `ownership`, the replica holding a user's session says so in Redis (an owner key
// with this replica's id and a TTL, renewed while the session is open, given up when it closes),
// so that the others can hand that user's work to it instead of taking the session (see
// delivery/outbound-worker.ts) — docs/architecture.md#several-replicas.
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { HubConnection, HubSessionError, type InboundStanza } from './connection.ts';
import type { ProviderKey } from './provider-key.ts';

export interface SessionManagerOptions {
  hubUrl: string;
  hubId: string;
  providerId: string;
  key: ProviderKey;
  tokenTtlS: number;
  maxOpen: number;
  idleCloseMs: number;
  reconnectMinMs: number;
  reconnectMaxMs: number;
  onInbound: (conn: HubConnection, s: InboundStanza) => void;
  onClosed?: (user: string, code: number) => void;
  /** Called once per opened session, after anything queued for it started arriving. */
  onOpened?: (conn: HubConnection) => void;
  /** Who holds which user's session, for several replicas sharing one Redis. */
  ownership?: { redis: Redis; prefix: string; ttlMs?: number };
  logger?: Logger;
}

const OWNER_TTL_MS = 30_000;
// KEYS: owner key; ARGV: replica id, ttl. Takes the key if free or ours (heals a lost race).
const HOLD = `local v = redis.call('get', KEYS[1])
if v == false or v == ARGV[1] then redis.call('set', KEYS[1], ARGV[1], 'PX', ARGV[2]) return 1 end
return 0`;
const GIVE_UP = `if redis.call('get', KEYS[1]) == ARGV[1] then redis.call('del', KEYS[1]) end return 0`;

interface Entry {
  conn?: HubConnection;
  opening?: Promise<HubConnection>;
  failures: number;
  retryAt: number;
}

export class SessionManager {
  readonly #o: SessionManagerOptions;
  readonly #entries = new Map<string, Entry>();
  readonly #sweeper: NodeJS.Timeout;
  readonly #renewer: NodeJS.Timeout | undefined;
  #stopped = false;
  readonly #stopping = new AbortController();
  /** This replica, as named in owner keys (and in its channel, delivery/outbound-worker.ts). */
  readonly replicaId = `${hostname()}:${process.pid}:${randomBytes(6).toString('base64url')}`;

  constructor(o: SessionManagerOptions) {
    this.#o = o;
    this.#sweeper = setInterval(() => this.#closeIdle(), Math.max(250, Math.min(o.idleCloseMs, 30_000)));
    this.#sweeper.unref();
    if (o.ownership) {
      const own = o.ownership;
      this.#renewer = setInterval(() => {
        const p = own.redis.pipeline();
        for (const [user, e] of this.#entries) if (e.conn?.open) p.eval(HOLD, 1, this.#ownerKey(user), this.replicaId, own.ttlMs ?? OWNER_TTL_MS);
        p.exec().catch((err: unknown) => o.logger?.warn({ err: (err as Error).message }, 'session owner renewal failed'));
      }, (own.ttlMs ?? OWNER_TTL_MS) / 3);
      this.#renewer.unref();
    }
  }

  /** Whether replicas record who holds which session (`ownership`). */
  get shared(): boolean {
    return this.#o.ownership !== undefined;
  }

  #ownerKey(user: string): string {
    return `${this.#o.ownership?.prefix}:owner:{${user}}`;
  }

  /**
   * The replica holding `user`'s hub session, when it is another one (undefined: this one, or
   * nobody). Without `ownership`, always undefined.
   */
  async ownerElsewhere(user: string): Promise<string | undefined> {
    if (!this.#o.ownership || this.isOpen(user)) return undefined;
    const owner = await this.#o.ownership.redis.get(this.#ownerKey(user));
    return owner !== null && owner !== this.replicaId ? owner : undefined;
  }

  get openCount(): number {
    let n = 0;
    for (const e of this.#entries.values()) if (e.conn?.open) n++;
    return n;
  }

  /** The sessions this replica holds open now (a snapshot; for periodic upkeep per user). */
  openConnections(): HubConnection[] {
    const open: HubConnection[] = [];
    for (const e of this.#entries.values()) if (e.conn?.open) open.push(e.conn);
    return open;
  }

  isOpen(user: string): boolean {
    return this.#entries.get(user)?.conn?.open ?? false;
  }

  /** The user's open session, opening it (after any backoff still due) if needed. */
  async get(user: string): Promise<HubConnection> {
    if (this.#stopped) throw new HubSessionError('session manager is stopped', 'stopped');
    let e = this.#entries.get(user);
    if (e?.conn?.open) return e.conn;
    if (e?.opening) return e.opening;
    if (!e) {
      e = { failures: 0, retryAt: 0 };
      this.#entries.set(user, e);
    }
    const entry = e;
    entry.opening = this.#open(user, entry).finally(() => {
      entry.opening = undefined;
    });
    return entry.opening;
  }

  async #open(user: string, e: Entry): Promise<HubConnection> {
    const wait = e.retryAt - Date.now();
    if (wait > 0) {
      try {
        await sleep(wait, undefined, { signal: this.#stopping.signal });
      } catch {
        throw new HubSessionError('session manager is stopped', 'stopped');
      }
    }
    this.#makeRoom();
    try {
      const token = await this.#o.key.mint({ providerId: this.#o.providerId, hubId: this.#o.hubId, user, ttlS: this.#o.tokenTtlS });
      const conn = await HubConnection.open({
        hubUrl: this.#o.hubUrl,
        user,
        token,
        onInbound: (s, c) => this.#o.onInbound(c, s),
        onClose: (code) => {
          if (e.conn === conn) e.conn = undefined;
          this.#o.ownership?.redis.eval(GIVE_UP, 1, this.#ownerKey(user), this.replicaId).catch(() => undefined);
          this.#o.logger?.debug({ user, code }, 'hub session closed');
          this.#o.onClosed?.(user, code);
        },
      });
      // Stopped, or this user's sessions closed (close()), while it was opening: the session is
      // closed at once rather than left open with no entry that would ever close it.
      if (this.#stopped || this.#entries.get(user) !== e) {
        conn.close();
        throw new HubSessionError(this.#stopped ? 'session manager is stopped' : 'session closed while it was opening', this.#stopped ? 'stopped' : 'closed');
      }
      // Room again, now that it is open: others opening at the same time each passed the check
      // before the handshake, and would all be added over the cap.
      this.#makeRoom();
      // The hub now gives this replica the user's session (an older one elsewhere got 4409).
      this.#o.ownership?.redis.set(this.#ownerKey(user), this.replicaId, 'PX', this.#o.ownership.ttlMs ?? OWNER_TTL_MS).catch((err: unknown) => {
        this.#o.logger?.warn({ user, err: (err as Error).message }, 'could not record the session owner');
      });
      e.conn = conn;
      e.failures = 0;
      e.retryAt = 0;
      this.#o.logger?.debug({ user, session: conn.session }, 'hub session opened');
      this.#o.onOpened?.(conn);
      return conn;
    } catch (err) {
      if (err instanceof HubSessionError && (err.reason === 'stopped' || err.reason === 'closed')) throw err;
      e.failures++;
      const cap = Math.min(this.#o.reconnectMaxMs, this.#o.reconnectMinMs * 2 ** Math.min(e.failures - 1, 20));
      e.retryAt = Date.now() + Math.round(Math.random() * cap);
      this.#o.logger?.warn({ user, failures: e.failures, err: (err as Error).message }, 'hub session failed to open');
      throw err;
    }
  }

  /** Keeps the number of open sessions below the cap by closing the least recently used. */
  #makeRoom(): void {
    // Entries include every open session: below the cap there is nothing to scan.
    if (this.#entries.size < this.#o.maxOpen) return;
    const open = [...this.#entries.entries()].filter(([, e]) => e.conn?.open);
    if (open.length < this.#o.maxOpen) return;
    open.sort((a, b) => (a[1].conn?.lastActivity ?? 0) - (b[1].conn?.lastActivity ?? 0));
    for (const [user, e] of open.slice(0, open.length - this.#o.maxOpen + 1)) {
      e.conn?.close();
      e.conn = undefined;
      this.#o.logger?.debug({ user }, 'hub session closed to stay under the cap');
    }
  }

  #closeIdle(): void {
    const cutoff = Date.now() - this.#o.idleCloseMs;
    for (const [user, e] of this.#entries) {
      if (e.conn && e.conn.lastActivity < cutoff) {
        e.conn.close();
        e.conn = undefined;
      }
      if (!e.conn && !e.opening && e.failures === 0) this.#entries.delete(user);
    }
  }

  close(user: string): void {
    const e = this.#entries.get(user);
    e?.conn?.close();
    this.#entries.delete(user);
  }

  /**
   * Closes every session; with `ownership`, gives their owner keys up before resolving. Sessions
   * still opening are waited for (each bounded by the open timeout; one waiting out a backoff
   * gives up at once) and closed as soon as they open, before any owner key is written for them.
   */
  async stop(): Promise<void> {
    this.#stopped = true;
    this.#stopping.abort();
    clearInterval(this.#sweeper);
    clearInterval(this.#renewer);
    const held = [...this.#entries].filter(([, e]) => e.conn?.open).map(([user]) => user);
    const opening = [...this.#entries.values()].flatMap((e) => (e.opening ? [e.opening] : []));
    for (const e of this.#entries.values()) e.conn?.close();
    await Promise.allSettled(opening);
    this.#entries.clear();
    const own = this.#o.ownership;
    if (!own || held.length === 0) return;
    const p = own.redis.pipeline();
    for (const user of held) p.eval(GIVE_UP, 1, this.#ownerKey(user), this.replicaId);
    await p.exec().catch((err: unknown) => this.#o.logger?.warn({ err: (err as Error).message }, 'could not give session owners up'));
  }
}
