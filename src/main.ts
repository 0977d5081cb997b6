// Composition root: builds Causeway's parts from a validated config, starts them, and stops them
// in order on shutdown. No logic of its own beyond wiring.
import { serve, type ServerType } from '@hono/node-server';
import type { Redis } from 'ioredis';
import { connectRedis } from './redis-connect.ts';
import type { Logger } from 'pino';
import type { CausewayConfig } from './config/schema.ts';
import { Keyring } from './crypto/keyring.ts';
import { verifyKeyring } from './crypto/key-check.ts';
import type { Connector } from '../adapters/contract.ts';
import { adapterKinds } from '../adapters/registry.ts';
import { safeUrl } from './logging.ts';
import { Core } from './core.ts';
import { createApp } from './http/app.ts';
import { hubPushRoutes } from './http/hub-push.ts';
import { ProviderKey } from './hub/provider-key.ts';
import { probeHub } from './hub/reachability.ts';
import { SessionManager } from './hub/sessions.ts';
import { createMetrics } from './metrics.ts';
import { createMediaService, deriveUrlSecret, type MediaService } from './media/index.ts';

export interface Causeway {
  /** http://host:port of the sidecar's HTTP surface. */
  url: string;
  redis: Redis;
  keyring: Keyring;
  providerKey: ProviderKey;
  core: Core;
  sessions: SessionManager;
  connectors: Connector[];
  /** Stops taking work, then closes everything within the configured grace period. */
  close(): Promise<void>;
}

export async function startCauseway(config: CausewayConfig, o: { logger: Logger }): Promise<Causeway> {
  const log = o.logger;
  const keyring = new Keyring(
    config.store.key_encryption_keys.map((k) => ({ id: k.id, key: Buffer.from(k.key.reveal(), 'base64') })),
    config.store.active_key_id,
  );
  const providerKey = await ProviderKey.load(config.hub.signing_key.reveal(), config.hub.signing_key_id);
  const redis = await connectRedis(config, {
    maxRetriesPerRequest: null,
    // Commands issued in the same tick (many conversations at once) go out in one write.
    enableAutoPipelining: true,
  }, (err) => log.warn({ err: err.message }, 'redis connection error'), (note) => log.info(note));
  // From here on a failure (an adapter that cannot start, the port in use…) stops what was already
  // started, so that the process ends with the reason instead of staying alive half-started.
  const made: Started = { connectors: [] };
  try {
    // Before anything is sealed: refused if a key id already in use elsewhere has other bytes here.
    await verifyKeyring(redis, config.redis.key_prefix, keyring);
    return await assemble(config, log, keyring, providerKey, redis, made);
  } catch (err) {
    await abandon(made, redis);
    throw err;
  }
}

/** What a start has running so far: what `abandon` stops when the start fails. */
interface Started {
  sessions?: SessionManager;
  core?: Core;
  connectors: Connector[];
  server?: ServerType;
}

async function abandon(made: Started, redis: Redis): Promise<void> {
  made.server?.close();
  await made.core?.close(0).catch(() => undefined);
  await Promise.allSettled(made.connectors.map((c) => c.stop()));
  await made.sessions?.stop().catch(() => undefined);
  redis.disconnect();
}

async function assemble(config: CausewayConfig, log: Logger, keyring: Keyring, providerKey: ProviderKey, redis: Redis, made: Started): Promise<Causeway> {
  const prefix = config.redis.key_prefix;
  const metrics = createMetrics({
    openSessions: () => sessions.openCount,
    queueDepths: async () => {
      const depth = async (q: { getJobCounts(...t: string[]): Promise<Record<string, number>> }) =>
        Object.values(await q.getJobCounts('wait', 'delayed', 'active', 'prioritized')).reduce((a, b) => a + b, 0);
      return { outbound: (await depth(core.outbound.queue)) + core.outbound.pending, inbound: (await depth(core.inbound.queue)) + core.inbound.pending };
    },
  });
  const ref: { core?: Core; media?: MediaService } = {};
  const sessions = new SessionManager({
    hubUrl: config.hub.url,
    hubId: config.hub.hub_id,
    providerId: config.hub.provider_id,
    key: providerKey,
    tokenTtlS: config.hub.token_ttl_s,
    maxOpen: config.hub.session.max_open,
    idleCloseMs: config.hub.session.idle_close_s * 1000,
    reconnectMinMs: config.hub.session.reconnect_min_ms,
    reconnectMaxMs: config.hub.session.reconnect_max_ms,
    onInbound: (conn, s) => ref.core?.onInbound(conn, s),
    onOpened: (conn) => ref.core?.onOpened(conn),
    ownership: { redis, prefix },
    logger: log.child({ component: 'hub' }),
  });
  made.sessions = sessions;
  const core = new Core({
    redis, keyring, prefix, providerId: config.hub.provider_id, sessions,
    maxTextBytes: config.limits.max_message_bytes,
    maxAttempts: Math.max(1, config.limits.max_retry_attempts),
    backoff: config.limits.retry_backoff_ms,
    concurrency: config.limits.concurrent_conversations,
    ackTimeoutMs: 15_000,
    maxQueueAgeMs: 24 * 3600 * 1000,
    preKeys: config.hub.prekeys.one_time,
    identityChange: config.policy.identity_change,
    policy: config.policy,
    ...(config.limits.outbound_rate_per_user ? { outboundRate: config.limits.outbound_rate_per_user } : {}),
    sentRetentionS: config.limits.sent_retention_h * 3600,
    mediaLimits: config.limits.max_media_bytes,
    media: () => ref.media,
    lowWater: config.hub.prekeys.low_water,
    rotateSignedMs: config.hub.prekeys.rotate_signed_days * 24 * 3600 * 1000,
    metrics,
    logger: log.child({ component: 'delivery' }),
  });
  ref.core = core;
  made.core = core;
  const downgrade = Object.fromEntries(Object.entries(config.policy.downgrade).map(([feature, rule]) => [feature, rule.outbound.action]));
  const connectors = config.adapters.map((a) => {
    const kind = adapterKinds[a.type];
    if (!kind) throw new Error(`adapters: unknown type ${a.type}`);
    const c = kind.create({ id: a.id, config: a.config, redis, keyring, prefix, logger: log.child({ adapter: a.id }), downgrade });
    core.register(c);
    made.connectors.push(c);
    return c;
  });

  let accepting = true;
  const app = createApp({
    jwks: () => providerKey.jwks(),
    metrics: { registry: metrics.registry, path: config.metrics.path, token: config.metrics.token, enabled: config.metrics.enabled },
    readiness: [
      { name: 'redis', check: async () => void (await redis.ping()) },
      { name: 'hub', check: () => probeHub(config.hub.url) },
      { name: 'keys', check: async () => void providerKey.jwks() },
    ],
    accepting: () => accepting,
    onCheckFailed: (name, err) => log.warn({ check: name, err: err.message }, 'readiness check failed'),
  });
  app.route('/', hubPushRoutes({
    secret: config.hub.push_secret, toleranceS: config.hub.push_tolerance_s, providerId: config.hub.provider_id, redis, prefix,
    // Nothing to do when another replica holds the user's session: the hub delivers there.
    drain: (user) => void sessions.ownerElsewhere(user).then((owner) => (owner === undefined ? sessions.get(user) : undefined)).catch((err: unknown) => log.warn({ user, err: (err as Error).message }, 'push: session did not open')),
  }));
  for (const c of connectors) {
    const r = c.routes?.();
    if (r) app.route('/', r);
  }
  // Hosted attachments (spec 11.1): the hub's media proxy fetches them; the signed token is the access right.
  let mediaRoutes: { fetch(r: Request): Response | Promise<Response> } | undefined;
  app.on(['GET', 'HEAD'], '/media/*', (c) => {
    if (!ref.media) return c.json({ error: 'not found' }, 404);
    mediaRoutes ??= ref.media.routes();
    return mediaRoutes.fetch(c.req.raw);
  });
  for (const c of connectors) await c.start();
  await core.start();
  if (config.metrics.enabled && !config.metrics.token) log.warn('metrics.token is not set: /metrics answers 401 until it is');

  // A port in use rejects (with the listen error) rather than crashing the process.
  const server = await new Promise<ServerType>((resolve, reject) => {
    const s = serve({ fetch: app.fetch, hostname: config.server.host, port: config.server.port }, () => {
      s.off('error', reject);
      resolve(s);
    });
    s.once('error', reject);
  });
  made.server = server;
  const addr = server.address();
  const port = typeof addr === 'object' && addr ? addr.port : config.server.port;
  const url = `http://${config.server.host.includes(':') ? `[${config.server.host}]` : config.server.host}:${port}`;
  // As check-config prints it: a hub URL may carry credentials (user:pass@, a query token).
  log.info({ url, hub: safeUrl(config.hub.url), provider: config.hub.provider_id }, 'causeway listening');
  const activeKek = config.store.key_encryption_keys.find((k) => k.id === config.store.active_key_id);
  ref.media = createMediaService(config.media, {
    publicBaseUrl: config.server.public_url ?? url,
    limits: config.limits.max_media_bytes,
    fallbackUrlSecret: deriveUrlSecret(Buffer.from(activeKek?.key.reveal() ?? '', 'base64')),
  });

  return {
    url,
    redis,
    keyring,
    providerKey,
    core,
    sessions,
    connectors,
    async close() {
      accepting = false;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, config.server.shutdown_grace_ms);
        server.close(() => {
          clearTimeout(timer);
          resolve();
        });
        if ('closeIdleConnections' in server) server.closeIdleConnections();
      });
      // Lanes being drained finish their message and give their leases up (retry jobs likewise),
      // within the grace; what is not taken stays in Redis for the next process.
      await core.close(config.server.shutdown_grace_ms);
      for (const c of connectors) await c.stop();
      await sessions.stop();
      await ref.media?.close();
      redis.disconnect();
      log.info('causeway stopped');
    },
  };
}
