// Configuration of the generic webhook adapter (`adapters[N].config` when `type: webhook`): the
// provider calls the sidecar's HTTP API with bearer tokens, and the sidecar POSTs events to the
// provider's webhook URL signed with HMAC-SHA256. Validated by the core through the adapter
// registry (src/config/adapters.ts), so issues are reported as `adapters[N].config.FIELD`. The
// CLI finds it by convention: adapters/<type>/config.ts exports `<camelType>ConfigSchema`.
import { z } from 'zod';
import { secretSchema } from '../../src/config/secret.ts';
import { positiveDurationMs } from '../../src/config/fields.ts';
import { DEFAULT_MAX_MESSAGES_PER_BATCH } from './schemas.ts';

export const webhookConfigSchema = z
  .object({
    /** Prefix of the API routes the provider calls (e.g. POST /v1/messages). */
    path_prefix: z
      .string()
      .regex(/^(\/[A-Za-z0-9._-]+)+$/, 'must be an absolute path without a trailing slash, such as /v1')
      .default('/v1'),
    /** Bearer tokens the provider uses; several allow rotation without downtime. */
    api_tokens: z.array(secretSchema).min(1),
    /** Where the sidecar POSTs inbound messages and status updates. */
    webhook_url: z.url({
      protocol: /^https?$/,
      error: (iss) => (iss.code === 'invalid_format' ? 'expected an http:// or https:// URL' : undefined),
    }),
    /** HMAC-SHA256 key that signs each POST, so the provider can verify it came from here. */
    webhook_secret: secretSchema,
    /** Timeout of one POST. */
    timeout_ms: z.number().int().positive().max(120_000).default(5000),
    /** Attempts per event before it is dead-lettered (retried with backoff). */
    max_attempts: z.number().int().positive().default(20),
    /** Delay before retry N is about base·2^(N−1) (with jitter), capped at max. */
    retry_backoff_ms: z
      .object({
        base: positiveDurationMs.default(1000),
        max: positiveDurationMs.default(300_000),
      })
      .strict()
      .refine((b) => b.max >= b.base, { message: 'max must be >= base', path: ['max'] })
      .default({ base: 1000, max: 300_000 }),
    /** Events POSTed at once (to different provider users; one user's events go one at a time). */
    concurrency: z.number().int().positive().max(256).default(16),
    /**
     * Opt-in batching: above 1, when a provider user has several events waiting, up to this many
     * of them go in one POST as `{"events":[…]}` (event type `batch`). 1: one event per POST.
     */
    max_events_per_post: z.number().int().positive().max(100).default(1),
    /**
     * Messages one POST {path_prefix}/messages/batch may carry (1–1000; the 1 MiB body limit
     * applies as well). A larger batch is refused whole with 413.
     */
    max_messages_per_batch: z.number().int().positive().max(1000).default(DEFAULT_MAX_MESSAGES_PER_BATCH),
  })
  .strict();

export type WebhookConfig = z.output<typeof webhookConfigSchema>;
