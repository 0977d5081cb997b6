// Matrix ids of the bridge: the bot, one puppet per hub user (`@hub_447700900123:example.org` from
// the `puppet_localpart` template), the appservice namespace regex, and the mapping from a Matrix
// user of this homeserver to a provider user local id (spec 1: 1–64 of [a-z0-9._=-]). Pure.

export interface IdConfig {
  server_name: string;
  bot_localpart: string;
  puppet_localpart: string;
  namespace_regex?: string | undefined;
}

const escapeRe = (s: string): string => s.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');

export class BridgeIds {
  readonly botUserId: string;
  readonly #c: IdConfig;
  readonly #puppetRe: RegExp;

  constructor(c: IdConfig) {
    this.#c = c;
    this.botUserId = `@${c.bot_localpart}:${c.server_name}`;
    const [before, after] = c.puppet_localpart.split('{phone}') as [string, string];
    this.#puppetRe = new RegExp(`^@${escapeRe(before)}([1-9][0-9]{5,14})${escapeRe(after)}:${escapeRe(c.server_name)}$`);
  }

  /** The puppet of a hub user (`447700900123@hub` or a bare phone). */
  puppetOf(hubUser: string): string {
    const digits = hubUser.replace(/@hub$/, '').replace(/^\+/, '');
    return `@${this.#c.puppet_localpart.replace('{phone}', digits)}:${this.#c.server_name}`;
  }

  /** The hub user a puppet stands for, or undefined when `userId` is not a puppet. */
  hubUserOf(userId: string): string | undefined {
    const m = this.#puppetRe.exec(userId);
    return m ? `${m[1] as string}@hub` : undefined;
  }

  /** True for the bot and every puppet: users the appservice acts as. */
  isBridgeUser(userId: string): boolean {
    return userId === this.botUserId || this.hubUserOf(userId) !== undefined;
  }

  /** The user namespace of the registration file (explicit config, else derived). */
  namespaceRegex(): string {
    if (this.#c.namespace_regex !== undefined) return this.#c.namespace_regex;
    const [before, after] = this.#c.puppet_localpart.split('{phone}') as [string, string];
    const server = escapeRe(this.#c.server_name);
    return `@(${escapeRe(this.#c.bot_localpart)}|${escapeRe(before)}[0-9]+${escapeRe(after)}):${server}`;
  }

  /**
   * The provider user local id of a Matrix user of this homeserver; undefined for users of other
   * servers, bridge users, and localparts outside spec 1's alphabet (`/`, `+`, upper case).
   */
  localOf(userId: string): string | undefined {
    if (this.isBridgeUser(userId)) return undefined;
    const suffix = `:${this.#c.server_name}`;
    if (!userId.startsWith('@') || !userId.endsWith(suffix)) return undefined;
    const local = userId.slice(1, -suffix.length);
    return /^[a-z0-9._=-]{1,64}$/.test(local) ? local : undefined;
  }

  /** The Matrix user of a provider user local id. */
  userOf(local: string): string {
    return `@${local}:${this.#c.server_name}`;
  }
}

/** A phone number as HIP digits: `+44 7700 900123` → `447700900123`; undefined if not E.164. */
export function phoneDigits(s: string): string | undefined {
  const d = s.replace(/[\s().-]/g, '');
  const m = /^\+?([1-9][0-9]{5,14})$/.exec(d);
  return m ? (m[1] as string) : undefined;
}
