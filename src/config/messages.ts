// Readable validation messages for config files: a zod error map that says what was expected in
// YAML terms ("expected string, got number", the allowed values of an enum, the allowed keys of a
// section), and the conversion of zod issues into ConfigIssues placed at their line and column.
// Messages never include a field's value unless it is an enum choice, so secrets cannot leak.
import type { z } from 'zod';
import { formatPath, type ConfigIssue, type PathIssue } from './errors.ts';
import { secretSchema } from './secret.ts';
import type { Position } from './yaml-source.ts';

const TYPE_WORDS: Record<string, string> = {
  object: 'mapping',
  array: 'list',
  int: 'integer',
  boolean: 'boolean (true or false)',
};

/** The YAML word for the type of a parsed value. */
function typeOf(v: unknown): string {
  if (v === null) return 'null (an empty value)';
  if (Array.isArray(v)) return 'list';
  if (v instanceof Uint8Array) return 'binary';
  if (typeof v === 'number') return Number.isInteger(v) ? 'integer' : 'number';
  if (typeof v === 'object') return 'mapping';
  return typeof v;
}

/** A short, safe rendering of an enum candidate (only used for values that failed an enum). */
function shown(v: unknown): string {
  if (typeof v === 'string') return JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}…` : v);
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  return typeOf(v);
}

const word = (expected: string): string => TYPE_WORDS[expected] ?? expected;

/** The union behind `secretSchema` (a pipe of union → transform). */
const SECRET_UNION: unknown = secretSchema.in;

/** Per-parse error map: schema-level messages (`.regex(re, 'message')`) still take precedence. */
export const readableErrors: z.core.$ZodErrorMap = (iss) => {
  switch (iss.code) {
    case 'invalid_type':
      if (iss.input === undefined) return `missing required field (expected ${word(iss.expected)})`;
      // YAML's .inf and .nan are numbers to YAML but not to the schema.
      if (iss.expected === 'number' && typeof iss.input === 'number') return `expected a finite number, got ${Number.isNaN(iss.input) ? 'NaN' : 'infinity'}`;
      return `expected ${word(iss.expected)}, got ${typeOf(iss.input)}`;
    case 'invalid_value':
      if (iss.values.length === 1) return `expected ${shown(iss.values[0])}, got ${shown(iss.input)}`;
      return `expected one of ${iss.values.map(shown).join(', ')}; got ${shown(iss.input)}`;
    case 'too_small':
      return sizeMessage(iss.origin, 'min', Number(iss.minimum), iss.inclusive !== false);
    case 'too_big':
      return sizeMessage(iss.origin, 'max', Number(iss.maximum), iss.inclusive !== false);
    case 'invalid_format':
      if (iss.format === 'url') return 'expected a URL such as https://host/path';
      if (iss.format === 'regex' && typeof iss.pattern === 'string') return `must match ${iss.pattern}`;
      return `expected a valid ${iss.format}`;
    case 'not_multiple_of':
      return `must be a multiple of ${String(iss.divisor)}`;
    case 'unrecognized_keys': {
      const shape = iss.inst !== undefined && 'shape' in iss.inst ? (iss.inst.shape as Record<string, unknown>) : undefined;
      return shape ? `unknown key (allowed here: ${Object.keys(shape).join(', ')})` : 'unknown key';
    }
    case 'invalid_union': {
      if (iss.inst === SECRET_UNION) {
        const what = 'a secret: a non-empty string, { env: VARIABLE } or { file: PATH }';
        return iss.input === undefined ? `missing required field (expected ${what})` : `expected ${what}; got ${typeOf(iss.input)}`;
      }
      const expected = new Set<string>();
      for (const branch of iss.errors) {
        for (const sub of branch) if (sub.code === 'invalid_type' && sub.path.length === 0) expected.add(word(sub.expected));
      }
      if (iss.input === undefined) return `missing required field${expected.size > 0 ? ` (expected ${[...expected].join(' or ')})` : ''}`;
      return expected.size > 0 ? `expected ${[...expected].join(' or ')}, got ${typeOf(iss.input)}` : undefined;
    }
    default:
      return undefined;
  }
};

function sizeMessage(origin: string, bound: 'min' | 'max', n: number, inclusive: boolean): string {
  const atLeast = bound === 'min';
  if (origin === 'string') {
    if (atLeast && n === 1) return 'must not be empty';
    return `must be ${atLeast ? 'at least' : 'at most'} ${n} characters`;
  }
  if (origin === 'array' || origin === 'set') {
    if (atLeast && n === 1) return 'must not be empty (at least 1 item)';
    return `must have ${atLeast ? 'at least' : 'at most'} ${n} items`;
  }
  const op = atLeast ? (inclusive ? '>=' : '>') : inclusive ? '<=' : '<';
  return `must be ${op} ${n}`;
}

/**
 * zod issues → PathIssues. `prefix` is the path of the validated value inside the file (a section
 * validated on its own, an adapter's `config`). An unknown-keys issue becomes one issue per key,
 * placed at the key; a key `removed` names (by its formatted path) gets that message instead.
 */
export function fromZodIssues(issues: readonly z.core.$ZodIssue[], prefix: readonly PropertyKey[] = [], removed: Readonly<Record<string, string>> = {}): PathIssue[] {
  const out: PathIssue[] = [];
  for (const iss of issues) {
    const path = [...prefix, ...iss.path];
    if (iss.code === 'unrecognized_keys') {
      for (const key of iss.keys) out.push({ path: [...path, key], message: removed[formatPath([...path, key])] ?? iss.message, on: 'key' });
    } else {
      out.push({ path, message: iss.message });
    }
  }
  return out;
}

/** PathIssues → ConfigIssues at their line and column. */
export function placeIssues(issues: readonly PathIssue[], locate: (path: readonly PropertyKey[], on?: 'key' | 'value') => Position): ConfigIssue[] {
  return issues.map((i) => ({ path: formatPath(i.path), ...locate(i.path, i.on), message: i.message }));
}
