// Test homeserver: rooms (create, invite, join, leave, send, state, members, receipts), profiles,
// account data (media: hs-media.ts); membership is the only authorization rule enforced.
import { randomBytes } from 'node:crypto';
import { MatrixError, type Router } from './hs-http.ts';
import type { HsState, Json } from './hs-state.ts';

export interface RoomHooks {
  /** Called when an invite targets a user the server does not know (appservice users query). */
  unknownUser(userId: string): Promise<boolean>;
}

export function roomRoutes(r: Router, s: HsState, hooks: RoomHooks): void {
  const C = '/_matrix/client/v3';
  const mustJoin = (roomId: string, userId: string): void => {
    if (!s.rooms.has(roomId)) throw new MatrixError(404, 'M_NOT_FOUND', 'no such room');
    if (s.membership(roomId, userId) !== 'join') throw new MatrixError(403, 'M_FORBIDDEN', `${userId} is not in ${roomId}`);
  };
  const invite = async (roomId: string, sender: string, target: string): Promise<void> => {
    mustJoin(roomId, sender);
    if (!s.users.has(target) && !(await hooks.unknownUser(target))) throw new MatrixError(404, 'M_NOT_FOUND', `unknown user ${target}`);
    if (s.membership(roomId, target) === 'join') return;
    s.append(roomId, sender, 'm.room.member', { membership: 'invite', displayname: s.users.get(target)?.displayName }, target);
  };
  const join = (roomId: string, userId: string): void => {
    const room = s.rooms.get(roomId);
    if (!room) throw new MatrixError(404, 'M_NOT_FOUND', 'no such room');
    const m = s.membership(roomId, userId);
    if (m === 'join') return;
    const rule = room.state.get('m.room.join_rules|')?.content.join_rule;
    if (m !== 'invite' && rule !== 'public') throw new MatrixError(403, 'M_FORBIDDEN', 'not invited');
    const u = s.user(userId);
    s.append(roomId, userId, 'm.room.member', { membership: 'join', ...(u.displayName ? { displayname: u.displayName } : {}) }, userId);
  };

  r.on('POST', `${C}/createRoom`, async (c) => {
    const { userId } = c.caller();
    const b = c.body as { name?: string; topic?: string; preset?: string; invite?: string[]; initial_state?: Array<{ type: string; state_key?: string; content: Json }>; is_direct?: boolean; creation_content?: Json };
    const roomId = `!${randomBytes(9).toString('base64url')}:${s.server}`;
    s.rooms.set(roomId, { roomId, state: new Map(), timeline: [], receipts: [] });
    s.append(roomId, userId, 'm.room.create', { creator: userId, room_version: '10', ...(b.creation_content ?? {}) }, '');
    s.append(roomId, userId, 'm.room.member', { membership: 'join' }, userId);
    s.append(roomId, userId, 'm.room.power_levels', { users: { [userId]: 100 }, users_default: 0, events_default: 0, state_default: 50, invite: 0 }, '');
    s.append(roomId, userId, 'm.room.join_rules', { join_rule: b.preset === 'public_chat' ? 'public' : 'invite' }, '');
    s.append(roomId, userId, 'm.room.history_visibility', { history_visibility: 'shared' }, '');
    for (const e of b.initial_state ?? []) s.append(roomId, userId, e.type, e.content, e.state_key ?? '');
    if (b.name) s.append(roomId, userId, 'm.room.name', { name: b.name }, '');
    if (b.topic) s.append(roomId, userId, 'm.room.topic', { topic: b.topic }, '');
    for (const target of b.invite ?? []) {
      await invite(roomId, userId, target);
      if (b.is_direct) {
        const ev = s.rooms.get(roomId)?.state.get(`m.room.member|${target}`);
        if (ev) ev.content.is_direct = true;
      }
    }
    return { room_id: roomId };
  });

  r.on('POST', `${C}/rooms/{room}/invite`, async (c) => {
    await invite(c.params[0] as string, c.caller().userId, c.body.user_id as string);
    return {};
  });
  r.on('POST', `${C}/join/{room}`, (c) => {
    join(c.params[0] as string, c.caller().userId);
    return { room_id: c.params[0] };
  });
  r.on('POST', `${C}/rooms/{room}/join`, (c) => {
    join(c.params[0] as string, c.caller().userId);
    return { room_id: c.params[0] };
  });
  r.on('POST', `${C}/rooms/{room}/leave`, (c) => {
    const roomId = c.params[0] as string;
    const { userId } = c.caller();
    if (s.membership(roomId, userId)) s.append(roomId, userId, 'm.room.member', { membership: 'leave' }, userId);
    return {};
  });

  r.on('PUT', `${C}/rooms/{room}/send/{type}/{txn}`, (c) => {
    const [roomId, type, txn] = c.params as [string, string, string];
    const { userId, deviceId } = c.caller();
    mustJoin(roomId, userId);
    const key = `send|${userId}|${deviceId ?? ''}|${roomId}|${txn}`;
    const seen = s.txns.get(key);
    if (seen) return { event_id: seen };
    const ev = s.append(roomId, userId, type, c.body, undefined, txn);
    s.txns.set(key, ev.event_id);
    return { event_id: ev.event_id };
  });

  r.on('PUT', `${C}/rooms/{room}/redact/{event}/{txn}`, (c) => {
    const [roomId, redacts] = c.params as [string, string];
    const { userId } = c.caller();
    mustJoin(roomId, userId);
    const ev = s.append(roomId, userId, 'm.room.redaction', { ...c.body, redacts });
    ev.redacts = redacts;
    return { event_id: ev.event_id };
  });

  r.on('PUT', `${C}/rooms/{room}/state/{type}{*}`, (c) => {
    const [roomId, type, rest] = c.params as [string, string, string];
    const { userId } = c.caller();
    mustJoin(roomId, userId);
    const ev = s.append(roomId, userId, type, c.body, rest.replace(/^\//, ''));
    return { event_id: ev.event_id };
  });
  r.on('GET', `${C}/rooms/{room}/state/{type}{*}`, (c) => {
    const [roomId, type, rest] = c.params as [string, string, string];
    mustJoin(roomId, c.caller().userId);
    const ev = s.rooms.get(roomId)?.state.get(`${type}|${rest.replace(/^\//, '')}`);
    if (!ev) throw new MatrixError(404, 'M_NOT_FOUND', 'no such state');
    return ev.content;
  });
  r.on('GET', `${C}/rooms/{room}/state`, (c) => {
    const roomId = c.params[0] as string;
    mustJoin(roomId, c.caller().userId);
    return [...(s.rooms.get(roomId)?.state.values() ?? [])];
  });
  r.on('GET', `${C}/rooms/{room}/members`, (c) => {
    const roomId = c.params[0] as string;
    const room = s.rooms.get(roomId);
    if (!room) throw new MatrixError(404, 'M_NOT_FOUND', 'no such room');
    return { chunk: [...room.state.values()].filter((e) => e.type === 'm.room.member') };
  });
  r.on('GET', `${C}/rooms/{room}/joined_members`, (c) => {
    const roomId = c.params[0] as string;
    mustJoin(roomId, c.caller().userId);
    return { joined: Object.fromEntries(s.members(roomId).map((u) => [u, { display_name: s.users.get(u)?.displayName ?? null }])) };
  });
  r.on('GET', `${C}/rooms/{room}/messages`, () => ({ chunk: [], start: '0', end: '0' }));
  r.on('POST', `${C}/rooms/{room}/receipt/{type}/{event}`, (c) => {
    const [roomId, type, eventId] = c.params as [string, string, string];
    const { userId } = c.caller();
    mustJoin(roomId, userId);
    s.rooms.get(roomId)?.receipts.push({ pos: s.bump(), userId, eventId, ts: Date.now(), type });
    return {};
  });
  r.on('POST', `${C}/rooms/{room}/read_markers`, () => ({}));
  r.on('PUT', `${C}/rooms/{room}/typing/{user}`, () => ({}));

  r.on('GET', `${C}/profile/{user}`, (c) => ({ displayname: s.users.get(c.params[0] as string)?.displayName }));
  r.on('GET', `${C}/profile/{user}/displayname`, (c) => ({ displayname: s.users.get(c.params[0] as string)?.displayName }));
  r.on('PUT', `${C}/profile/{user}/displayname`, (c) => {
    s.user(c.caller().userId).displayName = c.body.displayname as string;
    return {};
  });
  r.on('PUT', `${C}/profile/{user}/avatar_url`, () => ({}));
  r.on('PUT', `${C}/user/{user}/account_data/{type}`, () => ({}));
  r.on('PUT', `${C}/user/{user}/rooms/{room}/account_data/{type}`, () => ({}));
  r.on('GET', `${C}/user/{user}/account_data/{type}`, () => {
    throw new MatrixError(404, 'M_NOT_FOUND', 'no account data');
  });
}
