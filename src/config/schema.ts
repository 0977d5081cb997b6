// The sidecar's configuration schema (one YAML file, keys in snake_case). Every section has
// defaults so that a near-empty file works for development; what has no safe default is
// required: the provider id and token-signing key (spec 2) and the key-encryption keys of the
// store. Each adapter's `config` is validated by the adapter's own schema (see adapters.ts).
import { z } from 'zod';
import { MEDIA_KINDS } from '../protocol/types.ts';
import { mockHubConfigSchema } from '../mock-hub/config.ts';
import { mediaConfigSchema } from '../media/config.ts';
import { durationMs, inspectSigningKey, kekSecretSchema, port, positiveDurationMs, positiveInt, signingKeySchema, urlWith } from './fields.ts';
import { policySchema } from './policy-schema.ts';
import { secretSchema, type Secret } from './secret.ts';

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

const serverSchema = z
  .object({
    host: z.string().min(1).default('127.0.0.1'),
    port: port.default(7310),
    /** Base URL the outside world reaches this sidecar at: media URLs (spec 11.1) and the JWKS. */
    public_url: urlWith(['http', 'https'], 'https://causeway.example.com').optional(),
    shutdown_grace_ms: durationMs.default(10_000),
  })
  .strict()
  .prefault({});

const redisSchema = z
  .object({
    url: urlWith(['redis', 'rediss'], 'redis://127.0.0.1:6379').default('redis://127.0.0.1:6379'),
    key_prefix: z.string().regex(/^[A-Za-z0-9:_-]{1,64}$/, 'must be 1–64 of [A-Za-z0-9:_-]').default('causeway'),
    password: secretSchema.optional(),
    tls: z.boolean().default(false),
  })
  .strict()
  .prefault({});

const hubSchema = z
  .object({
    /** Base of the hub's WebSocket endpoint; the client appends /hip/v1/session (spec 2). */
    url: urlWith(['ws', 'wss'], 'wss://hub.example.com').default('ws://127.0.0.1:7300'),
    /** The hub id: the `aud` of session tokens and the domain of hub addresses (spec 1, 2). */
    hub_id: z.string().min(1).default('hub'),
    /** The provider id the hub assigned at enrolment (spec 1). */
    provider_id: z.string().regex(/^[a-z0-9-]{1,32}$/, 'must be 1–32 of [a-z0-9-] (the id the hub assigned at enrolment)'),
    /** Private key that signs session tokens: Ed25519 (EdDSA) or P-256 (ES256), spec 2. */
    signing_key: signingKeySchema,
    /** `kid` of the signing key in the provider's JWKS; defaults to its RFC 7638 thumbprint. */
    signing_key_id: z.string().min(1).optional(),
    /** Verifies the hub's pushes (spec 9); pushes are refused when unset. */
    push_secret: secretSchema.optional(),
    /** Accepted clock difference for a push's `t` (spec 9: 300 s). */
    push_tolerance_s: positiveInt.max(3600).default(300),
    session: z
      .object({
        /** Open user sessions at most (one WebSocket each, spec 2); idle ones are closed first. */
        max_open: positiveInt.default(10_000),
        idle_close_s: positiveInt.default(300),
        reconnect_min_ms: positiveDurationMs.default(500),
        reconnect_max_ms: positiveDurationMs.default(30_000),
      })
      .strict()
      .prefault({})
      .refine((s) => s.reconnect_max_ms >= s.reconnect_min_ms, {
        message: 'reconnect_max_ms must be >= reconnect_min_ms',
        path: ['reconnect_max_ms'],
      }),
    /** Lifetime of a session token; the hub refuses more than 300 s (spec 2). */
    token_ttl_s: z.number().int().min(10).max(300).default(120),
    /** Each opted-in provider user's prekeys on the hub (spec 7.1). */
    prekeys: z
      .object({
        /** One-time EC and one-time Kyber prekeys uploaded, of each kind. */
        one_time: positiveInt.max(1000).default(100),
        /** Top up when the hub has fewer than this left (also on its `encrypt` notification). */
        low_water: z.number().int().min(0).default(10),
        /** Rotate the signed EC and last-resort Kyber prekeys this often. */
        rotate_signed_days: positiveInt.max(365).default(7),
      })
      .strict()
      .prefault({}),
  })
  .strict()
  .transform((hub) => ({ ...hub, signing_key_id: hub.signing_key_id ?? defaultKeyId(hub.signing_key) }));

/** RFC 7638 thumbprint of the signing key's public half (the key was checked by signingKeySchema). */
function defaultKeyId(key: Secret): string {
  const info = inspectSigningKey(key.reveal());
  return typeof info === 'string' ? '' : info.thumbprint;
}

const kekSchema = z
  .object({
    id: z.string().regex(/^[A-Za-z0-9._-]{1,64}$/, 'must be 1–64 of [A-Za-z0-9._-]'),
    /** base64 of 32 random bytes (AES-256-GCM), e.g. `openssl rand -base64 32`. */
    key: kekSecretSchema,
  })
  .strict();

const storeSchema = z
  .object({
    /** Keys that encrypt identities, sessions and stored messages at rest; old ones stay for reading. */
    key_encryption_keys: z.array(kekSchema).min(1),
    /** The key new records are sealed with. */
    active_key_id: z.string().min(1),
  })
  .strict()
  // Runs even when a key failed its own checks (one pass reports every issue), so it reads the
  // partly validated value defensively.
  .superRefine(
    (s, ctx) => {
      const ids = (s.key_encryption_keys as unknown[]).map((k) => (isRecord(k) && typeof k.id === 'string' ? k.id : undefined));
      const seen = new Set<string>();
      ids.forEach((id, i) => {
        if (id === undefined) return;
        if (seen.has(id)) ctx.addIssue({ code: 'custom', message: `duplicate key id "${id}"`, path: ['key_encryption_keys', i, 'id'] });
        seen.add(id);
      });
      if (typeof s.active_key_id === 'string' && seen.size > 0 && !ids.includes(undefined) && !seen.has(s.active_key_id)) {
        ctx.addIssue({ code: 'custom', message: `names no key in key_encryption_keys (ids: ${[...seen].join(', ')})`, path: ['active_key_id'] });
      }
    },
    { when: (p) => isRecord(p.value) && Array.isArray(p.value.key_encryption_keys) },
  );

const adapterSchema = z
  .object({
    id: z.string().regex(/^[a-z0-9-]{1,32}$/, 'must be 1–32 of [a-z0-9-]'),
    /** The adapter kind (`webhook`, `matrix`, …); its `config` is validated by that kind's schema. */
    type: z.string().min(1),
    /** Validated by the adapter type's own schema; a missing one counts as `{}`. */
    config: z.unknown().optional(),
  })
  .strict();

const adaptersSchema = z
  .array(adapterSchema)
  .default([])
  .superRefine(
    (list, ctx) => {
      const seen = new Map<string, number>();
      (list as unknown[]).forEach((a, i) => {
        if (!isRecord(a) || typeof a.id !== 'string') return;
        const first = seen.get(a.id);
        if (first !== undefined) ctx.addIssue({ code: 'custom', message: `duplicate adapter id (also adapters[${first}])`, path: [i, 'id'] });
        else seen.set(a.id, i);
      });
    },
    { when: (p) => Array.isArray(p.value) },
  );

const mediaDefaults = { image: 16 * 1024 * 1024, video: 64 * 1024 * 1024, audio: 16 * 1024 * 1024, voice: 16 * 1024 * 1024, document: 100 * 1024 * 1024 };
const mediaShape = Object.fromEntries(MEDIA_KINDS.map((k) => [k, positiveInt.default(mediaDefaults[k])])) as {
  [K in (typeof MEDIA_KINDS)[number]]: z.ZodDefault<typeof positiveInt>;
};

const limitsSchema = z
  .object({
    /** Largest text accepted from the provider, in bytes of UTF-8 (spec 11 caps text at 65,536 code points). */
    max_message_bytes: positiveInt.default(65_536),
    /** Per-kind media size limits in bytes (spec 11.1 defaults; the hub's `features` may lower them). */
    max_media_bytes: z.object(mediaShape).strict().prefault({}),
    /** Outbound messages per provider user; unlimited when unset. */
    outbound_rate_per_user: z.object({ max_messages: positiveInt, per_seconds: positiveInt }).strict().optional(),
    max_retry_attempts: z.number().int().min(0).default(12),
    retry_backoff_ms: z
      .object({ base: positiveDurationMs.default(1000), max: positiveDurationMs.default(300_000) })
      .strict()
      .prefault({})
      .refine((b) => b.max >= b.base, { message: 'max must be >= base', path: ['max'] }),
    /** How long sent messages are kept to answer retry receipts: at least 24 h (spec 6.2). */
    sent_retention_h: z.number().int().min(24).default(24),
    /** Conversations one replica works on at once (each waits for the hub's ack of its head message). */
    concurrent_conversations: positiveInt.default(256),
  })
  .strict()
  .prefault({});

const loggingSchema = z
  .object({
    level: z.enum(LOG_LEVELS).default('info'),
    /** Human-readable lines instead of JSON (development). */
    pretty: z.boolean().default(false),
  })
  .strict()
  .prefault({});

const metricsSchema = z
  .object({
    enabled: z.boolean().default(true),
    path: z.string().regex(/^\/[A-Za-z0-9/_.-]*$/, 'must be an absolute path such as /metrics').default('/metrics'),
    /** Bearer token required to scrape; without it /metrics answers 401 (src/http/app.ts). */
    token: secretSchema.optional(),
  })
  .strict()
  .prefault({});

export const configSchema = z
  .object({
    server: serverSchema,
    redis: redisSchema,
    hub: hubSchema,
    store: storeSchema,
    policy: policySchema,
    adapters: adaptersSchema,
    limits: limitsSchema,
    logging: loggingSchema,
    metrics: metricsSchema,
    /** An embedded mock hub (tests, demos, providers' CI); never in production. */
    /** Attachments (spec 11.1): blob store, URL signing, fetch limits (src/media/config.ts). */
    media: mediaConfigSchema,
    mock_hub: mockHubConfigSchema.optional(),
  })
  .strict();

/**
 * Keys that were accepted once and are gone, by path: an old config that still has one gets this
 * message instead of a bare "unknown key".
 */
export const REMOVED_KEYS: Readonly<Record<string, string>> = {
  'server.admin_token': 'was removed: Causeway has no admin endpoints, and the key never protected anything; delete it',
};

export type CausewayConfig = z.output<typeof configSchema>;
export type CausewayConfigInput = z.input<typeof configSchema>;
export type AdapterEntry = CausewayConfig['adapters'][number];

/** Top-level keys of a Causeway config (to tell it from a bare mock hub config). */
export const CONFIG_SECTIONS = Object.keys(configSchema.shape);

function isRecord(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}
