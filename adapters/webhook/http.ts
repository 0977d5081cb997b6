// Request plumbing of the webhook adapter's API: JSON bodies (content type, size, syntax), zod
// issues turned into `{ field, in, message }` entries, and the error responses. Every 4xx is
// answered here before a handler reaches the core.
import type { Context, MiddlewareHandler } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import type { z } from 'zod';

/** Largest request body accepted (JSON only for now; media uploads come later). */
export const MAX_BODY_BYTES = 1024 * 1024;

export type Where = 'body' | 'query' | 'path' | 'header';
export interface Issue {
  field: string;
  in: Where;
  message: string;
}

/** Validation failed: 400 naming every offending field. */
export const invalid = (c: Context, issues: Issue[]): Response => c.json({ error: 'invalid request', issues }, 400);

export const sizeLimit: MiddlewareHandler = bodyLimit({
  maxSize: MAX_BODY_BYTES,
  onError: (c) => c.json({ error: `request body larger than ${MAX_BODY_BYTES} bytes` }, 413),
});

/** `reply_to.id`, `message_ids[2]`. */
export function fieldPath(path: ReadonlyArray<PropertyKey>): string {
  let out = '';
  for (const seg of path) {
    if (typeof seg === 'number') out += `[${seg}]`;
    else out += out === '' ? String(seg) : `.${String(seg)}`;
  }
  return out;
}

/** One entry per problem; an unknown key is reported at its own path. */
export function issuesOf(error: z.ZodError, where: Where, root = ''): Issue[] {
  return error.issues.flatMap((iss): Issue[] => {
    const base = root !== '' && iss.path.length === 0 ? [root] : iss.path;
    if (iss.code === 'unrecognized_keys') {
      return iss.keys.map((k) => ({ field: fieldPath([...base, k]), in: where, message: 'unknown field' }));
    }
    return [{ field: fieldPath(base) || root || '(body)', in: where, message: iss.message }];
  });
}

/** Per-parse error map: a missing value says "required" rather than "expected string, received undefined". */
export const parseOptions = {
  error: (iss: { input?: unknown; code?: string }) => (iss.code === 'invalid_type' && iss.input === undefined ? 'required' : undefined),
};

/** Validates `value` with `schema`; on failure the issues are appended to `into`. */
export function check<S extends z.ZodType>(schema: S, value: unknown, where: Where, into: Issue[], root = ''): z.output<S> | undefined {
  const r = schema.safeParse(value, parseOptions);
  if (r.success) return r.data;
  into.push(...issuesOf(r.error, where, root));
  return undefined;
}

const JSON_TYPE = /^application\/json\s*(?:;\s*charset\s*=\s*"?utf-8"?\s*)?$/i;

/** Reads a JSON body: 415 unless Content-Type is application/json (UTF-8), 400 unless it parses. */
export async function readJson(c: Context): Promise<{ ok: true; value: unknown } | { ok: false; res: Response }> {
  const type = c.req.header('content-type');
  if (type === undefined || !JSON_TYPE.test(type.trim())) {
    return {
      ok: false,
      res: c.json({ error: 'unsupported media type', issues: [{ field: 'Content-Type', in: 'header', message: 'must be application/json' }] }, 415),
    };
  }
  const text = await c.req.text();
  try {
    return { ok: true, value: JSON.parse(text) as unknown };
  } catch (err) {
    return { ok: false, res: invalid(c, [{ field: '(body)', in: 'body', message: `not valid JSON: ${(err as Error).message}` }]) };
  }
}
