// Opt-in of provider users (spec 10): enabling creates (or re-uploads) the user's Signal identity
// and prekeys (spec 7.1) and enlists the user; disabling delists it. Also keeps one-time prekeys
// topped up when the hub says they run low (spec 8 `encrypt`), and rotates the signed prekeys on
// schedule (issue 3). The opt-in state is kept in Redis so that every replica refuses messages
// from users who have not opted in.
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { createAccount, replenishPreKeys, reuploadAccount, rotateSignedPreKeys } from '../crypto/account.ts';
import type { Keyring } from '../crypto/keyring.ts';
import { RedisSignalStore } from '../crypto/redis-signal-store.ts';
import type { HubConnection } from '../hub/connection.ts';
import type { SessionManager } from '../hub/sessions.ts';
import { Recent } from './recent.ts';

export interface AccountsOptions {
  redis: Redis;
  keyring: Keyring;
  prefix: string;
  sessions: SessionManager;
  /** One-time EC and Kyber prekeys kept on the hub (issue: 100 of each). */
  preKeys: number;
  /** Top up below this many (spec 8 sends `encrypt` below 10). */
  lowWater: number;
  /** Rotate the signed prekeys after this long. */
  rotateSignedMs: number;
  logger: Logger;
}

export class Accounts {
  readonly #o: AccountsOptions;
  /** Rotation checks of the sessions this replica holds (a session can stay open for weeks). */
  #checker: NodeJS.Timeout | undefined;
  #checking = false;
  /** Users whose signed prekeys are being rotated here (open and periodic checks at once). */
  readonly #rotating = new Set<string>();

  constructor(o: AccountsOptions) {
    this.#o = o;
  }

  /** Starts the periodic rotation checks (Core.start). */
  start(): void {
    if (this.#checker) return;
    // A tenth of the schedule (at most an hour, at least a second): a rotation is at most that late.
    const every = Math.max(1000, Math.min(this.#o.rotateSignedMs / 10, 3_600_000));
    this.#checker = setInterval(() => {
      this.#checkOpenSessions().catch((err: unknown) => this.#o.logger.warn({ err: (err as Error).message }, 'signed prekey rotation check failed'));
    }, every);
    this.#checker.unref();
  }

  /** Stops the periodic rotation checks (Core.close). */
  close(): void {
    clearInterval(this.#checker);
    this.#checker = undefined;
  }

  store(user: string): RedisSignalStore {
    return new RedisSignalStore(this.#o.redis, this.#o.keyring, this.#o.prefix, user);
  }

  #key(): string {
    return `${this.#o.prefix}:interop`;
  }

  /** Opt-in flags as recently read (1 s; this process's own changes at once). */
  readonly #enabled = new Recent<boolean>(1000);

  async isEnabled(user: string): Promise<boolean> {
    return this.#enabled.get(user, async () => (await this.#o.redis.hget(this.#key(), user)) === 'enabled');
  }

  async enable(user: string): Promise<void> {
    const conn = await this.#o.sessions.get(user);
    const store = this.store(user);
    const n = { preKeys: this.#o.preKeys, kyberPreKeys: this.#o.preKeys };
    const upload = (await store.hasAccount()) ? await reuploadAccount(store, n) : await createAccount(store, n);
    await conn.iq(upload, 'set');
    await this.#markRotated(store);
    await conn.iq({ xmlns: 'interop', op: 'enlist' }, 'set');
    await this.#o.redis.hset(this.#key(), user, 'enabled');
    this.#enabled.set(user, true);
    this.#o.logger.info({ user }, 'provider user opted in');
  }

  async disable(user: string): Promise<void> {
    this.#enabled.set(user, false);
    const conn = await this.#o.sessions.get(user);
    await conn.iq({ xmlns: 'interop', op: 'delist' }, 'set');
    await this.#o.redis.hset(this.#key(), user, 'disabled');
    this.#enabled.set(user, false);
    this.#o.logger.info({ user }, 'provider user opted out');
  }

  /**
   * On every session open of an opted-in user: top prekeys up when the hub runs low, and rotate
   * the signed prekeys when they are older than the schedule (sessions that stay open are also
   * checked periodically). Errors are logged, never thrown.
   */
  async maintain(conn: HubConnection): Promise<void> {
    try {
      if (!(await this.isEnabled(conn.user))) return;
      await this.#rotateIfDue(conn);
      const left = await conn.iq({ xmlns: 'encrypt', op: 'count' }, 'get');
      if (left.op === 'count' && (left.value < this.#o.lowWater || left.kyber < this.#o.lowWater)) await this.replenish(conn, left);
    } catch (err) {
      this.#o.logger.warn({ user: conn.user, err: (err as Error).message }, 'prekey maintenance failed');
    }
  }

  /**
   * Rotates the user's signed prekeys when they are older than the schedule: one marker read when
   * they are not. The marker moves only once the hub accepted the upload, so that a failed one is
   * tried again at the next check rather than a whole period later.
   */
  async #rotateIfDue(conn: HubConnection): Promise<void> {
    if (this.#rotating.has(conn.user)) return;
    const store = this.store(conn.user);
    const rotatedAt = (await store.getMarker('rotated-at')) ?? (await store.getMarker('created-at')) ?? 0;
    if (Date.now() - rotatedAt * 1000 <= this.#o.rotateSignedMs) return;
    if (!(await this.isEnabled(conn.user)) || this.#rotating.has(conn.user)) return;
    this.#rotating.add(conn.user);
    try {
      await conn.iq(await rotateSignedPreKeys(store), 'set');
      await this.#markRotated(store);
      this.#o.logger.info({ user: conn.user }, 'rotated signed prekeys');
    } finally {
      this.#rotating.delete(conn.user);
    }
  }

  async #markRotated(store: RedisSignalStore): Promise<void> {
    await store.setMarker('rotated-at', Math.floor(Date.now() / 1000));
  }

  /**
   * The periodic check over the sessions this replica holds (another replica checks its own; the
   * hub gives each user's session to one of them). Sessions opening are checked by maintain.
   */
  async #checkOpenSessions(): Promise<void> {
    if (this.#checking) return;
    this.#checking = true;
    try {
      for (const conn of this.#o.sessions.openConnections()) {
        if (!conn.open) continue;
        try {
          await this.#rotateIfDue(conn);
        } catch (err) {
          this.#o.logger.warn({ user: conn.user, err: (err as Error).message }, 'signed prekey rotation failed');
        }
      }
    } finally {
      this.#checking = false;
    }
  }

  /** Tops one-time prekeys back up to the target given what the hub says is left. */
  async replenish(conn: HubConnection, left: { value: number; kyber: number }): Promise<void> {
    const ec = Math.max(0, this.#o.preKeys - left.value);
    const kyber = Math.max(0, this.#o.preKeys - left.kyber);
    if (ec === 0 && kyber === 0) return;
    await conn.iq(await replenishPreKeys(this.store(conn.user), ec, kyber), 'set');
    this.#o.logger.debug({ user: conn.user, ec, kyber }, 'uploaded one-time prekeys');
  }
}
