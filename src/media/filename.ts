// File names that travel in `<media filename>` (spec 11) come from providers, URLs and hub users:
// keep only a plain name that no receiver can mistake for a path or render deceptively.
// Pure.

/** Control characters; directional marks, overrides and isolates (U+202A–U+202E, U+2066–U+2069) can disguise an extension. */
const UNSAFE = /[\p{Cc}\u200e\u200f\u202a-\u202e\u2066-\u2069\ufeff]/gu;
const MAX_BYTES = 255;

/** The last path component without control or bidi characters, at most 255 UTF-8 bytes; undefined if nothing is left. */
export function sanitizeFilename(name: string | undefined): string | undefined {
  if (name === undefined) return undefined;
  const base = [...(name.split(/[/\\]/).pop() ?? '').slice(0, 2048)].slice(0, 1024).join('').toWellFormed();
  let clean = base.replace(UNSAFE, '').replace(/\s+/g, ' ').trim();
  if (clean === '' || clean === '.' || clean === '..') return undefined;
  const encoder = new TextEncoder();
  if (encoder.encode(clean).length > MAX_BYTES) {
    // Shorten the stem, keeping a short extension, on code point boundaries.
    const dot = clean.lastIndexOf('.');
    const ext = dot > 0 && clean.length - dot <= 16 ? clean.slice(dot) : '';
    let stem = [...clean.slice(0, clean.length - ext.length)];
    while (stem.length > 0 && encoder.encode(stem.join('') + ext).length > MAX_BYTES) stem = stem.slice(0, -1);
    clean = stem.join('') + ext;
  }
  return clean;
}
