// What the hub carries, as the policy sees it: the spec's defaults (spec 11, 11.1), replaced by the
// hub's `features` answer when there is one (spec 11: `<kind name max-size/>`, `<unsupported name/>`),
// narrowed by the sidecar's own limits, and corrected by 406 `unsupported-in-interop` acks
// (spec 4, `<unsupported feature/>`). Pure and JSON-serializable, so the caller may keep it in
// Redis; time only enters through the `nowMs` arguments.
//
// Reading of the answer (docs/downgrade-policy.md): a kind named in `unsupported` is not carried;
// a kind in `kinds` is carried with its `max-size`; a media kind named in neither is assumed
// carried with the spec 11.1 limit (the hub "says otherwise" only by naming it) — a wrong guess
// costs one 406, which the policy then learns from.
import { MEDIA_KINDS, UNSUPPORTED_FEATURES } from '../protocol/index.ts';
import type { FeatureKind, MediaKind } from '../protocol/index.ts';

/** Spec 11.1 limits, in bytes. */
export const SPEC_MEDIA_LIMITS: Readonly<Record<MediaKind, number>> = {
  image: 16 * 1024 * 1024,
  video: 64 * 1024 * 1024,
  audio: 16 * 1024 * 1024,
  voice: 16 * 1024 * 1024,
  document: 100 * 1024 * 1024,
};

export interface HubFeatures {
  /** Kinds the hub announced (`text`, media kinds, any other), with the size limit it gave. */
  readonly kinds: Readonly<Record<string, { maxSize?: number }>>;
  /** Kinds and features the hub announced it does not carry. */
  readonly unsupported: readonly string[];
  /** Kinds and features refused with a 406 since, with the clock time (ms) of the ack. */
  readonly refused: Readonly<Record<string, number>>;
  /** Our own per-kind limits (config `limits.max_media_bytes`); the lower of ours and the hub's counts. */
  readonly limits?: Readonly<Partial<Record<MediaKind, number>>>;
  /** 'spec' until the hub answered `features`. */
  readonly source: 'spec' | 'hub';
  /** Clock time (ms) of the hub's answer. */
  readonly learnedAt?: number;
}

const TOKEN_RE = /^[a-z][a-z0-9-]{0,31}$/;

/** Spec 11 and 11.1 only: text and the five media kinds with their limits; the version 1 list unsupported. */
export const SPEC_FEATURES: HubFeatures = Object.freeze({
  kinds: Object.freeze({ text: {}, ...Object.fromEntries(MEDIA_KINDS.map((k) => [k, { maxSize: SPEC_MEDIA_LIMITS[k] }])) }),
  unsupported: UNSUPPORTED_FEATURES,
  refused: Object.freeze({}),
  source: 'spec',
});

/**
 * The hub's `features` answer (IqResultPayload op 'features'). Names that are not tokens and
 * non-positive sizes are ignored; a kind listed twice keeps its lower size; a name both carried
 * and unsupported counts as unsupported.
 */
export function featuresFromAnswer(answer: { kinds: readonly FeatureKind[]; unsupported: readonly string[] }, nowMs: number, previous?: HubFeatures): HubFeatures {
  const kinds: Record<string, { maxSize?: number }> = {};
  for (const k of answer.kinds) {
    if (!TOKEN_RE.test(k.name)) continue;
    const size = k.maxSize !== undefined && Number.isSafeInteger(k.maxSize) && k.maxSize > 0 ? k.maxSize : undefined;
    const before = Object.hasOwn(kinds, k.name) ? kinds[k.name]?.maxSize : undefined;
    const min = size === undefined ? before : before === undefined ? size : Math.min(before, size);
    kinds[k.name] = min === undefined ? {} : { maxSize: min };
  }
  const unsupported = [...new Set(answer.unsupported.filter((n) => TOKEN_RE.test(n)))];
  // A 406 learned after this answer is newer information than the answer itself.
  const refused = Object.fromEntries(Object.entries(previous?.refused ?? {}).filter(([, at]) => at > nowMs));
  return { kinds, unsupported, refused, ...(previous?.limits ? { limits: previous.limits } : {}), source: 'hub', learnedAt: nowMs };
}

/** Keeps the newer of two views (by `learnedAt`), with the 406s of both that are newer than it. */
export function mergeFeatures(a: HubFeatures, b: HubFeatures): HubFeatures {
  const [older, newer] = (a.learnedAt ?? -Infinity) > (b.learnedAt ?? -Infinity) ? [b, a] : [a, b];
  const since = newer.learnedAt ?? -Infinity;
  const refused: Record<string, number> = {};
  for (const src of [older.refused, newer.refused]) {
    for (const [name, at] of Object.entries(src)) if (at > since || src === newer.refused) refused[name] = Math.max(at, refused[name] ?? at);
  }
  const limits = newer.limits ?? older.limits;
  return { ...newer, refused, ...(limits ? { limits } : {}) };
}

/** Our own per-kind limits (config `limits.max_media_bytes`). */
export function withLimits(f: HubFeatures, limits: Readonly<Partial<Record<MediaKind, number>>>): HubFeatures {
  return { ...f, limits: { ...limits } };
}

/** A 406 `unsupported-in-interop` naming `name` (spec 4), at `nowMs`. */
export function withRefused(f: HubFeatures, name: string, nowMs: number): HubFeatures {
  return { ...f, refused: { ...f.refused, [name]: nowMs } };
}

/** Whether the hub carries a kind (`text`, a media kind) or feature name. */
export function carries(f: HubFeatures, name: string): boolean {
  if (f.unsupported.includes(name) || Object.hasOwn(f.refused, name)) return false;
  if (Object.hasOwn(f.kinds, name)) return true;
  // Media kinds are assumed carried unless named; anything else only when announced.
  return (MEDIA_KINDS as readonly string[]).includes(name);
}

/** The largest plaintext (bytes) the hub takes for a media kind: the lowest of the hub's, ours and spec 11.1's when the hub named none. */
export function mediaLimit(f: HubFeatures, kind: MediaKind): number {
  const hub = Object.hasOwn(f.kinds, kind) ? f.kinds[kind]?.maxSize : undefined;
  const ours = f.limits?.[kind];
  const base = hub ?? SPEC_MEDIA_LIMITS[kind];
  return ours === undefined ? base : Math.min(base, ours);
}

/** Whether the view should be refreshed with a new `features` query. */
export function isStale(f: HubFeatures, nowMs: number, maxAgeMs: number): boolean {
  return f.learnedAt === undefined || nowMs - f.learnedAt >= maxAgeMs;
}
