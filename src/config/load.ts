// Loading a YAML configuration file and validating it with a zod schema in one pass: syntax
// errors, schema issues and any extra checks (adapter configs) are all collected, placed at their
// line and column, and thrown together as one ConfigError. Synchronous: secrets are read with
// readFileSync while the schema runs (src/config/secret.ts).
import { readFileSync } from 'node:fs';
import type { z } from 'zod';
import { ConfigError, type PathIssue } from './errors.ts';
import { fromZodIssues, placeIssues, readableErrors } from './messages.ts';
import { readYaml } from './yaml-source.ts';

export interface ValidateOptions<T> {
  /**
   * Validate only the value at this path (e.g. `['mock_hub']`); issues keep their full path. The
   * value must exist there.
   */
  at?: readonly (string | number)[];
  /**
   * Further checks in the same pass. `raw` is the value as read from YAML (at `at`); `parsed` is the
   * schema's output, or undefined when the schema failed. May complete `parsed` in place (adapter
   * configs replaced by their validated form). Returns issues by path, relative to `at`.
   */
  check?: (raw: unknown, parsed: T | undefined) => PathIssue[];
  /** Messages for keys that were removed from the schema, by path (see fromZodIssues). */
  removed?: Readonly<Record<string, string>>;
}

/** Parses and validates config text; throws ConfigError listing every issue. */
export function parseConfigText<S extends z.ZodType>(
  text: string,
  fileName: string,
  schema: S,
  opts: ValidateOptions<z.output<S>> = {},
): z.output<S> {
  const source = readYaml(text);
  if (source.unusable) throw new ConfigError(fileName, source.issues);

  const at = opts.at ?? [];
  const raw = valueAt(source.value, at);
  const pathIssues: PathIssue[] = [];
  let parsed: z.output<S> | undefined;
  if (raw === undefined && at.length > 0) {
    pathIssues.push({ path: [], message: 'missing section' });
  } else {
    const result = schema.safeParse(raw, { error: readableErrors });
    if (result.success) parsed = result.data;
    else pathIssues.push(...fromZodIssues(result.error.issues, [], opts.removed));
    if (opts.check) pathIssues.push(...opts.check(raw, parsed));
  }

  const relocated = pathIssues.map((i) => ({ ...i, path: [...at, ...i.path] }));
  const issues = [...source.issues, ...placeIssues(relocated, source.locate)];
  if (issues.length > 0 || parsed === undefined) throw new ConfigError(fileName, issues);
  return parsed;
}

/** Reads and validates a config file; throws ConfigError (also for a file that cannot be read). */
export function loadConfigFile<S extends z.ZodType>(file: string, schema: S, opts: ValidateOptions<z.output<S>> = {}): z.output<S> {
  return parseConfigText(readConfigText(file), file, schema, opts);
}

/** The file's text, or a ConfigError saying why it cannot be read. */
export function readConfigText(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? String(err);
    throw new ConfigError(file, [{ path: '', line: 0, column: 0, message: `cannot read the file (${code})` }]);
  }
}

/** The top-level keys of the file's mapping (empty when unreadable): lets callers tell file kinds apart. */
export function topLevelKeys(text: string): string[] {
  const { value } = readYaml(text);
  return value !== null && typeof value === 'object' && !Array.isArray(value) ? Object.keys(value) : [];
}

function valueAt(value: unknown, path: readonly (string | number)[]): unknown {
  let v = value;
  for (const seg of path) {
    if (v === null || typeof v !== 'object' || !Object.hasOwn(v, seg)) return undefined;
    v = (v as Record<string | number, unknown>)[seg];
  }
  return v;
}
