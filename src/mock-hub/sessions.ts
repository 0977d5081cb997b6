// Registry of open provider-user sessions (spec 2: one WebSocket per provider user). A newer
// session for the same user replaces the older one, which gets `<failure reason="conflict"/>` and
// close 4409; delisting a provider closes its sessions with `delisted` / 4403.
import type { FailureReason, Stanza } from '../protocol/index.ts';

export interface LiveSession {
  readonly user: string;
  readonly provider: string;
  send(stanza: Stanza): void;
  /** Sends `<failure reason>` and closes with the code of spec 2. */
  fail(reason: FailureReason): void;
  /** Drops the connection at once (hub shutdown). */
  terminate(): void;
}

export class SessionRegistry {
  readonly #byUser = new Map<string, LiveSession>();
  /** Called when a session replaces an older one of the same user. */
  onReplaced?: () => void;

  get(user: string): LiveSession | undefined {
    return this.#byUser.get(user);
  }

  /** Registers a session; the older one of the same user, if any, is failed with `conflict`. */
  add(s: LiveSession): void {
    const old = this.#byUser.get(s.user);
    this.#byUser.set(s.user, s);
    if (old !== undefined && old !== s) {
      this.onReplaced?.();
      old.fail('conflict');
    }
  }

  /** Removes `s` if it is still the registered one; true when it was. */
  remove(s: LiveSession): boolean {
    if (this.#byUser.get(s.user) !== s) return false;
    this.#byUser.delete(s.user);
    return true;
  }

  ofProvider(provider: string): LiveSession[] {
    return [...this.#byUser.values()].filter((s) => s.provider === provider);
  }

  all(): LiveSession[] {
    return [...this.#byUser.values()];
  }

  get size(): number {
    return this.#byUser.size;
  }
}
