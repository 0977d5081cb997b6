// The mock hub's configuration (the `mock_hub` section of the YAML file, or a file of its own for
// `causeway mock-hub --config`). Validated with zod; secrets through src/config/secret.ts.
import { z } from 'zod';
import { secretSchema } from '../config/secret.ts';

const phone = z.string().regex(/^\+[1-9][0-9]{5,14}$/, 'an E.164 phone number such as "+447700900123"');
const providerId = z.string().regex(/^[a-z0-9-]{1,32}$/, '1–32 of [a-z0-9-]');
const seconds = z.number().int().positive();

export const mockHubProviderSchema = z
  .object({
    id: providerId,
    name: z.string().min(1),
    /** A static JWKS ({ keys: [...] }) for the provider's session tokens… */
    jwks: z.object({ keys: z.array(z.record(z.string(), z.unknown())).min(1) }).optional(),
    /** …or the URL the hub fetches it from (cached, refetched on an unknown `kid`). */
    jwks_url: z.url().optional(),
    /** Where the hub POSTs pushes for users with no open session (spec 9). */
    push_url: z.url().optional(),
    push_secret: secretSchema.optional(),
  })
  .strict()
  .refine((p) => (p.jwks === undefined) !== (p.jwks_url === undefined), {
    message: 'give exactly one of jwks or jwks_url',
  })
  .refine((p) => (p.push_url === undefined) === (p.push_secret === undefined), {
    message: 'push_url and push_secret go together',
  });

export const mockHubUserSchema = z
  .object({
    phone,
    name: z.string().optional(),
    /** HIP device numbers; 0 is the primary phone. */
    devices: z.array(z.number().int().min(0).max(1023)).min(1).default([0]),
    /** Third-party chats switched on, and for which providers (`*` = every enrolled one). */
    third_party: z
      .object({ enabled: z.boolean().default(true), providers: z.array(z.string()).default(['*']) })
      .strict()
      .default({ enabled: true, providers: ['*'] }),
    /** What the simulated user does with what it receives. */
    script: z
      .object({
        /** Reply with "echo: <text>". */
        echo: z.boolean().default(false),
        /** Send delivery receipts for what it decrypts (and read receipts when `read` is true). */
        receipts: z.boolean().default(true),
        read: z.boolean().default(false),
        /** Milliseconds to wait before replying / reading. */
        delay_ms: z.number().int().min(0).default(0),
      })
      .strict()
      .default({ echo: false, receipts: true, read: false, delay_ms: 0 }),
  })
  .strict();

export const mockHubConfigSchema = z
  .object({
    listen: z
      .object({ host: z.string().default('127.0.0.1'), port: z.number().int().min(0).max(65535).default(7300) })
      .strict()
      .default({ host: '127.0.0.1', port: 7300 }),
    /** The hub id expected as the JWT `aud` (spec 2). */
    hub_id: z.string().min(1).default('hub'),
    /** Base URL the hub puts in media URLs; defaults to http://host:port. */
    public_url: z.url().optional(),
    /** Bearer token of the control API (/control/*). */
    admin_token: secretSchema,
    providers: z.array(mockHubProviderSchema).default([]),
    users: z.array(mockHubUserSchema).default([]),
    features: z
      .object({
        /** Kinds announced as unsupported (406) in addition to the v1 features of spec 11. */
        unsupported: z.array(z.string()).optional(),
        /** Per-kind media size limits in bytes (spec 11.1 defaults). */
        max_size: z
          .object({
            image: z.number().int().positive().default(16 * 1024 * 1024),
            video: z.number().int().positive().default(64 * 1024 * 1024),
            audio: z.number().int().positive().default(16 * 1024 * 1024),
            voice: z.number().int().positive().default(16 * 1024 * 1024),
            document: z.number().int().positive().default(100 * 1024 * 1024),
          })
          .strict()
          .default({ image: 16777216, video: 67108864, audio: 16777216, voice: 16777216, document: 104857600 }),
      })
      .strict()
      .default({ max_size: { image: 16777216, video: 67108864, audio: 16777216, voice: 16777216, document: 104857600 } }),
    /**
     * Bench mode (docs/benchmarks.md). `decrypt_sample_rate` is the share of (hub device, provider
     * device) sessions whose every message the simulated device decrypts; on the other sessions a
     * device decrypts only a message that opens a session it does not have yet, and counts the
     * rest (inbox entries with `skipped: true`). Sampling whole sessions keeps the ratchets in
     * step: skipping single messages would make every later decrypt store skipped message keys.
     * 1 (the default) decrypts everything, as a hub does.
     */
    simulation: z
      .object({ decrypt_sample_rate: z.number().min(0).max(1).default(1) })
      .strict()
      .default({ decrypt_sample_rate: 1 }),
    limits: z
      .object({
        max_frame_bytes: z.number().int().positive().default(256 * 1024),
        ping_interval_s: seconds.default(30),
        ping_timeout_s: seconds.default(90),
        idle_timeout_s: seconds.default(600),
        /** Redeliver unacked messages on the same session after this many seconds (spec 5). */
        redeliver_after_s: seconds.default(60),
        offline_retention_days: seconds.default(30),
        /** How long accepted message ids are remembered (spec 4). */
        idempotence_days: seconds.default(7),
        /** A low-prekey notification is sent when one-time EC prekeys fall below this (spec 8). */
        low_prekeys: z.number().int().min(0).default(10),
        /** How long pushes are retried (spec 9). */
        push_retry_for_s: seconds.default(3600),
      })
      .strict()
      .default({
        max_frame_bytes: 262144, ping_interval_s: 30, ping_timeout_s: 90, idle_timeout_s: 600, redeliver_after_s: 60,
        offline_retention_days: 30, idempotence_days: 7, low_prekeys: 10, push_retry_for_s: 3600,
      }),
  })
  .strict();

export type MockHubConfig = z.output<typeof mockHubConfigSchema>;
export type MockHubConfigInput = z.input<typeof mockHubConfigSchema>;
export type MockHubProviderConfig = z.output<typeof mockHubProviderSchema>;
export type MockHubUserConfig = z.output<typeof mockHubUserSchema>;
