// The `media:` section of the sidecar's config (snake_case like the rest of the file; the lead
// adds it to src/config/schema.ts). Per-kind size limits are not here: they are
// `limits.max_media_bytes` (spec 11.1 defaults). `url_secret` may be left out: the composition
// root then derives one from the store's key-encryption key (deriveUrlSecret in index.ts).
import { z } from 'zod';
import { MAX_TIMER_MS, positiveDurationMs, positiveInt, urlWith } from '../config/fields.ts';
import { secretSchema } from '../config/secret.ts';


const fsStoreSchema = z
  .object({
    type: z.literal('fs'),
    /** Directory of the blobs (created 0700); relative paths are from the working directory. */
    dir: z.string().min(1).default('data/media'),
  })
  .strict();

const s3StoreSchema = z
  .object({
    type: z.literal('s3'),
    /** S3-compatible endpoint, e.g. http://minio:9000; omit for AWS S3 itself. */
    endpoint: urlWith(['http', 'https'], 'http://minio:9000').optional(),
    region: z.string().min(1).default('us-east-1'),
    bucket: z.string().regex(/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/, 'must be a valid bucket name (3–63 of [a-z0-9.-])'),
    access_key_id: secretSchema,
    secret_access_key: secretSchema,
    /** Path-style URLs (https://host/bucket/key): MinIO and most self-hosted stores need it. */
    force_path_style: z.boolean().default(false),
    /** Prefix of every object key, e.g. `media/`. */
    prefix: z.string().regex(/^[A-Za-z0-9/_.-]{0,64}$/, 'must be 0–64 of [A-Za-z0-9/_.-]').default(''),
  })
  .strict();

export const mediaConfigSchema = z
  .object({
    store: z.discriminatedUnion('type', [fsStoreSchema, s3StoreSchema]).default({ type: 'fs', dir: 'data/media' }),
    /** HMAC key of media URLs, at least 32 characters; shared by every replica. */
    url_secret: secretSchema
      .refine((s) => s.reveal().length >= 32, 'must be at least 32 characters (e.g. `openssl rand -base64 32`)')
      .optional(),
    /**
     * Lifetime of a media URL and of its blob. The hub keeps undelivered messages at least 30 days
     * (spec 2), so a shorter URL may expire before an offline recipient fetches it.
     */
    url_ttl_s: positiveInt.default(30 * 24 * 3600),
    /** Deadline of one media download (provider URL or hub blob), body included. */
    fetch_timeout_ms: positiveDurationMs.default(120_000),
    /** Cap on a provider-given URL's download, on top of the kind's limit. */
    max_fetch_bytes: positiveInt.default(100 * 1024 * 1024),
    /** Private scratch directory for media in transit; default: the OS temp dir. */
    tmp_dir: z.string().min(1).optional(),
    /**
     * Allow fetching from loopback and private networks. Off in production (a hub user chooses the
     * `url` it sends): turn on only for a mock hub or provider on a private address.
     */
    allow_private_addresses: z.boolean().default(false),
    /** Refuse inbound media whose content does not match its declared kind and type. */
    check_inbound_mime: z.boolean().default(true),
    /** How often expired blobs are deleted from a store that can list them (fs); 0 = never. */
    sweep_interval_s: z.number().int().min(0).max(Math.floor(MAX_TIMER_MS / 1000), `must be <= ${Math.floor(MAX_TIMER_MS / 1000)} (a Node.js timer waits at most about 24.8 days)`).default(3600),
  })
  .strict()
  .prefault({});

export type MediaConfig = z.output<typeof mediaConfigSchema>;
export type MediaConfigInput = z.input<typeof mediaConfigSchema>;
