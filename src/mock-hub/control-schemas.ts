// Bodies of the control API (docs/mock-hub.md), validated with zod. Unknown fields are ignored;
// a bad body is answered 400 `{ "error": "…", "field": "…" }` naming the first offending field.
import { z } from 'zod';
import { MEDIA_KINDS, isValidId } from '../protocol/index.ts';

const device = z.number().int().min(0).max(1023);
const rate = z.number().min(0).max(1);

export const createUserBody = z.object({
  phone: z.string().regex(/^\+?[1-9][0-9]{5,14}$/, 'an E.164 phone number such as "+447700900123"'),
  name: z.string().optional(),
  devices: z.array(device).min(1).optional(),
  third_party: z.object({ enabled: z.boolean().default(true), providers: z.array(z.string()).default(['*']) }).optional(),
  script: z.object({
    echo: z.boolean().optional(), receipts: z.boolean().optional(), read: z.boolean().optional(), delay_ms: z.number().int().min(0).optional(),
  }).optional(),
});

export const scriptBody = z.object({
  echo: z.boolean().optional(),
  receipts: z.boolean().optional(),
  read: z.boolean().optional(),
  delay_ms: z.number().int().min(0).optional(),
});

export const deviceBody = z.object({ device: device.optional() });

export const thirdPartyBody = z.object({ enabled: z.boolean(), providers: z.array(z.string()).optional() });

export const blockBody = z
  .object({ user: z.string().optional(), provider: z.string().regex(/^[a-z0-9-]{1,32}$/).optional() })
  .refine((b) => b.user !== undefined || b.provider !== undefined, { message: 'give user or provider', path: ['user'] });

export const sendBody = z.object({
  to: z.string(),
  text: z.string().optional(),
  media: z.object({
    kind: z.enum(MEDIA_KINDS),
    mime: z.string().min(1),
    data: z.string().regex(/^[A-Za-z0-9+/]*={0,2}$/, 'base64'),
    filename: z.string().optional(),
  }).optional(),
  reply_to: z.string().optional(),
  from_device: device.optional(),
});

export const receiptsBody = z.object({
  to: z.string(),
  // message ids of spec 3: anything else could never be built into a receipt stanza
  ids: z.array(z.string().refine(isValidId, 'a message id: 8–64 of [A-Za-z0-9_-]')).min(1),
  type: z.enum(['delivery', 'read', 'played']),
});

export const faultsBody = z.object({
  refuse_sessions_for_s: z.number().min(0).optional(),
  ack_delay_ms: z.number().int().min(0).optional(),
  drop_acks_rate: rate.optional(),
  error: z.object({
    rate,
    code: z.union([z.literal(401), z.literal(429), z.literal(500), z.literal(503)]),
    retry_after: z.number().int().min(0).optional(),
  }).optional(),
  stop_routing_for_s: z.number().min(0).optional(),
});

export type BodyResult<T> = { ok: true; value: T } | { ok: false; error: string; field: string };

/** Validates a parsed JSON body; the first issue names the field (dotted path). */
export function check<S extends z.ZodType>(schema: S, body: unknown): BodyResult<z.output<S>> {
  const r = schema.safeParse(body);
  if (r.success) return { ok: true, value: r.data };
  const issue = r.error.issues[0];
  const field = issue?.path.map(String).join('.') || guessField(issue?.message);
  return { ok: false, error: issue?.message ?? 'invalid body', field };
}

function guessField(message: string | undefined): string {
  const m = message === undefined ? null : /\b(jwks_url|jwks|push_url|push_secret)\b/.exec(message);
  return m?.[1] ?? 'body';
}
