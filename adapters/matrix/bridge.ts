// The Matrix side of the bridge, shared by the inbound (Matrix → hub) and outbound (hub → Matrix)
// paths: users (the bot and puppets, registered on demand), sending as a bridge user (encrypted
// with that user's device when the room is encrypted), portal creation with the third-party
// markers (room name suffix, an `m.bridge` state event naming the hub), the per-user inbox mode
// (combined, or a "Third-party chats" space), and notices.
import type { Logger } from 'pino';
import type { CoreApi } from '../contract.ts';
import type { MatrixConfig } from './config.ts';
import type { Devices } from './devices.ts';
import type { BridgeIds } from './ids.ts';
import type { Json, MatrixApi } from './matrix-api.ts';
import type { Portal, Portals } from './portals.ts';
import { Serial } from './serial.ts';

/** The state event that names the bridged network (MSC2346), so clients can show it. */
export const BRIDGE_STATE = 'm.bridge';

/** How long a room's joined members are reused without a membership event forgetting them. */
export const MEMBERS_TTL_MS = 60_000;

export class Bridge {
  readonly config: MatrixConfig;
  readonly ids: BridgeIds;
  readonly api: MatrixApi;
  readonly devices: Devices;
  readonly portals: Portals;
  readonly log: Logger;
  readonly adapterId: string;
  readonly serial = new Serial();
  core: CoreApi | undefined;
  readonly #registered = new Set<string>();
  /** Joined members per room, forgotten on the room's membership events (matrix-inbound.ts). */
  readonly #members = new Map<string, { list: string[]; at: number }>();

  constructor(o: { adapterId: string; config: MatrixConfig; ids: BridgeIds; api: MatrixApi; devices: Devices; portals: Portals; logger: Logger }) {
    this.adapterId = o.adapterId;
    this.config = o.config;
    this.ids = o.ids;
    this.api = o.api;
    this.devices = o.devices;
    this.portals = o.portals;
    this.log = o.logger;
  }

  requireCore(): CoreApi {
    if (!this.core) throw new Error('the Matrix adapter was not initialized with the core');
    return this.core;
  }

  /** Registers a bridge user on the homeserver once per process (registration is idempotent). */
  async ensureUser(userId: string): Promise<void> {
    if (this.#registered.has(userId)) return;
    const localpart = userId.slice(1, userId.indexOf(':'));
    await this.api.register(localpart, { userId });
    const hubUser = this.ids.hubUserOf(userId);
    const name = hubUser
      ? this.config.puppet_displayname.replace('{name}', `+${hubUser.replace(/@hub$/, '')}`)
      : this.config.bot_displayname;
    await this.api.setDisplayName({ userId }, name).catch((err: unknown) => this.log.debug({ err: (err as Error).message }, 'display name not set'));
    this.#registered.add(userId);
  }

  /** Sends an event as a bridge user; encrypted with its device in an encrypted room. */
  async sendAs(userId: string, roomId: string, type: string, content: Json, encrypted: boolean, extraMembers: string[] = [], txnId?: string): Promise<string> {
    await this.ensureUser(userId);
    if (!encrypted) return this.api.sendEvent({ userId }, roomId, type, content, txnId);
    const device = await this.devices.get(userId);
    const members = [...new Set([...(await this.joinedMembers(userId, roomId)), ...extraMembers])];
    const enc = await device.encrypt(roomId, members, type, content);
    // The group session's new index is in Redis before the ciphertext leaves: a restarted bridge
    // never encrypts twice at one index. Concurrent sends of a device share one write.
    await device.persist();
    return this.api.sendEvent({ userId, deviceId: device.deviceId }, roomId, 'm.room.encrypted', enc, txnId);
  }

  /**
   * A room's joined members as `userId` (a member) sees them: asked of the homeserver, then reused
   * until a membership event of the room arrives (`forgetMembers`) or for MEMBERS_TTL_MS.
   */
  async joinedMembers(userId: string, roomId: string): Promise<string[]> {
    const known = this.#members.get(roomId);
    if (known && Date.now() - known.at < MEMBERS_TTL_MS) return known.list;
    const at = Date.now();
    const list = await this.api.joinedMembers({ userId }, roomId);
    // A membership event handled while the request ran wins: its room is left unknown.
    if (this.#members.get(roomId) === known) this.#members.set(roomId, { list, at });
    return list;
  }

  /** Forgets the members of a room (a membership event), or of every room (the lease moved). */
  forgetMembers(roomId?: string): void {
    if (roomId === undefined) this.#members.clear();
    else this.#members.set(roomId, { list: [], at: -Infinity });
  }

  /** Sends into a portal as its puppet. */
  sendToPortal(p: Portal, type: string, content: Json): Promise<string> {
    return this.sendAs(p.puppet, p.roomId, type, content, p.encrypted, [p.userId]);
  }

  /** A notice from the puppet in the portal (`m.notice`). */
  notice(p: Portal, text: string): Promise<string> {
    return this.sendToPortal(p, 'm.room.message', { msgtype: 'm.notice', body: text });
  }

  /**
   * A notice from the bot to `userId` in their management room, encrypted when the room is:
   * `encrypted` when the caller knows, else looked up (a failed look-up throws: never sent in the
   * clear by mistake).
   */
  async botNotice(roomId: string, userId: string, text: string, encrypted?: boolean): Promise<string> {
    const e = encrypted ?? (await this.api.roomState({ userId: this.ids.botUserId }, roomId, 'm.room.encryption')) !== undefined;
    return this.sendAs(this.ids.botUserId, roomId, 'm.room.message', { msgtype: 'm.notice', body: text }, e, [userId]);
  }

  /** The room's name as the bridge sets it: the hub contact, and the third-party suffix. */
  roomName(hubUser: string, name?: string): string {
    return `${name ?? `+${hubUser.replace(/@hub$/, '')}`}${this.config.room_name_suffix}`;
  }

  bridgeState(hubUser: string): Json {
    return {
      bridgebot: this.ids.botUserId,
      protocol: { id: 'hub', displayname: this.config.hub_name },
      network: { id: 'hub', displayname: this.config.hub_name },
      channel: { id: hubUser, displayname: `+${hubUser.replace(/@hub$/, '')}` },
      'org.causeway.third_party': true,
    };
  }

  /** The portal of (Matrix user, hub user), created by the puppet (with the user invited) if needed. */
  async ensurePortal(userId: string, local: string, hubUser: string): Promise<Portal> {
    return this.serial.run(`portal|${local}|${hubUser}`, async () => {
      const existing = await this.portals.byPair(local, hubUser);
      if (existing) return existing;
      const puppet = this.ids.puppetOf(hubUser);
      await this.ensureUser(puppet);
      const encrypted = this.config.encrypt_portals;
      const roomId = await this.api.createRoom({ userId: puppet }, {
        preset: 'private_chat',
        is_direct: true,
        invite: [userId],
        name: this.roomName(hubUser),
        topic: `A chat with a ${this.config.hub_name} user, bridged by Causeway. Messages leave this homeserver.`,
        initial_state: [
          ...(encrypted ? [{ type: 'm.room.encryption', state_key: '', content: { algorithm: 'm.megolm.v1.aes-sha2' } }] : []),
          { type: BRIDGE_STATE, state_key: `causeway/hub/${hubUser}`, content: this.bridgeState(hubUser) },
        ],
      });
      const portal: Portal = { roomId, userId, local, hubUser, puppet, encrypted };
      await this.portals.save(portal);
      if (encrypted) await this.devices.get(puppet); // the puppet's device exists before the user's first message
      await this.placeInInbox(userId, roomId);
      return portal;
    });
  }

  /** Space mode: the portal becomes a child of the user's "Third-party chats" space. */
  async placeInInbox(userId: string, roomId: string): Promise<void> {
    if ((await this.portals.inboxMode(userId, this.config.inbox_mode)) !== 'space') return;
    const space = await this.ensureSpace(userId);
    await this.api.sendState({ userId: this.ids.botUserId }, space, 'm.space.child', roomId, { via: [this.config.server_name] });
  }

  async ensureSpace(userId: string): Promise<string> {
    const existing = await this.portals.space(userId);
    if (existing) return existing;
    await this.ensureUser(this.ids.botUserId);
    const space = await this.api.createRoom({ userId: this.ids.botUserId }, {
      preset: 'private_chat',
      name: this.config.space_name,
      topic: `Chats with ${this.config.hub_name} users (third-party network)`,
      invite: [userId],
      creation_content: { type: 'm.space' },
    });
    await this.portals.setSpace(userId, space);
    return space;
  }
}
