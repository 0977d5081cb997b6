// Several Causeway "replicas" of the Matrix adapter on one Redis, for the lease tests: each replica
// is its own connector (own OlmMachines, own in-process databases, own HTTP port); a round-robin
// load balancer (node:http) stands in front of them as the one appservice URL the homeserver
// knows, and the core's hub → Matrix work (deliver, status, notice) is handed to the replicas in
// turn, as BullMQ workers on any replica would take it. A replica can be killed (its lease is
// neither renewed nor released, its port closes) or closed gracefully.
import { serve, type ServerType } from '@hono/node-server';
import { ClientEvent, createClient, SyncState, type MatrixClient } from 'matrix-js-sdk';
import type { Logger as SdkLogger } from 'matrix-js-sdk/lib/logger.js';
import { randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import pino from 'pino';
import type { Connector } from '../../../../adapters/contract.ts';
import { createMatrixConnector, matrixConfigSchema, type MatrixConnector } from '../../../../adapters/matrix/index.ts';
import { Keyring } from '../../../../src/crypto/keyring.ts';
import { harness } from '../../../delivery/harness.ts';
import { startHomeserver } from './homeserver.ts';

export const SERVER = 'example.org';
const AS_TOKEN = 'as-token-for-replicas';
const HS_TOKEN = 'hs-token-for-replicas';
const noop = (): void => undefined;
const quiet: SdkLogger = { trace: noop, debug: noop, info: noop, warn: noop, error: noop, getChild: () => quiet };

export interface Replica {
  name: string;
  connector: MatrixConnector;
  url: string;
  alive: boolean;
  /** Still among the load balancer's upstreams (a killed replica stays: its requests fail). */
  inRotation: boolean;
  /** Requests the load balancer sent to this replica, by answer status. */
  answers: number[];
  server: ServerType;
}

export async function replicasHarness(o: { hubUsers: Parameters<typeof harness>[0]; config?: Record<string, unknown> }) {
  const h = await harness(o.hubUsers);
  const keyring = new Keyring([{ id: 'rp1', key: randomBytes(32) }], 'rp1');
  const logger = pino({ level: process.env.CAUSEWAY_TEST_LOG ?? 'silent' });
  const rawConfig = {
    homeserver_url: 'http://127.0.0.1:1', server_name: SERVER, appservice_url: 'http://127.0.0.1:1', as_token: AS_TOKEN, hs_token: HS_TOKEN,
    lease_ttl_ms: 1500, lease_wait_ms: 4000, lease_min_hold_ms: 300, ...o.config,
  };
  const hs = await startHomeserver({ serverName: SERVER, registration: matrixConfigSchema.parse(rawConfig).registration() });
  const config = matrixConfigSchema.parse({ ...rawConfig, homeserver_url: hs.url });
  const replicas: Replica[] = [];
  let next = 0;
  const alive = (): Replica[] => replicas.filter((r) => r.alive);
  const pick = (): Replica => {
    const all = alive();
    if (all.length === 0) throw new Error('no replica alive');
    return all[next++ % all.length] as Replica;
  };

  // The one appservice URL: round robin over the live replicas, 502 when the pick is unreachable.
  const lb: Server = createServer((req, res) => {
    void (async () => {
      const chunks: Buffer[] = [];
      for await (const c of req) chunks.push(c as Buffer);
      const all = replicas.filter((r) => r.inRotation);
      const target = all.length > 0 ? (all[next++ % all.length] as Replica) : undefined;
      let status = 502;
      let body = '{"errcode":"M_UNKNOWN","error":"no upstream"}';
      if (target) {
        try {
          const r = await fetch(`${target.url}${req.url ?? '/'}`, {
            method: req.method ?? 'GET',
            headers: { authorization: String(req.headers.authorization ?? ''), 'content-type': 'application/json' },
            ...(chunks.length > 0 ? { body: Buffer.concat(chunks) } : {}),
          });
          status = r.status;
          body = await r.text();
        } catch {
          status = 502; // a dead replica's port: the homeserver retries
        }
        target.answers.push(status);
      }
      res.writeHead(status, { 'content-type': 'application/json' }).end(body);
    })();
  });
  await new Promise<void>((resolve) => lb.listen(0, '127.0.0.1', resolve));
  hs.appservice.reg.url = `http://127.0.0.1:${(lb.address() as AddressInfo).port}`;

  // What the core sees: one connector, whose work any replica may take.
  const router: Connector = {
    type: 'matrix', id: 'matrix',
    get capabilities() {
      return (replicas[0] as Replica).connector.capabilities;
    },
    init: noop, start: async () => undefined, stop: async () => undefined,
    deliver: (m) => pick().connector.deliver(m),
    status: (s) => pick().connector.status(s),
    notice: (n) => pick().connector.notice(n),
  };
  h.core.register(router);

  async function startReplica(name: string, connector = createMatrixConnector({ id: 'matrix', config, redis: h.redis, keyring, prefix: h.prefix, logger })): Promise<Replica> {
    connector.init(h.core);
    const routes = connector.routes?.();
    if (!routes) throw new Error('no routes');
    const server = await new Promise<ServerType>((resolve) => {
      const s = serve({ fetch: routes.fetch, hostname: '127.0.0.1', port: 0 }, () => resolve(s));
    });
    await connector.start();
    const r: Replica = { name, connector, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, alive: true, inRotation: true, answers: [], server };
    replicas.push(r);
    return r;
  }
  const closeServer = async (s: ServerType): Promise<void> => {
    if ('closeAllConnections' in s) s.closeAllConnections();
    await new Promise<void>((resolve) => s.close(() => resolve()));
  };
  const clients: MatrixClient[] = [];

  return {
    ...h, hs, replicas, startReplica,
    holders: (): Replica[] => replicas.filter((r) => r.alive && r.connector.lease.held),
    /** A crash: the lease is neither renewed nor released; the port stops answering. */
    async kill(r: Replica): Promise<void> {
      r.alive = false; // still among the upstreams: its requests fail (502) until the homeserver retries
      r.connector.lease.halt();
      await closeServer(r.server);
      await r.connector.stop(); // timers only: a halted lease is not released
    },
    /** A graceful stop: the lease is released at once. */
    async close(r: Replica): Promise<void> {
      r.alive = false;
      r.inRotation = false;
      await r.connector.stop();
      await closeServer(r.server);
    },
    async client(localpart: string): Promise<MatrixClient> {
      const u = hs.registerUser(localpart);
      const client = createClient({ baseUrl: hs.url, userId: u.userId, accessToken: u.accessToken, deviceId: u.deviceId, logger: quiet });
      await client.initRustCrypto({ useIndexedDB: false });
      const ready = new Promise<void>((resolve) => client.on(ClientEvent.Sync, (s: SyncState) => (s === SyncState.Prepared || s === SyncState.Syncing) && resolve()));
      await client.startClient({ initialSyncLimit: 50 });
      await ready;
      clients.push(client);
      return client;
    },
    async shutdown(): Promise<void> {
      for (const c of clients) c.stopClient();
      hs.appservice.paused = true;
      for (const r of replicas) if (r.alive) await this.close(r);
      await new Promise<void>((resolve) => lb.close(() => resolve()));
      await hs.close();
      await h.close();
    },
  };
}
