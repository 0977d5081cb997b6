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

const utf8 = new TextDecoder('utf-8', { fatal: true });

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
  // Read outside the try: the size limit's error must reach its middleware (413).
  const bytes = await c.req.arrayBuffer();
  // Decoded strictly: a lenient decode would turn invalid bytes into U+FFFD and queue that.
  let text: string;
  try {
    text = utf8.decode(bytes);
  } catch {
    return { ok: false, res: invalid(c, [{ field: '(body)', in: 'body', message: 'not valid UTF-8' }]) };
  }
  let value: unknown;
  try {
    value = JSON.parse(text) as unknown;
  } catch (err) {
    return { ok: false, res: invalid(c, [{ field: '(body)', in: 'body', message: `not valid JSON: ${(err as Error).message}` }]) };
  }
  const dup = repeatedMember(text);
  if (dup !== undefined) return { ok: false, res: invalid(c, [{ field: fieldPath(dup), in: 'body', message: 'appears twice in its object' }]) };
  return { ok: true, value };
}

/**
 * The path of the first member name repeated within one object of `text` (valid JSON), or
 * undefined. JSON.parse keeps the last of two silently, so `{"enabled":true,"enabled":false}`
 * would act on a value the sender may not have meant: refused instead. Names compare decoded.
 */
// A JSON string from its opening quote (sticky: matched at lastIndex only).
const JSON_STRING = /"[^"\\]*(?:\\.[^"\\]*)*"/y;

export function repeatedMember(text: string): PropertyKey[] | undefined {
  type Frame = { keys?: Set<string>; at: PropertyKey; expectKey: boolean };
  const stack: Frame[] = [];
  for (let i = 0; i < text.length; i++) {
    const ch = text[i];
    const top = stack[stack.length - 1];
    if (ch === '{') stack.push({ keys: new Set(), at: '', expectKey: true });
    else if (ch === '[') stack.push({ at: 0, expectKey: false });
    else if (ch === '}' || ch === ']') stack.pop();
    else if (ch === ',' && top) {
      if (top.keys) top.expectKey = true;
      else top.at = (top.at as number) + 1;
    } else if (ch === '"') {
      // Skipped whole (values can be long: base64 files): only member names are decoded.
      JSON_STRING.lastIndex = i;
      JSON_STRING.test(text);
      const end = JSON_STRING.lastIndex - 1;
      if (top?.keys && top.expectKey) {
        const name = JSON.parse(text.slice(i, end + 1)) as string;
        if (top.keys.has(name)) return [...stack.slice(0, -1).map((f) => f.at), name];
        top.keys.add(name);
        top.at = name;
        top.expectKey = false;
      }
      i = end;
    }
  }
  return undefined;
}
