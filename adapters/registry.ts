// Every adapter kind Causeway ships, by its `adapters[].type` name: the schema that validates its
// `config`, and the factory that builds its connector. The composition root (src/main.ts) and the
// CLI read this list; the rest of the core depends only on adapters/contract.ts. A new adapter
// kind is added here.
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { z } from 'zod';
import type { Keyring } from '../src/crypto/keyring.ts';
import type { Connector } from './contract.ts';
import { webhookConfigSchema, type WebhookConfig } from './webhook/config.ts';
import { createWebhookConnector } from './webhook/index.ts';
import { matrixConfigSchema, type MatrixConfig } from './matrix/config.ts';
import { createMatrixConnector } from './matrix/index.ts';

export interface AdapterDeps {
  id: string;
  /** Already validated by the kind's schema. */
  config: unknown;
  redis: Redis;
  keyring: Keyring;
  prefix: string;
  logger: Logger;
  /** Ops' outbound downgrade action per feature (config `policy.downgrade.*.outbound.action`), for
   * the conversions an adapter makes itself (the Matrix bridge's, adapters/matrix/to-hub.ts). */
  downgrade?: Record<string, 'convert' | 'reject' | 'drop'>;
}

export interface AdapterKind {
  schema: z.ZodType;
  create(d: AdapterDeps): Connector;
}

export const adapterKinds: Record<string, AdapterKind> = {
  webhook: { schema: webhookConfigSchema, create: (d) => createWebhookConnector({ ...d, config: d.config as WebhookConfig }) },
  matrix: { schema: matrixConfigSchema, create: (d) => createMatrixConnector({ ...d, config: d.config as MatrixConfig }) },
};

export const adapterConfigSchemas: Record<string, z.ZodType> = Object.fromEntries(Object.entries(adapterKinds).map(([k, v]) => [k, v.schema]));
