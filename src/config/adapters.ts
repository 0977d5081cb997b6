// Validation of each `adapters[N].config` with the schema of its `type` (as Envoy's typed_config:
// the core knows only the registry, each adapter owns its schema). Runs on the value as read from
// YAML, so that adapter issues are reported in the same pass as the rest of the file even when
// other sections are invalid.
import type { z } from 'zod';
import type { PathIssue } from './errors.ts';
import { fromZodIssues, readableErrors } from './messages.ts';

/** Adapter type → the schema of its `config`. */
export type AdapterSchemaRegistry = Readonly<Record<string, z.ZodType>>;

export interface AdapterValidation {
  issues: PathIssue[];
  /** The validated `config` of each adapter by index (undefined where it failed or was skipped). */
  configs: unknown[];
}

/**
 * Validates every adapter's `config` (a missing one counts as `{}`). `cfg` is the whole config
 * object, raw or parsed; paths in the result start at the config's root (`adapters[1].config.url`).
 */
export function validateAdapters(cfg: unknown, registry: AdapterSchemaRegistry): AdapterValidation {
  const issues: PathIssue[] = [];
  const configs: unknown[] = [];
  const list = isRecord(cfg) ? cfg.adapters : undefined;
  if (!Array.isArray(list)) return { issues, configs };
  const known = Object.keys(registry).sort();

  list.forEach((entry: unknown, i) => {
    if (!isRecord(entry) || typeof entry.type !== 'string') return; // reported by the main schema
    const schema = Object.hasOwn(registry, entry.type) ? registry[entry.type] : undefined;
    if (schema === undefined) {
      const choices = known.length > 0 ? `known types: ${known.join(', ')}` : 'no adapter types are available';
      issues.push({ path: ['adapters', i, 'type'], message: `unknown adapter type "${entry.type}" (${choices})` });
      return;
    }
    const result = schema.safeParse(entry.config ?? {}, { error: readableErrors });
    if (result.success) configs[i] = result.data;
    else issues.push(...fromZodIssues(result.error.issues, ['adapters', i, 'config']));
  });
  return { issues, configs };
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}
