// Text helpers of the downgrade policy: everything a converter writes goes through these, so that
// the result is valid content text (spec 11: XML characters only, at most 65,536 code points) and
// the same input always gives the same output. Pure; no locale-dependent formatting.

/** Spec 11: `<text>` holds at most 65,536 Unicode code points. */
export const MAX_TEXT_CODE_POINTS = 65_536;
export const ELLIPSIS = '…';

// eslint-disable-next-line no-control-regex
const NOT_XML_CHAR = /[\u0000-\u0008\u000B\u000C\u000E-\u001F\uFFFE\uFFFF]/;

/** Whether `s` can travel as XML character data (no lone surrogates, no C0 controls but tab/LF/CR). */
export function isXmlText(s: string): boolean {
  return s.isWellFormed() && !NOT_XML_CHAR.test(s);
}

/** Number of code points (an astral character counts once, as in spec 11). */
export function codePoints(s: string): number {
  let n = 0;
  for (const _ of s) n++;
  return n;
}

/** Cuts `s` to at most `max` code points, ending with an ellipsis when something was cut. */
export function truncateCodePoints(s: string, max: number = MAX_TEXT_CODE_POINTS): string {
  if (s.length <= max) return s;
  let n = 0;
  let end = 0;
  for (const ch of s) {
    if (n === max - 1) {
      // One more code point would still fit only if it is the last one.
      return end + ch.length === s.length ? s : s.slice(0, end) + ELLIPSIS;
    }
    n++;
    end += ch.length;
  }
  return s;
}

const segmenter = new Intl.Segmenter('und', { granularity: 'grapheme' });

/** At most `max` user-perceived characters of `s` on one line, with an ellipsis when cut. */
export function excerpt(s: string, max: number): string {
  const line = oneLine(s);
  let n = 0;
  let end = 0;
  for (const { segment } of segmenter.segment(line)) {
    if (n === max) return `${line.slice(0, end).trimEnd()}${ELLIPSIS}`;
    n++;
    end += segment.length;
  }
  return line;
}

/** Whitespace runs (line breaks included) become one space; trimmed. */
export function oneLine(s: string): string {
  return s.replace(/\s+/g, ' ').trim();
}

/** Replaces `{name}` with `values[name]`; placeholders were checked by the config schema. */
export function fill(template: string, values: Record<string, string>): string {
  return template.replace(/\{([^{}]*)\}/g, (whole, name: string) => values[name] ?? whole);
}

/** Joins the non-empty parts with LF. */
export function lines(...parts: Array<string | undefined | false>): string {
  return parts.filter((p): p is string => typeof p === 'string' && p.length > 0).join('\n');
}

/** A coordinate with at most 6 decimals (≈ 0.1 m), no exponent, no trailing zeros, no "-0". */
export function coordinate(x: number): string {
  const r = Number(x.toFixed(6));
  return Object.is(r, -0) ? '0' : String(r);
}

const UNITS: Array<[number, string]> = [
  [7 * 86_400, 'week'],
  [86_400, 'day'],
  [3_600, 'hour'],
  [60, 'minute'],
  [1, 'second'],
];

/** "1 day", "7 days", "36 hours", "90 seconds": the largest unit that divides exactly. */
export function duration(seconds: number): string {
  for (const [size, unit] of UNITS) {
    if (seconds % size === 0) {
      const n = seconds / size;
      return `${n} ${unit}${n === 1 ? '' : 's'}`;
    }
  }
  return `${seconds} seconds`;
}

/** "812 B", "1.2 KB", "16 MB" (decimal units, one decimal below 10). */
export function byteSize(n: number): string {
  if (n < 1000) return `${n} B`;
  for (const [size, unit] of [[1e3, 'KB'], [1e6, 'MB'], [1e9, 'GB']] as const) {
    const v = n / size;
    const shown = v < 10 ? (Math.round(v * 10) / 10).toFixed(1).replace(/\.0$/, '') : String(Math.round(v));
    if (Number(shown) < 1000) return `${shown} ${unit}`;
  }
  return `${(Math.round((n / 1e12) * 10) / 10).toFixed(1).replace(/\.0$/, '')} TB`;
}
