// The stack of the Matrix bench path, in the bench process (one thread, like the raw-decrypt
// ceiling it is compared with): the mock hub (bench mode: decrypts a sample of sessions), the real
// Core on the bench's redis-server, the in-process homeserver of the Matrix tests, and the Matrix
// connector, whose transactions the bench hands over directly (`handleTransaction`, the route's
// handler without HTTP). Portals are set up as in production: the bridge creates each one with the
// puppet (its device and keys first), the Matrix user joins and shares a Megolm room key, and the
// to-device message carrying it reaches the bridge in a transaction.
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import pino from 'pino';
import { createMatrixConnector, matrixConfigSchema, type MatrixConnector } from '../adapters/matrix/index.ts';
import type { SendStatuses } from '../adapters/matrix/status-coalesce.ts';
import { policySchema } from '../src/config/policy-schema.ts';
import { Core } from '../src/core.ts';
import { Keyring } from '../src/crypto/keyring.ts';
import { ProviderKey } from '../src/hub/provider-key.ts';
import { SessionManager } from '../src/hub/sessions.ts';
import { startMockHub, type MockHub } from '../src/mock-hub/index.ts';
import { startHomeserver, type TestHomeserver } from '../test/adapters/matrix/support/homeserver.ts';
import { Redis } from 'ioredis';
import { BenchMatrixDevice } from './matrix-sender.ts';
import { hubPhone } from './stack.ts';

const SERVER = 'bench.example';
const silent = pino({ level: 'silent' });

export interface MatrixPortal {
  roomId: string;
  sender: BenchMatrixDevice;
  hubUser: string;
  puppet: string;
}

export interface MatrixStack {
  hub: MockHub;
  hs: TestHomeserver;
  core: Core;
  connector: MatrixConnector;
  redis: Redis;
  portals: MatrixPortal[];
  deliverRoomKeys(): Promise<void>;
  close(): Promise<void>;
}

/**
 * `matrixUsers` × `hubUsers` portals, each with the Matrix user's room key already at the bridge.
 * `sendStatuses`: the connector's `send_statuses` option, left at its default when absent.
 */
export async function startMatrixStack(o: { redisUrl: string; matrixUsers: number; hubUsers: number; decryptSampleRate: number; sendStatuses?: SendStatuses }): Promise<MatrixStack> {
  const prefix = `bench-mx-${randomBytes(3).toString('hex')}`;
  // As the sidecar's main connection (src/main.ts): commands issued in one tick share a write.
  const redis = new Redis(o.redisUrl, { maxRetriesPerRequest: null, enableAutoPipelining: true });
  const { privateKey } = generateKeyPairSync('ed25519');
  const key = await ProviderKey.load(JSON.stringify(privateKey.export({ format: 'jwk' })), 'birdy-1');
  const hub = await startMockHub({
    listen: { host: '127.0.0.1', port: 0 }, admin_token: 'bench-admin',
    providers: [{ id: 'birdy', name: 'BirdyChat', jwks: key.jwks() as { keys: Array<Record<string, unknown>> } }],
    users: Array.from({ length: o.hubUsers }, (_, i) => ({ phone: hubPhone(i), devices: [0], script: { echo: false, receipts: false, read: false, delay_ms: 0 } })),
    simulation: { decrypt_sample_rate: o.decryptSampleRate },
  }, { logger: silent });
  const ref: { core?: Core } = {};
  const sessions = new SessionManager({
    hubUrl: hub.url.replace(/^http/, 'ws'), hubId: 'hub', providerId: 'birdy', key, tokenTtlS: 300,
    maxOpen: 1000, idleCloseMs: 3_600_000, reconnectMinMs: 50, reconnectMaxMs: 1000,
    onInbound: (conn, s) => ref.core?.onInbound(conn, s),
    onOpened: (conn) => ref.core?.onOpened(conn),
  });
  const keyring = new Keyring([{ id: 'k1', key: randomBytes(32) }], 'k1');
  const core = (ref.core = new Core({
    redis, keyring, prefix, providerId: 'birdy', sessions, maxTextBytes: 65_536, maxAttempts: 5, backoff: { base: 100, max: 2000 },
    concurrency: 32, ackTimeoutMs: 10_000, maxQueueAgeMs: 3_600_000, preKeys: 20, policy: policySchema.parse({}), logger: silent,
  }));
  const raw = {
    homeserver_url: 'http://127.0.0.1:1', server_name: SERVER, appservice_url: 'http://127.0.0.1:1',
    as_token: 'bench-as-token', hs_token: 'bench-hs-token', undecryptable_timeout_s: 600,
    ...(o.sendStatuses ? { send_statuses: o.sendStatuses } : {}),
  };
  const hs = await startHomeserver({ serverName: SERVER, registration: matrixConfigSchema.parse(raw).registration() });
  hs.appservice.paused = true; // the bench hands the transactions over itself
  const connector = createMatrixConnector({ id: 'matrix', config: matrixConfigSchema.parse({ ...raw, homeserver_url: hs.url }), redis, keyring, prefix, logger: silent });
  core.register(connector);
  await core.start();
  await connector.start();

  const portals: MatrixPortal[] = [];
  for (let m = 0; m < o.matrixUsers; m++) {
    const local = `mx${String(m).padStart(3, '0')}`;
    const sender = await BenchMatrixDevice.create(hs, local);
    await core.setInterop('matrix', local, true);
    for (let h = 0; h < o.hubUsers; h++) {
      const hubUser = `${hubPhone(h).slice(1)}@hub`;
      const portal = await connector.lease.run(() => connector.bridge.ensurePortal(sender.userId, local, hubUser)); // devices only under the lease
      await sender.join(portal.roomId);
      await sender.shareRoomKey(portal.roomId, [sender.userId, portal.puppet]);
      portals.push({ roomId: portal.roomId, sender, hubUser, puppet: portal.puppet });
    }
    await deliverRoomKeys();
  }
  /** The room keys queued for the puppets' devices (Olm-encrypted), in a transaction as the homeserver would push them. */
  async function deliverRoomKeys(): Promise<void> {
    const toDevice = [];
    for (const u of hs.state.users.values()) {
      if (!connector.bridge.ids.isBridgeUser(u.userId)) continue;
      for (const d of u.devices.values()) for (const t of d.toDevice.splice(0)) toDevice.push({ ...t.event, to_user_id: u.userId, to_device_id: d.deviceId });
    }
    await connector.handleTransaction({ events: [], 'de.sorunome.msc2409.to_device': toDevice });
  }
  return {
    hub, hs, core, connector, redis, portals, deliverRoomKeys,
    async close() {
      await connector.stop().catch(() => undefined);
      await core.close().catch(() => undefined);
      sessions.stop();
      await hs.close();
      await hub.close();
      redis.disconnect();
    },
  };
}
