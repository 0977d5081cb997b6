// The Matrix adapter wired for end-to-end tests: the delivery harness (real Redis, in-process mock
// hub, the real Core) plus the in-process homeserver and the Matrix connector serving its
// appservice routes on a real port, matrix-js-sdk clients with Rust crypto as Matrix users, and
// the core's media service (fs blob store, routes on a loopback port) for attachments.
import { serve, type ServerType } from '@hono/node-server';
import { ClientEvent, createClient, SyncState, type MatrixClient, type MatrixEvent } from 'matrix-js-sdk';
import type { Logger as SdkLogger } from 'matrix-js-sdk/lib/logger.js';
import { randomBytes } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import pino from 'pino';
import { Keyring } from '../../../../src/crypto/keyring.ts';
import { createMatrixConnector, matrixConfigSchema, type MatrixConnector } from '../../../../adapters/matrix/index.ts';
import type { DowngradeAction } from '../../../../adapters/matrix/matrix-inbound.ts';
import { policySchema } from '../../../../src/config/policy-schema.ts';
import { harness, until } from '../../../delivery/harness.ts';
import { serviceEnv } from '../../../media/support/service-env.ts';
import { startHomeserver, type TestHomeserver } from './homeserver.ts';

export const SERVER = 'example.org';
export const AS_TOKEN = 'as-token-for-tests';
export const HS_TOKEN = 'hs-token-for-tests';

const noop = (): void => undefined;
/** matrix-js-sdk's logging, silent unless CAUSEWAY_TEST_LOG=debug. */
const sdkLogger: SdkLogger =
  process.env.CAUSEWAY_TEST_LOG === 'debug'
    ? { trace: console.debug, debug: console.debug, info: console.info, warn: console.warn, error: console.error, getChild: () => sdkLogger }
    : { trace: noop, debug: noop, info: noop, warn: noop, error: noop, getChild: () => sdkLogger };

export type Harness = Awaited<ReturnType<typeof matrixHarness>>;

export async function matrixHarness(o: {
  hubUsers?: Parameters<typeof harness>[0];
  /** The connector's own option (features the bridge converts itself). */
  downgrade?: Record<string, DowngradeAction>;
  /** The core's `policy` section (src/policy), as in the config file. */
  policy?: Record<string, unknown>;
  config?: Record<string, unknown>;
} = {}) {
  // The core's media service (src/media) on a loopback port, so that hub devices fetch what it hosts.
  const mediaEnv = await serviceEnv();
  const h = await harness(o.hubUsers ?? {}, { media: () => mediaEnv.media, policy: policySchema.parse(o.policy ?? {}) });
  const keyring = new Keyring([{ id: 'mx1', key: randomBytes(32) }], 'mx1');
  const logger = pino({ level: process.env.CAUSEWAY_TEST_LOG ?? 'silent' });
  const rawConfig = {
    homeserver_url: 'http://127.0.0.1:1', server_name: SERVER, appservice_url: 'http://127.0.0.1:1',
    as_token: AS_TOKEN, hs_token: HS_TOKEN, undecryptable_timeout_s: 2, ...o.config,
  };
  const registration = matrixConfigSchema.parse(rawConfig).registration();
  const hs: TestHomeserver = await startHomeserver({ serverName: SERVER, registration });

  let connector: MatrixConnector;
  let server: ServerType;
  let bridgeUrl = '';
  const startBridge = async (): Promise<void> => {
    const config = matrixConfigSchema.parse({ ...rawConfig, homeserver_url: hs.url });
    connector = createMatrixConnector({ id: 'matrix', config, redis: h.redis, keyring, prefix: h.prefix, logger, ...(o.downgrade ? { downgrade: o.downgrade } : {}) });
    h.core.register(connector);
    const routes = connector.routes?.();
    if (!routes) throw new Error('no routes');
    server = await new Promise<ServerType>((resolve) => {
      const s = serve({ fetch: routes.fetch, hostname: '127.0.0.1', port: 0 }, () => resolve(s));
    });
    bridgeUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    hs.appservice.reg.url = bridgeUrl;
    await connector.start();
  };
  const stopBridge = async (): Promise<void> => {
    hs.appservice.paused = true;
    await connector.stop();
    if ('closeAllConnections' in server) server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  };
  await startBridge();
  const clients: MatrixClient[] = [];

  return {
    ...h, hs, keyring, mediaEnv,
    get connector() {
      return connector;
    },
    get bridgeUrl() {
      return bridgeUrl;
    },
    /** Stops the bridge (its devices closed, their in-process databases dropped on the next open) and starts a new one on the same Redis. */
    async restartBridge() {
      await stopBridge();
      await startBridge();
      hs.appservice.paused = false;
    },
    /** A Matrix user with a matrix-js-sdk client (Rust crypto), synced. */
    async client(localpart: string): Promise<MatrixClient> {
      const u = hs.registerUser(localpart);
      const client = createClient({ baseUrl: hs.url, userId: u.userId, accessToken: u.accessToken, deviceId: u.deviceId, logger: sdkLogger });
      await client.initRustCrypto({ useIndexedDB: false });
      const ready = new Promise<void>((resolve) => {
        client.on(ClientEvent.Sync, (state: SyncState) => {
          if (state === SyncState.Prepared || state === SyncState.Syncing) resolve();
        });
      });
      await client.startClient({ initialSyncLimit: 50 });
      await ready;
      clients.push(client);
      return client;
    },
    async close() {
      for (const c of clients) c.stopClient();
      await stopBridge();
      await hs.close();
      await h.close();
      await mediaEnv.close();
    },
  };
}

/** Waits for a (decrypted) timeline event in a room matching `pred`. */
export async function timelineEvent(client: MatrixClient, roomId: string, pred: (e: MatrixEvent) => boolean, ms = 20_000): Promise<MatrixEvent> {
  return until(() => {
    const room = client.getRoom(roomId);
    const events = room?.getLiveTimeline().getEvents() ?? [];
    return events.find((e) => !e.isDecryptionFailure() && pred(e));
  }, ms, 'timeline event');
}

/**
 * Opens a DM portal the way a Matrix user does: `client` creates a direct room (encrypted unless
 * told otherwise) inviting the puppet; resolves once the homeserver and the client both see the
 * puppet joined.
 */
export async function openPortal(
  client: MatrixClient,
  hs: { state: { membership(roomId: string, userId: string): string | undefined } },
  puppet: string,
  o: { encrypted?: boolean; ms?: number } = {},
): Promise<string> {
  const roomId = (await client.createRoom({
    invite: [puppet], is_direct: true, preset: 'private_chat' as never,
    initial_state: o.encrypted === false ? [] : [{ type: 'm.room.encryption', state_key: '', content: { algorithm: 'm.megolm.v1.aes-sha2' } }],
  })).room_id;
  await until(() => hs.state.membership(roomId, puppet) === 'join' && client.getRoom(roomId)?.getMember(puppet)?.membership === 'join', o.ms ?? 15_000, 'puppet joined');
  return roomId;
}
