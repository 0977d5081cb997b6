// Reading an appservice transaction body: room events, and the encryption extensions under every
// spelling homeservers use — MSC2409/MSC4203 `to_device` and `ephemeral` (unprefixed, and
// `de.sorunome.msc2409.*` as Synapse sends them), MSC3202 `device_lists`, one-time key counts
// (`org.matrix.msc3202.device_one_time_keys_count` as the MSC spells it, and
// `org.matrix.msc3202.device_one_time_key_counts` as Synapse does) and unused fallback key types.
// A count left out means "unchanged" (the bridge feeds them with MSC4186 semantics). Pure.
import type { Json } from './matrix-api.ts';

export interface TransactionParts {
  events: Json[];
  ephemeral: Json[];
  toDevice: Json[];
  changed: string[];
  left: string[];
  /** user → device → algorithm → count. */
  otkCounts: Record<string, Record<string, Record<string, number>>>;
  /** user → device → key types. */
  fallbackKeyTypes: Record<string, Record<string, string[]>>;
}

const pick = (b: Json, names: string[]): unknown => {
  for (const n of names) if (b[n] !== undefined) return b[n];
  return undefined;
};
const arr = (v: unknown): Json[] => (Array.isArray(v) ? v.filter((x): x is Json => typeof x === 'object' && x !== null) : []);
const strings = (v: unknown): string[] => (Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : []);
const obj = (v: unknown): Json => (typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Json) : {});

export function readTransaction(b: Json): TransactionParts {
  const lists = obj(pick(b, ['device_lists', 'org.matrix.msc3202.device_lists']));
  const counts: TransactionParts['otkCounts'] = {};
  const rawCounts = obj(pick(b, ['device_one_time_keys_count', 'org.matrix.msc3202.device_one_time_keys_count', 'org.matrix.msc3202.device_one_time_key_counts']));
  for (const [user, devices] of Object.entries(rawCounts)) {
    for (const [device, algs] of Object.entries(obj(devices))) {
      const clean: Record<string, number> = {};
      for (const [alg, n] of Object.entries(obj(algs))) if (typeof n === 'number' && Number.isInteger(n) && n >= 0) clean[alg] = n;
      (counts[user] ??= {})[device] = clean;
    }
  }
  const fallback: TransactionParts['fallbackKeyTypes'] = {};
  const rawFallback = obj(pick(b, ['device_unused_fallback_key_types', 'org.matrix.msc3202.device_unused_fallback_key_types']));
  for (const [user, devices] of Object.entries(rawFallback)) {
    for (const [device, types] of Object.entries(obj(devices))) (fallback[user] ??= {})[device] = strings(types);
  }
  return {
    events: arr(b.events),
    ephemeral: arr(pick(b, ['ephemeral', 'de.sorunome.msc2409.ephemeral'])),
    toDevice: arr(pick(b, ['to_device', 'de.sorunome.msc2409.to_device', 'org.matrix.msc2409.to_device'])),
    changed: strings(lists.changed),
    left: strings(lists.left),
    otkCounts: counts,
    fallbackKeyTypes: fallback,
  };
}
