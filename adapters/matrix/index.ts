// The Matrix adapter: a Matrix application service with end-to-bridge encryption. Matrix users of
// the homeserver talk to hub users through portal rooms, each with the hub user's puppet; the
// bridge's devices (matrix-sdk-crypto-wasm, state sealed in Redis) decrypt Megolm at the
// provider's edge, and the core re-encrypts with Signal for the hub. docs/matrix-adapter.md is the
// operator's documentation.
import { randomBytes } from 'node:crypto';
import type { Hono } from 'hono';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { Capabilities, Connector, CoreApi, InboundMessage, MessageStatus, Notice } from '../contract.ts';
import type { Keyring } from '../../src/crypto/keyring.ts';
import { Bridge } from './bridge.ts';
import type { MatrixConfig } from './config.ts';
import { DeviceStore } from './device-store.ts';
import { Devices } from './devices.ts';
import { deliverToMatrix, noticeToMatrix, statusToMatrix } from './hub-inbound.ts';
import { BridgeIds } from './ids.ts';
import { BridgeLease } from './lease.ts';
import { MatrixApi, type Json } from './matrix-api.ts';
import { groupEvents, handleGroups } from './event-groups.ts';
import { handledKey, handleEphemeral, handleEvent, handleEvents, type DowngradeAction, type InboundDeps } from './matrix-inbound.ts';
import { Portals } from './portals.ts';
import { appserviceRoutes } from './routes.ts';
import { StatusCoalescer } from './status-coalesce.ts';
import { readTransaction } from './transaction.ts';
import { Undecryptable } from './undecryptable.ts';

export { matrixConfigSchema, type MatrixConfig } from './config.ts';
export { buildRegistration, type Registration } from './registration.ts';

/** How many rooms (and users) of one transaction are handled at once. */
const EVENT_GROUPS_IN_PARALLEL = 8;

/** Spec 11 defaults of the downgrade policy (config/causeway.example.yaml `policy.downgrade`). */
const DEFAULT_DOWNGRADE: Record<string, DowngradeAction> = { 'view-once': 'reject', call: 'reject', status: 'drop' };

export interface MatrixConnectorOptions {
  id: string;
  config: MatrixConfig;
  redis: Redis;
  keyring: Keyring;
  /** The sidecar's Redis key prefix. */
  prefix: string;
  logger: Logger;
  /** Outbound downgrade action per feature; default: convert, except the spec 11 defaults above. */
  downgrade?: Record<string, DowngradeAction>;
}

export interface MatrixConnector extends Connector {
  /** Handles a transaction body as the route does (the bench drives it directly). */
  handleTransaction(body: Json): Promise<void>;
  readonly bridge: Bridge;
  /** Which replica runs the bridge's devices (lease.ts). */
  readonly lease: BridgeLease;
  readonly undecryptable: Undecryptable;
}

// Every media kind: attachments are bridged both ways (media-in.ts, media-out.ts).
const CAPABILITIES: Capabilities = { media: ['image', 'video', 'audio', 'voice', 'document'], receipts: true, features: [] };

export function createMatrixConnector(o: MatrixConnectorOptions): MatrixConnector {
  const log = o.logger.child({ adapter: o.id });
  const base = `${o.prefix}:${o.config.store_prefix}:${o.id}`;
  const ids = new BridgeIds(o.config);
  const api = new MatrixApi(o.config.homeserver_url, () => o.config.as_token.reveal());
  const portals = new Portals(o.redis, base);
  const ref: { bridge?: Bridge } = {};
  const lease: BridgeLease = new BridgeLease({
    redis: o.redis, key: `${base}:lease`, ttlMs: o.config.lease_ttl_ms, waitMs: o.config.lease_wait_ms, minHoldMs: o.config.lease_min_hold_ms, logger: log,
    // Whatever is in memory may be older than Redis: devices reload when first used, and what
    // was read of the rooms is read again.
    onAcquired: (): Promise<void> => forgetAll(),
    onReleasing: async () => {
      await devices.persistOpen();
      await devices.close();
    },
    onLost: (): Promise<void> => forgetAll(),
  });
  const forgetAll = async (): Promise<void> => {
    portals.forget();
    ref.bridge?.forgetMembers();
    await devices.close();
  };
  // The in-process databases get a namespace of their own (the stored names are relative to it).
  const devices: Devices = new Devices({
    api, store: new DeviceStore(o.redis, o.keyring, base, lease), namespace: `cw|${base}|${randomBytes(4).toString('hex')}`, logger: log,
    ensureUser: (u) => (ref.bridge as Bridge).ensureUser(u),
  });
  const bridge = new Bridge({ adapterId: o.id, config: o.config, ids, api, devices, portals, logger: log });
  ref.bridge = bridge;
  const undecryptable = new Undecryptable(o.redis, base, o.config.undecryptable_timeout_s);
  const policy = { ...DEFAULT_DOWNGRADE, ...o.downgrade };
  const deps: InboundDeps = {
    bridge,
    downgrade: (f) => policy[f] ?? 'convert',
    deferUndecryptable: (roomId, ev) => undecryptable.defer(roomId, ev),
  };
  // Statuses are held and merged before they take the lease (a held one occupies no device).
  const statuses = new StatusCoalescer({ mode: o.config.send_statuses, post: (s) => lease.run(() => statusToMatrix(bridge, s)) });
  let routes: Hono | undefined;
  let sweep: NodeJS.Timeout | undefined;

  /** Under the lease. */
  async function applyTransaction(body: Json): Promise<void> {
    const t = readTransaction(body);
    const touched = await devices.apply(t, (u) => ids.isBridgeUser(u));
    if (t.toDevice.length > 0) await undecryptable.retry(bridge, (ev) => handleEvent(deps, ev));
    // Which events were handled before, in one read (after the retries above, which may handle
    // some); an event listed twice in one transaction is handled once.
    const eventIds = [...new Set(t.events.map((ev) => ev.event_id).filter((id): id is string => typeof id === 'string'))];
    const done = await portals.handledOf(eventIds.map(handledKey));
    const once = new Set<string>();
    const events = t.events.filter((ev) => typeof ev.event_id !== 'string' || (!once.has(ev.event_id) && once.add(ev.event_id)));
    // Rooms and users in parallel, each one's events in order (event-groups.ts), a group's messages
    // for the hub handed to the core together (hub-batch.ts).
    const handled = (ev: Json): boolean | undefined => (typeof ev.event_id === 'string' ? done.has(handledKey(ev.event_id)) : undefined);
    await handleGroups(groupEvents(events), EVENT_GROUPS_IN_PARALLEL, (group) => handleEvents(deps, group, handled));
    for (const ev of t.ephemeral) await handleEphemeral(bridge, ev);
    // Crypto state changed by this transaction reaches Redis before the homeserver hears "done".
    await devices.persist(touched);
    await devices.persistOpen();
  }
  const handleTransaction = (body: Json): Promise<void> => lease.run(() => applyTransaction(body));

  return {
    type: 'matrix',
    id: o.id,
    capabilities: CAPABILITIES,
    bridge,
    undecryptable,
    lease,
    handleTransaction,
    init(core: CoreApi) {
      bridge.core = core;
    },
    routes() {
      routes ??= appserviceRoutes({
        hsToken: () => o.config.hs_token.reveal(),
        redis: o.redis, base, txnRetentionS: o.config.txn_retention_s, logger: log,
        onTransaction: (_txnId, body) => handleTransaction(body),
        userExists: async (userId) => {
          if (!ids.isBridgeUser(userId)) return false;
          await bridge.ensureUser(userId);
          return true;
        },
      });
      return routes;
    },
    async start() {
      await Devices.init();
      await bridge.ensureUser(ids.botUserId);
      lease.start();
      sweep = setInterval(() => {
        void lease.runIfHeld(() => undecryptable.retry(bridge, (ev) => handleEvent(deps, ev))).catch((err: unknown) => log.warn({ err: (err as Error).message }, 'undecryptable sweep failed'));
      }, Math.min(10_000, o.config.undecryptable_timeout_s * 500));
      sweep.unref();
    },
    async stop() {
      if (sweep) clearInterval(sweep);
      await statuses.flush().catch((err: unknown) => log.warn({ err: (err as Error).message }, 'held send statuses not posted'));
      await lease.stop();
      await devices.close();
      api.close();
    },
    // Hub → Matrix work runs on any replica (the core's queues): it takes the lease too.
    deliver: (m: InboundMessage) => lease.run(() => deliverToMatrix(bridge, m)),
    status: (s: MessageStatus) => statuses.submit(s),
    notice: (n: Notice) => lease.run(() => noticeToMatrix(bridge, n)),
  };
}
