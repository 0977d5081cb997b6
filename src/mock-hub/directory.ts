// The mock hub's directory, in memory: hub users (devices, opt-in per provider, blocks, script),
// enrolled providers, provider users (enlisted or not) and who is a contact of whom (spec 7.1:
// "anyone who exchanged a message with the user or fetched its bundle"). Pure state, no IO; the
// simulated devices themselves live in sim-users.ts.
import { computeDhash, deviceAddress } from '../protocol/index.ts';
import type { DeviceList } from '../protocol/index.ts';
import type { Secret } from '../config/secret.ts';

export interface ThirdParty {
  enabled: boolean;
  /** Provider ids the user accepted; `*` accepts every enrolled provider (spec 10). */
  providers: string[];
}

export interface Script {
  echo: boolean;
  receipts: boolean;
  read: boolean;
  delay_ms: number;
}

export interface HubUser {
  /** `447700900123@hub` */
  jid: string;
  /** E.164 digits without `+`. */
  digits: string;
  name: string | undefined;
  /** HIP device numbers, ascending. */
  devices: number[];
  thirdParty: ThirdParty;
  script: Script;
  /** Provider-user addresses the user blocked. */
  blockedUsers: Set<string>;
  /** Provider ids the user blocked as a whole. */
  blockedProviders: Set<string>;
}

export interface Provider {
  id: string;
  name: string;
  jwks?: { keys: Array<Record<string, unknown>> };
  jwksUrl?: string;
  pushUrl?: string;
  pushSecret?: Secret;
  /** Removed by the hub (DELETE /control/providers/{id}): sessions refused with `delisted` (spec 2). */
  delisted: boolean;
}

export interface ProviderUser {
  /** `alice@birdy.interop` */
  jid: string;
  provider: string;
  /** Spec 10: may send, and is reachable, only while enlisted. */
  enlisted: boolean;
}

export class Directory {
  readonly hubUsers = new Map<string, HubUser>();
  readonly providers = new Map<string, Provider>();
  readonly providerUsers = new Map<string, ProviderUser>();
  /** hub user jid → provider user jids, and the reverse. */
  readonly #contactsOfHub = new Map<string, Set<string>>();
  readonly #contactsOfProvider = new Map<string, Set<string>>();

  // ── hub users ──────────────────────────────────────────────────────────────────────────────

  addHubUser(u: Omit<HubUser, 'jid' | 'blockedUsers' | 'blockedProviders'> & Partial<Pick<HubUser, 'blockedUsers' | 'blockedProviders'>>): HubUser {
    const jid = `${u.digits}@hub`;
    if (this.hubUsers.has(jid)) throw new Error(`hub user ${jid} exists`);
    const user: HubUser = {
      ...u,
      jid,
      devices: [...new Set(u.devices)].sort((a, b) => a - b),
      blockedUsers: u.blockedUsers ?? new Set(),
      blockedProviders: u.blockedProviders ?? new Set(),
    };
    this.hubUsers.set(jid, user);
    return user;
  }

  hubUser(jid: string): HubUser | undefined {
    return this.hubUsers.get(jid);
  }

  /** Device addresses of a hub user, e.g. `447700900123:3@hub`. */
  deviceAddresses(user: HubUser): string[] {
    return user.devices.map((n) => deviceAddress(user.jid, n));
  }

  /** Spec 4: the dhash of the current device list. */
  dhash(user: HubUser): string {
    return computeDhash(this.deviceAddresses(user));
  }

  deviceList(user: HubUser): DeviceList {
    return { jid: user.jid, dhash: this.dhash(user), devices: [...user.devices] };
  }

  addDevice(user: HubUser, device: number): void {
    if (user.devices.includes(device)) throw new Error(`device ${device} exists`);
    user.devices = [...user.devices, device].sort((a, b) => a - b);
  }

  removeDevice(user: HubUser, device: number): void {
    user.devices = user.devices.filter((d) => d !== device);
  }

  /** The smallest free device number from 1 on (0 is the primary phone). */
  nextDevice(user: HubUser): number {
    let n = 1;
    while (user.devices.includes(n)) n += 1;
    return n;
  }

  /**
   * Spec 10: a hub user is reachable from provider P only if third-party chats are on, P is
   * accepted, and P is enrolled and not delisted. Unknown users, users who are not opted in and
   * users of another provider get the same answer from every caller of this function.
   */
  reachable(user: HubUser | undefined, providerId: string): user is HubUser {
    if (user === undefined || !user.thirdParty.enabled) return false;
    const p = this.providers.get(providerId);
    if (p === undefined || p.delisted) return false;
    return user.thirdParty.providers.includes('*') || user.thirdParty.providers.includes(providerId);
  }

  isBlocked(user: HubUser, providerUser: string, providerId: string): boolean {
    return user.blockedUsers.has(providerUser) || user.blockedProviders.has(providerId);
  }

  /** `alice`-style and provider blocks as one list (provider ids are listed bare, e.g. `birdy`). */
  blockedList(user: HubUser): string[] {
    return [...user.blockedUsers, ...user.blockedProviders].sort();
  }

  // ── providers and provider users ───────────────────────────────────────────────────────────

  provider(id: string): Provider | undefined {
    return this.providers.get(id);
  }

  addProvider(p: Omit<Provider, 'delisted'>): Provider {
    const provider: Provider = { ...p, delisted: false };
    this.providers.set(p.id, provider);
    return provider;
  }

  /** Registers a provider user on its first successful open (not enlisted yet). */
  ensureProviderUser(jid: string, provider: string): ProviderUser {
    let u = this.providerUsers.get(jid);
    if (u === undefined) {
      u = { jid, provider, enlisted: false };
      this.providerUsers.set(jid, u);
    }
    return u;
  }

  providerUser(jid: string): ProviderUser | undefined {
    return this.providerUsers.get(jid);
  }

  /** A provider user hub users can reach: enlisted, and its provider enrolled and not delisted. */
  reachableProviderUser(jid: string): ProviderUser | undefined {
    const u = this.providerUsers.get(jid);
    if (u === undefined || !u.enlisted) return undefined;
    const p = this.providers.get(u.provider);
    return p === undefined || p.delisted ? undefined : u;
  }

  // ── contacts ───────────────────────────────────────────────────────────────────────────────

  addContact(hubUser: string, providerUser: string): void {
    link(this.#contactsOfHub, hubUser, providerUser);
    link(this.#contactsOfProvider, providerUser, hubUser);
  }

  /** Provider users who are contacts of a hub user. */
  providerContactsOf(hubUser: string): string[] {
    return [...(this.#contactsOfHub.get(hubUser) ?? [])];
  }

  /** Hub users who are contacts of a provider user. */
  hubContactsOf(providerUser: string): string[] {
    return [...(this.#contactsOfProvider.get(providerUser) ?? [])];
  }

  /** Forgets a provider user's contacts (on delist, spec 10). */
  dropContactsOf(providerUser: string): void {
    for (const h of this.#contactsOfProvider.get(providerUser) ?? []) this.#contactsOfHub.get(h)?.delete(providerUser);
    this.#contactsOfProvider.delete(providerUser);
  }
}

function link(m: Map<string, Set<string>>, a: string, b: string): void {
  let s = m.get(a);
  if (s === undefined) {
    s = new Set();
    m.set(a, s);
  }
  s.add(b);
}
