// Composition root: builds Causeway's parts from a validated config, starts them, and stops them
// in order on shutdown. No logic of its own beyond wiring.
import { serve, type ServerType } from '@hono/node-server';
import { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { CausewayConfig } from './config/schema.ts';
import { Keyring } from './crypto/keyring.ts';
import { createApp } from './http/app.ts';
import { ProviderKey } from './hub/provider-key.ts';
import { probeHub } from './hub/reachability.ts';
import { createMetrics } from './metrics.ts';

export interface Causeway {
  /** http://host:port of the sidecar's HTTP surface. */
  url: string;
  redis: Redis;
  keyring: Keyring;
  providerKey: ProviderKey;
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
  const redis = new Redis(config.redis.url, {
    keyPrefix: undefined,
    password: config.redis.password?.reveal(),
    tls: config.redis.tls ? {} : undefined,
    maxRetriesPerRequest: null,
    lazyConnect: true,
  });
  redis.on('error', (err) => log.warn({ err: err.message }, 'redis connection error'));
  await redis.connect();

  const metrics = createMetrics();
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
  });
  if (config.metrics.enabled && !config.metrics.token) log.warn('metrics.token is not set: /metrics answers 401 until it is');

  const server = await new Promise<ServerType>((resolve) => {
    const s = serve({ fetch: app.fetch, hostname: config.server.host, port: config.server.port }, () => resolve(s));
  });
  const addr = server.address();
  const port = typeof addr === 'object' && addr ? addr.port : config.server.port;
  const url = `http://${config.server.host.includes(':') ? `[${config.server.host}]` : config.server.host}:${port}`;
  log.info({ url, hub: config.hub.url, provider: config.hub.provider_id }, 'causeway listening');

  return {
    url,
    redis,
    keyring,
    providerKey,
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
      redis.disconnect();
      log.info('causeway stopped');
    },
  };
}
