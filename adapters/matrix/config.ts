// Configuration of the Matrix adapter (`adapters[N].config` when `type: matrix`): an application
// service (Matrix AS API, with MSC2409/MSC3202 for encryption) that bridges the homeserver's users
// to hub users through one puppet per hub user. Validated by the core through the adapter registry,
// so issues are reported as `adapters[N].config.FIELD`. `causeway matrix-registration` turns it
// into the registration file the homeserver loads.
import { z } from 'zod';
import { secretSchema } from '../../src/config/secret.ts';
import { buildRegistration, type Registration } from './registration.ts';
import { DEFAULT_SEND_STATUSES, SEND_STATUSES } from './status-coalesce.ts';

/** Matrix localpart characters (spec "user identifiers"), without the historical extras. */
const LOCALPART_RE = /^[a-z0-9._=/+-]+$/;

export const matrixConfigSchema = z
  .object({
    /** The application service id in the registration file. */
    registration_id: z.string().regex(/^[A-Za-z0-9._-]{1,64}$/, 'must be 1–64 of [A-Za-z0-9._-]').default('causeway'),
    /** Client-server API base the bridge calls (as_token, masquerading with user_id). */
    homeserver_url: z.url({ protocol: /^https?$/, error: 'expected an http:// or https:// URL' }),
    /** The homeserver's server name: the part after ':' in user ids (`example.org`). */
    server_name: z.string().regex(/^[A-Za-z0-9.-]+(:\d{1,5})?$/, 'must be a server name such as example.org'),
    /** Where the homeserver reaches this sidecar's appservice routes (the registration `url`). */
    appservice_url: z.url({ protocol: /^https?$/, error: 'expected an http:// or https:// URL' }),
    /** Token the bridge presents to the homeserver. */
    as_token: secretSchema,
    /** Token the homeserver presents to the bridge (checked on every transaction). */
    hs_token: secretSchema,
    /** Localpart of the bridge bot (commands, management rooms, space). */
    bot_localpart: z.string().regex(LOCALPART_RE, 'must be a Matrix localpart').default('hubbot'),
    /** Display name of the bot. */
    bot_displayname: z.string().min(1).max(256).default('Hub bridge'),
    /** Localpart template of a hub user's puppet; `{phone}` is the E.164 digits without '+'. */
    puppet_localpart: z
      .string()
      .regex(/^[a-z0-9._=/+-]*\{phone\}[a-z0-9._=/+-]*$/, 'must contain {phone} once, with Matrix localpart characters around it')
      .default('hub_{phone}'),
    /** Display name template of a puppet; `{name}` is the hub directory name (or the phone). */
    puppet_displayname: z.string().min(1).max(256).default('{name} (Hub)'),
    /**
     * The user namespace regex in the registration file. Optional: by default derived from
     * bot_localpart and puppet_localpart. Must match the bot and every puppet.
     */
    namespace_regex: z.string().min(1).optional(),
    /** Name of the hub shown to Matrix users (room name suffix, state event, space name). */
    hub_name: z.string().min(1).max(64).default('Hub'),
    /** Suffix appended to portal room names, so that the third-party nature is visible. */
    room_name_suffix: z.string().max(64).default(' (via Hub)'),
    /**
     * Where portals appear by default: combined (the user's normal room list) or space (inside a
     * "Third-party chats" space the bot creates). Each user can change it with a bot command.
     */
    inbox_mode: z.enum(['combined', 'space']).default('combined'),
    /** Name of the per-user space used in space mode. */
    space_name: z.string().min(1).max(256).default('Third-party chats'),
    /**
     * Which `com.beeper.message_send_status` events the bridge posts for the Matrix user's messages.
     * `all` (default): `SUCCESS` when the hub accepted a message and again with `delivered_to_users`
     * when a hub device got it (a delivery within a moment of the acceptance replaces it: one
     * event), and every failure (always with an `m.notice` as well) — the sender is told sent,
     * delivered and failed, as Causeway promises every provider's users. `failures`: only failures,
     * as mautrix bridges default to (many clients do not show these events, and each one is an
     * encrypted event in the portal that advances its Megolm session and costs the bridge an
     * encryption, a device-state write and a request).
     */
    send_statuses: z.enum(SEND_STATUSES).default(DEFAULT_SEND_STATUSES),
    /** Create portals with end-to-end encryption (m.room.encryption, Megolm). */
    encrypt_portals: z.boolean().default(true),
    /** Seconds an undecryptable event waits for its keys before the sender is told. */
    undecryptable_timeout_s: z.number().int().positive().max(86_400).default(60),
    /**
     * Largest attachment the bridge moves, in bytes, either way: a Matrix file above it is refused
     * (send status and notice) without being downloaded, a hub file above it is announced as text.
     * The core's per-kind limits (`limits.max_media_bytes`) apply as well.
     */
    max_media_bytes: z.number().int().positive().max(1024 * 1024 * 1024).default(50 * 1024 * 1024),
    /** Seconds one attachment download from the homeserver may take. */
    media_timeout_s: z.number().int().positive().max(3600).default(120),
    /** Redis key part under the sidecar's prefix for this adapter's state (devices, portals, txns). */
    store_prefix: z.string().regex(/^[A-Za-z0-9:_-]{1,64}$/, 'must be 1–64 of [A-Za-z0-9:_-]').default('matrix'),
    /** Seconds a transaction id is remembered for deduplication. */
    txn_retention_s: z.number().int().positive().default(7 * 86_400),
    /**
     * The bridge lease (one replica at a time runs the crypto devices): its time to live in ms,
     * renewed while held; a crashed holder is replaced after at most this long.
     */
    lease_ttl_ms: z.number().int().min(300).max(300_000).default(10_000),
    /** How long a replica that does not hold the lease waits for it before answering "retry" (503). */
    lease_wait_ms: z.number().int().min(0).max(60_000).default(5_000),
    /** A holder keeps the lease at least this long before handing it to a replica that wants it. */
    lease_min_hold_ms: z.number().int().min(0).max(60_000).default(1_000),
  })
  .strict()
  // The registration document is derived here so that `causeway matrix-registration` (src/cli,
  // which may import only the registry) can print it; a function, so that it never serializes.
  .transform((c) => ({ ...c, registration: (): Registration => buildRegistration(c) }));

export type MatrixConfig = z.output<typeof matrixConfigSchema>;
