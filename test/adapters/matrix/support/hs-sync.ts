// Test homeserver: GET /sync for ordinary users (long-polling on the global stream position).
// An initial sync (no `since`) returns each room's whole timeline with an empty `state` (the
// client derives the state from it); a room joined after `since` is sent whole as well.
import type { Ctx, Router } from './hs-http.ts';
import type { HsState, Json, RoomEvent } from './hs-state.ts';

export function syncRoutes(r: Router, s: HsState): void {
  r.on('GET', '/_matrix/client/v3/sync', async (c: Ctx) => {
    const { userId, deviceId } = c.caller();
    const since = Number(c.query.get('since') ?? '0');
    const timeout = Math.min(Number(c.query.get('timeout') ?? '0'), 30_000);
    const device = deviceId === undefined ? undefined : s.device(userId, deviceId);
    if (device) device.toDevice = device.toDevice.filter((t) => t.pos > since);
    if (s.pos <= since && timeout > 0) await s.wait(timeout);
    const pos = s.pos;

    const join: Record<string, Json> = {};
    const invite: Record<string, Json> = {};
    const leave: Record<string, Json> = {};
    for (const room of s.rooms.values()) {
      const mine = room.state.get(`m.room.member|${userId}`);
      if (!mine) continue;
      const membership = mine.content.membership;
      const minePos = room.timeline.find((t) => t.event.event_id === mine.event_id)?.pos ?? 0;
      if (membership === 'invite') {
        if (minePos > since) {
          const stripped = [...room.state.values()]
            .filter((e) => ['m.room.create', 'm.room.name', 'm.room.encryption', 'm.room.join_rules', 'm.room.member'].includes(e.type))
            .map((e) => ({ type: e.type, state_key: e.state_key, sender: e.sender, content: e.content }));
          invite[room.roomId] = { invite_state: { events: stripped } };
        }
        continue;
      }
      if (membership === 'leave') {
        if (minePos > since) leave[room.roomId] = { timeline: { events: [] } };
        continue;
      }
      if (membership !== 'join') continue;
      const from = minePos > since ? 0 : since;
      const events = room.timeline.filter((t) => t.pos > from && t.pos <= pos).map((t) => t.event);
      const receipts = room.receipts.filter((x) => x.pos > from && x.pos <= pos);
      if (events.length === 0 && receipts.length === 0 && from !== 0) continue;
      join[room.roomId] = {
        timeline: { events: events.map((e) => forUser(e, userId)), limited: false, prev_batch: String(from) },
        state: { events: [] },
        ephemeral: { events: receipts.length > 0 ? [receiptEvent(receipts)] : [] },
        account_data: { events: [] },
        unread_notifications: { notification_count: 0, highlight_count: 0 },
        summary: {},
      };
    }

    const changed = new Set<string>();
    if (since > 0) {
      const peers = s.peersOf(userId);
      for (const k of s.keyChanges) if (k.pos > since && k.pos <= pos && peers.has(k.userId)) changed.add(k.userId);
      for (const room of s.roomsOf(userId)) {
        for (const t of room.timeline) {
          if (t.pos > since && t.pos <= pos && t.event.type === 'm.room.member' && t.event.content.membership === 'join') changed.add(t.event.state_key as string);
        }
      }
    }
    return {
      next_batch: String(pos),
      rooms: { join, invite, leave },
      to_device: { events: device ? device.toDevice.filter((t) => t.pos <= pos).map((t) => t.event) : [] },
      device_lists: { changed: [...changed], left: [] },
      device_one_time_keys_count: device ? s.otkCounts(device) : {},
      device_unused_fallback_key_types: device && device.fallback.size > 0 && !device.fallbackUsed ? ['signed_curve25519'] : [],
      account_data: { events: [] },
      presence: { events: [] },
    };
  });
}

/** `unsigned.transaction_id` only for the sender (C-S API "Transaction identifiers"). */
function forUser(e: RoomEvent, userId: string): RoomEvent {
  if (e.sender === userId) return e;
  const { transaction_id: _t, ...unsigned } = e.unsigned ?? {};
  return { ...e, unsigned };
}

export function receiptEvent(receipts: Array<{ userId: string; eventId: string; ts: number; type: string }>): Json {
  const content: Record<string, Record<string, Record<string, Json>>> = {};
  for (const x of receipts) ((content[x.eventId] ??= {})[x.type] ??= {})[x.userId] = { ts: x.ts };
  return { type: 'm.receipt', content };
}
