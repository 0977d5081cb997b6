// Device lists of hub users as this provider last saw them (spec 7.3), cached in Redis so every
// replica agrees: refreshed when missing, when the hub announces a change (`devices`
// notification, spec 8) and from the list a 409 `stale-devices` ack carries (spec 4). Each process
// also remembers lists for a few seconds: a list another replica has just refreshed is seen late
// at worst, and the hub answers a send to an outdated list with 409 and the current one.
import type { Redis } from 'ioredis';
import type { HubConnection } from '../hub/connection.ts';
import { deviceAddress, type DeviceList } from '../protocol/index.ts';
import { Recent } from './recent.ts';

const TTL_S = 3600;

export class DeviceDirectory {
  readonly #redis: Redis;
  readonly #p: string;
  readonly #recent = new Recent<DeviceList | undefined>(5000);
  constructor(redis: Redis, prefix: string) {
    this.#redis = redis;
    this.#p = prefix;
  }

  #key(peer: string): string {
    return `${this.#p}:devices:${peer}`;
  }

  async get(conn: HubConnection, peer: string): Promise<DeviceList> {
    const cached = await this.#recent.get(peer, async () => {
      const text = await this.#redis.get(this.#key(peer));
      return text ? (JSON.parse(text) as DeviceList) : undefined;
    });
    if (cached) return cached;
    const r = await conn.iq({ xmlns: 'devices', op: 'devices', jid: peer }, 'get');
    if (r.op !== 'devices') throw new Error(`unexpected answer to a devices query: ${r.op}`);
    await this.set(r.list);
    return r.list;
  }

  async set(list: DeviceList): Promise<void> {
    this.#recent.set(list.jid, list);
    await this.#redis.set(this.#key(list.jid), JSON.stringify(list), 'EX', TTL_S);
  }

  async invalidate(peer: string): Promise<void> {
    this.#recent.forget(peer);
    await this.#redis.del(this.#key(peer));
  }
}

export function deviceAddresses(list: DeviceList): string[] {
  return list.devices.map((d) => deviceAddress(list.jid, d));
}
