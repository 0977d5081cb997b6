// Matrix → hub: what the bridge does with each room event of a transaction. Invites of a puppet
// open a portal (the puppet's device exists before it joins, so the user's first encrypted message
// already includes it); invites of the bot open a management room; encrypted events are decrypted
// with the device of the bridge user in that room (kept for a retry when their keys have not
// arrived); messages from the portal's Matrix user go to the core (to-hub.ts, idempotent by event
// id, attachments and structured features included), those of a run of events in one
// `submitMany` (hub-batch.ts); read receipts go to the hub. Side effects are recorded per event
// id, so a replayed transaction does nothing twice.
import type { Bridge } from './bridge.ts';
import { handleCommand } from './commands.ts';
import { HubBatch } from './hub-batch.ts';
import type { Json } from './matrix-api.ts';
import type { Portal } from './portals.ts';
import { prepareToHub, type InboundDeps } from './to-hub.ts';

export { sendStatus, type DowngradeAction, type InboundDeps } from './to-hub.ts';

const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);

/**
 * Handles a run of room events in order (a group of a transaction: event-groups.ts), their
 * messages for the hub handed to the core together. `handled`: whether an event was handled
 * before, as read for the whole transaction.
 */
export async function handleEvents(d: InboundDeps, events: Json[], handled: (ev: Json) => boolean | undefined): Promise<void> {
  const batch = new HubBatch(d);
  try {
    for (const ev of events) await handleEvent(d, ev, handled(ev), batch);
  } catch (err) {
    // The messages of the events before the failing one go to the core, as they would have one
    // by one; the transaction fails and its retry starts at the failing event.
    await batch.flush().catch((e: unknown) => d.bridge.log.warn({ err: (e as Error).message }, 'messages before a failed event not submitted'));
    throw err;
  }
  await batch.flush();
}

/**
 * Handles one room event; resolves 'deferred' when it waits for its keys. `handled`: whether the
 * event was handled before, when the caller read it already (a transaction's events in one read).
 * With `batch`, its message for the hub (if any) is queued there, and recorded as handled when the
 * batch is flushed; without, it goes to the core before this resolves.
 */
export async function handleEvent(d: InboundDeps, ev: Json, handled?: boolean, batch?: HubBatch): Promise<'deferred' | undefined> {
  const b = d.bridge;
  const eventId = str(ev.event_id);
  const roomId = str(ev.room_id);
  const sender = str(ev.sender);
  const type = str(ev.type);
  if (!eventId || !roomId || !sender || !type) return undefined;
  // Whoever joined or left (the bridge's own users too), the room's key goes to its new members.
  if (type === 'm.room.member') b.forgetMembers(roomId);
  if (b.ids.isBridgeUser(sender)) return undefined; // our own events, echoed back
  if (handled ?? (await b.portals.handled(handledKey(eventId)))) return undefined;
  const own = batch ?? new HubBatch(d);
  const r = await handleFresh(d, own, { eventId, roomId, sender, type, content: (ev.content ?? {}) as Json, stateKey: str(ev.state_key), raw: ev });
  if (!batch) await own.flush();
  if (r === undefined) await b.portals.markHandled(handledKey(eventId));
  return r === 'deferred' ? r : undefined;
}

/** The key recording that a room event's side effects were done. */
export const handledKey = (eventId: string): string => `ev|${eventId}`;

interface Ev {
  eventId: string;
  roomId: string;
  sender: string;
  type: string;
  content: Json;
  stateKey: string | undefined;
  raw: Json;
}

/**
 * 'queued': the event's message waits in `batch`, which records the event as handled. What must
 * follow the messages queued before (a command, an invite) flushes the batch first.
 */
async function handleFresh(d: InboundDeps, batch: HubBatch, e: Ev): Promise<'deferred' | 'queued' | undefined> {
  const b = d.bridge;
  if (e.type === 'm.room.member') {
    if (e.content.membership !== 'invite' || e.stateKey === undefined) return undefined;
    await batch.flush();
    if (e.stateKey === b.ids.botUserId) await botInvited(b, e);
    else if (b.ids.hubUserOf(e.stateKey)) await puppetInvited(b, e, e.stateKey);
    return undefined;
  }
  let { type, content } = e;
  if (type === 'm.room.encrypted') {
    const reader = await readerOf(b, e.roomId);
    if (!reader) return undefined;
    try {
      const clear = await (await b.devices.get(reader)).decrypt(e.roomId, e.raw);
      if (clear.sender !== e.sender) return undefined; // the library checked the session; a mismatch is dropped
      ({ type, content } = clear);
    } catch (err) {
      b.log.info({ eventId: e.eventId, err: (err as { description?: string }).description ?? (err as Error).message }, 'undecryptable for now; kept for a retry');
      await d.deferUndecryptable(e.roomId, e.raw);
      return 'deferred';
    }
  }
  const portal = await b.portals.byRoom(e.roomId);
  if (portal) {
    if (e.sender !== portal.userId) return undefined;
    const m = await prepareToHub(d, portal, { eventId: e.eventId, type, content, raw: e.raw }, batch, handledKey(e.eventId));
    if (!m) return undefined;
    await batch.add(m);
    return 'queued';
  }
  const owner = await b.portals.isManagementRoom(e.roomId);
  if (owner === e.sender && type === 'm.room.message' && typeof content.body === 'string') {
    await batch.flush();
    await handleCommand(b, { roomId: e.roomId, userId: e.sender, text: content.body });
  }
  return undefined;
}

/** The bridge user whose device decrypts a room's events: the portal's puppet, else the bot. */
async function readerOf(b: Bridge, roomId: string): Promise<string | undefined> {
  const portal = await b.portals.byRoom(roomId);
  if (portal) return portal.puppet;
  return (await b.portals.isManagementRoom(roomId)) ? b.ids.botUserId : undefined;
}

async function puppetInvited(b: Bridge, e: Ev, puppet: string): Promise<void> {
  const hubUser = b.ids.hubUserOf(puppet) as string;
  const local = b.ids.localOf(e.sender);
  await b.ensureUser(puppet);
  if (!local) {
    await b.api.leave({ userId: puppet }, e.roomId).catch(() => undefined);
    return;
  }
  // The room's state is not readable before joining, and a device created after the join could
  // miss the user's first room key: the puppet's device and keys exist first, whatever the room.
  await b.devices.get(puppet);
  await b.api.join({ userId: puppet }, e.roomId);
  const encrypted = (await b.api.roomState({ userId: puppet }, e.roomId, 'm.room.encryption')) !== undefined;
  const portal: Portal = { roomId: e.roomId, userId: e.sender, local, hubUser, puppet, encrypted };
  await b.portals.save(portal);
  await b.api.sendState({ userId: puppet }, e.roomId, 'm.bridge', `causeway/hub/${hubUser}`, b.bridgeState(hubUser)).catch((err: unknown) => {
    b.log.debug({ err: (err as Error).message }, 'bridge state event not set (power levels)');
  });
  // The room name shows the third-party nature as in a portal the puppet creates: the user's own
  // name (if any) keeps it, with the suffix.
  const named = await b.api.roomState({ userId: puppet }, e.roomId, 'm.room.name').catch(() => undefined);
  const current = typeof named?.name === 'string' && named.name.trim() !== '' ? named.name : undefined;
  if (current === undefined || !current.endsWith(b.config.room_name_suffix)) {
    await b.api.sendState({ userId: puppet }, e.roomId, 'm.room.name', '', { name: b.roomName(hubUser, current) }).catch((err: unknown) => {
      b.log.debug({ err: (err as Error).message }, 'room name not set (power levels)');
    });
  }
  await b.placeInInbox(e.sender, e.roomId);
}

async function botInvited(b: Bridge, e: Ev): Promise<void> {
  await b.ensureUser(b.ids.botUserId);
  await b.api.join({ userId: b.ids.botUserId }, e.roomId);
  const encrypted = (await b.api.roomState({ userId: b.ids.botUserId }, e.roomId, 'm.room.encryption')) !== undefined;
  if (encrypted) await b.devices.get(b.ids.botUserId);
  await b.portals.setManagementRoom(e.sender, e.roomId);
  await handleCommand(b, { roomId: e.roomId, userId: e.sender, text: 'help' });
}

/** Matrix read receipts (ephemeral `m.receipt`) on hub messages → read receipts to the hub. */
export async function handleEphemeral(b: Bridge, ev: Json): Promise<void> {
  if (ev.type !== 'm.receipt' || typeof ev.room_id !== 'string') return;
  const portal = await b.portals.byRoom(ev.room_id);
  if (!portal) return;
  for (const [eventId, types] of Object.entries((ev.content ?? {}) as Record<string, Record<string, Record<string, unknown>>>)) {
    // Only a public receipt: `m.read.private` is the user's choice that others not see it.
    if (!(portal.userId in (types['m.read'] ?? {}))) continue;
    const m = await b.portals.messageOf(eventId);
    if (!m || m.sender !== portal.hubUser) continue;
    const ids = await b.portals.unreadUpTo(portal.roomId, m.id);
    if (ids.length === 0) continue;
    await b.requireCore().markRead(portal.local, portal.hubUser, ids, 'read');
    await b.portals.dropUnreadUpTo(portal.roomId, m.id);
  }
}
