// Test homeserver: the application service side (AS API). Pushes transactions to the bridge with
// the room events its namespace is interested in, MSC2409 ephemeral events (receipts) and
// to-device events, and MSC3202 device lists and one-time key counts (in the MSC's spelling or in
// Synapse's, `device_one_time_key_counts`, to test both); retries a refused transaction with the
// same txnId; answers users queries for unknown namespace users.
import type { HsState, Json } from './hs-state.ts';
import { receiptEvent } from './hs-sync.ts';

export interface AppserviceRegistration {
  url: string;
  as_token: string;
  hs_token: string;
  sender_localpart: string;
  namespaces: { users: Array<{ regex: string }> };
}

export class AppservicePusher {
  readonly reg: AppserviceRegistration;
  /** Every transaction pushed (body as sent), in order, for replays. */
  readonly sent: Array<{ txnId: string; body: Json; status: number }> = [];
  /** `msc`: org.matrix.msc3202.device_one_time_keys_count; `synapse`: …device_one_time_key_counts. */
  otkSpelling: 'msc' | 'synapse' = 'synapse';
  paused = false;
  readonly #s: HsState;
  readonly #ns: RegExp[];
  #pos = 0;
  #txn = 0;
  #running = false;
  #stopped = false;

  constructor(s: HsState, reg: AppserviceRegistration) {
    this.#s = s;
    this.reg = reg;
    this.#ns = reg.namespaces.users.map((u) => new RegExp(`^${u.regex}$`));
  }

  inNamespace(userId: string): boolean {
    return userId === `@${this.reg.sender_localpart}:${this.#s.server}` || this.#ns.some((re) => re.test(userId));
  }

  start(): void {
    void this.#loop();
  }

  stop(): void {
    this.#stopped = true;
  }

  /** Pushes a transaction again, exactly as it was sent (a homeserver retrying after a lost answer). */
  async replay(index: number): Promise<number> {
    const t = this.sent[index];
    if (!t) throw new Error(`no transaction ${index}`);
    return this.#put(t.txnId, t.body);
  }

  async userQuery(userId: string): Promise<boolean> {
    const r = await fetch(`${this.reg.url}/_matrix/app/v1/users/${encodeURIComponent(userId)}`, { headers: { authorization: `Bearer ${this.reg.hs_token}` } });
    return r.status === 200;
  }

  async #loop(): Promise<void> {
    if (this.#running) return;
    this.#running = true;
    while (!this.#stopped) {
      if (this.paused || this.#s.pos <= this.#pos) {
        await this.#s.wait(200);
        continue;
      }
      const to = this.#s.pos;
      const body = this.#build(this.#pos, to);
      const txnId = `t${++this.#txn}`;
      for (;;) {
        if (this.#stopped) return;
        const status = await this.#put(txnId, body).catch(() => 0);
        this.sent.push({ txnId, body, status });
        if (status === 200) break;
        await new Promise((r) => setTimeout(r, 200));
      }
      this.#pos = to;
    }
  }

  async #put(txnId: string, body: Json): Promise<number> {
    const r = await fetch(`${this.reg.url}/_matrix/app/v1/transactions/${txnId}`, {
      method: 'PUT',
      headers: { authorization: `Bearer ${this.reg.hs_token}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    await r.arrayBuffer();
    return r.status;
  }

  #build(from: number, to: number): Json {
    const s = this.#s;
    const inRange = (p: number): boolean => p > from && p <= to;
    const events: Json[] = [];
    const ephemeral: Json[] = [];
    for (const room of s.rooms.values()) {
      const interested = [...room.state.values()].some((e) => e.type === 'm.room.member' && this.inNamespace(e.state_key as string) && ['join', 'invite'].includes(e.content.membership as string));
      for (const t of room.timeline) {
        if (!inRange(t.pos)) continue;
        if (interested || (t.event.type === 'm.room.member' && this.inNamespace(t.event.state_key as string))) events.push(t.event);
      }
      const receipts = room.receipts.filter((x) => inRange(x.pos) && !this.inNamespace(x.userId));
      if (interested && receipts.length > 0) ephemeral.push({ ...receiptEvent(receipts), room_id: room.roomId });
    }
    const toDevice: Json[] = [];
    const counts: Record<string, Record<string, Record<string, number>>> = {};
    const fallback: Record<string, Record<string, string[]>> = {};
    for (const u of s.users.values()) {
      if (!this.inNamespace(u.userId)) continue;
      for (const d of u.devices.values()) {
        for (const t of d.toDevice.filter((x) => inRange(x.pos))) toDevice.push({ ...t.event, to_user_id: u.userId, to_device_id: d.deviceId });
        d.toDevice = d.toDevice.filter((x) => x.pos > to);
        if (inRange(d.countsPos)) {
          (counts[u.userId] ??= {})[d.deviceId] = s.otkCounts(d);
          (fallback[u.userId] ??= {})[d.deviceId] = d.fallback.size > 0 && !d.fallbackUsed ? ['signed_curve25519'] : [];
        }
      }
    }
    const changed = [...new Set(s.keyChanges.filter((k) => inRange(k.pos) && !this.inNamespace(k.userId)).map((k) => k.userId))];
    const body: Json = { events };
    if (ephemeral.length > 0) body['de.sorunome.msc2409.ephemeral'] = ephemeral;
    if (toDevice.length > 0) body['de.sorunome.msc2409.to_device'] = toDevice;
    if (changed.length > 0) body['org.matrix.msc3202.device_lists'] = { changed, left: [] };
    if (Object.keys(counts).length > 0) {
      body[this.otkSpelling === 'synapse' ? 'org.matrix.msc3202.device_one_time_key_counts' : 'org.matrix.msc3202.device_one_time_keys_count'] = counts;
      body['org.matrix.msc3202.device_unused_fallback_key_types'] = fallback;
    }
    return body;
  }
}
