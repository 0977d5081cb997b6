// Device lists of hub users as this provider last saw them (spec 7.3), cached in Redis so every
// replica agrees: refreshed when missing, when the hub announces a change (`devices`
// notification, spec 8) and from the list a 409 `stale-devices` ack carries (spec 4).
import type { Redis } from 'ioredis';
import type { HubConnection } from '../hub/connection.ts';
import { deviceAddress, type DeviceList } from '../protocol/index.ts';

const TTL_S = 3600;

export class DeviceDirectory {
  readonly #redis: Redis;
  readonly #p: string;
  constructor(redis: Redis, prefix: string) {
    this.#redis = redis;
    this.#p = prefix;
  }

  #key(peer: string): string {
    return `${this.#p}:devices:${peer}`;
  }

  async get(conn: HubConnection, peer: string): Promise<DeviceList> {
    const cached = await this.#redis.get(this.#key(peer));
    if (cached) return JSON.parse(cached) as DeviceList;
    const r = await conn.iq({ xmlns: 'devices', op: 'devices', jid: peer }, 'get');
    if (r.op !== 'devices') throw new Error(`unexpected answer to a devices query: ${r.op}`);
    await this.set(r.list);
    return r.list;
  }

  async set(list: DeviceList): Promise<void> {
    await this.#redis.set(this.#key(list.jid), JSON.stringify(list), 'EX', TTL_S);
  }

  async invalidate(peer: string): Promise<void> {
    await this.#redis.del(this.#key(peer));
  }
}

export function deviceAddresses(list: DeviceList): string[] {
  return list.devices.map((d) => deviceAddress(list.jid, d));
}
