// State of the in-process test homeserver: users and devices (keys, one-time keys, to-device
// queues), rooms (state and timeline), and one global stream position that /sync and the
// appservice pusher read from. Only what matrix-js-sdk's client with Rust crypto and the bridge
// use; no federation, no auth rules beyond membership.
import { randomBytes } from 'node:crypto';

export type Json = Record<string, unknown>;

export interface Device {
  deviceId: string;
  displayName?: string;
  keys?: Json;
  otks: Map<string, Json>;
  fallback: Map<string, Json>;
  fallbackUsed: boolean;
  toDevice: Array<{ pos: number; event: Json }>;
  /** Stream position of the last change of counts (for appservice pushes). */
  countsPos: number;
}

export interface User {
  userId: string;
  devices: Map<string, Device>;
  displayName?: string;
  filters: Json[];
}

export interface RoomEvent extends Json {
  event_id: string;
  type: string;
  sender: string;
  room_id: string;
  origin_server_ts: number;
  content: Json;
  state_key?: string;
  unsigned?: Json;
}

export interface Room {
  roomId: string;
  state: Map<string, RoomEvent>;
  timeline: Array<{ pos: number; event: RoomEvent }>;
  /** Receipts: eventId → userId → ts. */
  receipts: Array<{ pos: number; userId: string; eventId: string; ts: number; type: string }>;
}

export class HsState {
  readonly server: string;
  pos = 0;
  readonly users = new Map<string, User>();
  readonly tokens = new Map<string, { userId: string; deviceId: string }>();
  readonly rooms = new Map<string, Room>();
  /** Device-list changes: user whose keys changed, at a position. */
  readonly keyChanges: Array<{ pos: number; userId: string }> = [];
  /** Transaction ids already used by (user, device) for idempotent sends. */
  readonly txns = new Map<string, string>();
  /** The media repository (hs-media.ts): media id → file, with who uploaded it. */
  readonly media = new Map<string, { type: string; data: Buffer; uploader: string; filename?: string }>();
  readonly #waiters = new Set<() => void>();

  constructor(server: string) {
    this.server = server;
  }

  bump(): number {
    this.pos += 1;
    for (const w of this.#waiters) w();
    this.#waiters.clear();
    return this.pos;
  }

  /** Resolves at the next bump, or after `ms`. */
  wait(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const t = setTimeout(() => {
        this.#waiters.delete(done);
        resolve();
      }, ms);
      const done = (): void => {
        clearTimeout(t);
        resolve();
      };
      this.#waiters.add(done);
    });
  }

  user(userId: string): User {
    let u = this.users.get(userId);
    if (!u) {
      u = { userId, devices: new Map(), filters: [] };
      this.users.set(userId, u);
    }
    return u;
  }

  device(userId: string, deviceId: string): Device {
    const u = this.user(userId);
    let d = u.devices.get(deviceId);
    if (!d) {
      d = { deviceId, otks: new Map(), fallback: new Map(), fallbackUsed: false, toDevice: [], countsPos: 0 };
      u.devices.set(deviceId, d);
    }
    return d;
  }

  newToken(userId: string, deviceId: string): string {
    const token = `tok_${randomBytes(12).toString('hex')}`;
    this.tokens.set(token, { userId, deviceId });
    this.device(userId, deviceId);
    return token;
  }

  membership(roomId: string, userId: string): string | undefined {
    const ev = this.rooms.get(roomId)?.state.get(`m.room.member|${userId}`);
    return ev?.content.membership as string | undefined;
  }

  members(roomId: string, membership = 'join'): string[] {
    const room = this.rooms.get(roomId);
    if (!room) return [];
    return [...room.state.values()].filter((e) => e.type === 'm.room.member' && e.content.membership === membership).map((e) => e.state_key as string);
  }

  roomsOf(userId: string, memberships = ['join']): Room[] {
    return [...this.rooms.values()].filter((r) => memberships.includes(this.membership(r.roomId, userId) ?? ''));
  }

  /** Appends an event to a room (state events also update the state). */
  append(roomId: string, sender: string, type: string, content: Json, stateKey?: string, txnId?: string): RoomEvent {
    const room = this.rooms.get(roomId);
    if (!room) throw new Error(`no room ${roomId}`);
    const event: RoomEvent = {
      event_id: `$${randomBytes(12).toString('base64url')}`,
      type, sender, room_id: roomId, origin_server_ts: Date.now(), content,
      ...(stateKey === undefined ? {} : { state_key: stateKey }),
      unsigned: txnId === undefined ? {} : { transaction_id: txnId },
    };
    const pos = this.bump();
    if (stateKey !== undefined) room.state.set(`${type}|${stateKey}`, event);
    room.timeline.push({ pos, event });
    return event;
  }

  /** Users who share a room with `userId` (and `userId`). */
  peersOf(userId: string): Set<string> {
    const out = new Set<string>([userId]);
    for (const r of this.roomsOf(userId, ['join', 'invite'])) for (const m of [...this.members(r.roomId), ...this.members(r.roomId, 'invite')]) out.add(m);
    return out;
  }

  otkCounts(d: Device): Record<string, number> {
    const counts: Record<string, number> = {};
    for (const id of d.otks.keys()) {
      const alg = id.split(':')[0] as string;
      counts[alg] = (counts[alg] ?? 0) + 1;
    }
    counts.signed_curve25519 ??= 0;
    return counts;
  }
}
