// One `Range: bytes=…` header against a blob of `size` bytes (RFC 9110 14.2). Single ranges only:
// a multi-range request is answered with the whole blob (RFC 9110 lets a server ignore Range),
// so no multipart/byteranges bodies. Pure.

export type RangeAnswer =
  | { kind: 'full' }
  | { kind: 'partial'; start: number; end: number }
  | { kind: 'unsatisfiable' };

export function parseRange(header: string | undefined, size: number): RangeAnswer {
  if (header === undefined) return { kind: 'full' };
  const h = header.trim();
  // Another unit: ignored (RFC 9110: a server MUST ignore a range unit it does not understand).
  if (!/^bytes\s*=/i.test(h)) return { kind: 'full' };
  const spec = h.slice(h.indexOf('=') + 1).trim();
  if (spec.includes(',')) return { kind: 'full' };
  const m = /^(\d*)-(\d*)$/.exec(spec);
  if (m === null || (m[1] === '' && m[2] === '')) return { kind: 'unsatisfiable' };
  const first = m[1] === '' ? undefined : Number(m[1]);
  const last = m[2] === '' ? undefined : Number(m[2]);
  if ((first !== undefined && !Number.isSafeInteger(first)) || (last !== undefined && !Number.isSafeInteger(last))) return { kind: 'unsatisfiable' };
  if (first === undefined) {
    // Suffix range: the last `last` bytes.
    if (last === undefined || last === 0 || size === 0) return { kind: 'unsatisfiable' };
    return { kind: 'partial', start: Math.max(0, size - last), end: size - 1 };
  }
  if (first >= size || (last !== undefined && last < first)) return { kind: 'unsatisfiable' };
  return { kind: 'partial', start: first, end: last === undefined ? size - 1 : Math.min(last, size - 1) };
}
