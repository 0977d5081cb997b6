// A contact card as vCard 3.0 (RFC 2426) or 4.0 (RFC 6350): the contact converter's document
// (spec 11 media kind `document`, mime text/vcard). Pure. Lines end in CRLF and are folded at 75
// octets without splitting a UTF-8 sequence (RFC 6350 3.2); text values are escaped (3.4). Phone
// labels the TYPE parameter knows become TYPE; any other label travels as the widely read
// `itemN.X-ABLabel` grouping, so no label is lost.
import type { ContactData } from './features.ts';

export type VcardVersion = '3.0' | '4.0';

const TYPE_OF_LABEL: Readonly<Record<string, string>> = {
  mobile: 'cell', cell: 'cell', cellular: 'cell', iphone: 'cell',
  home: 'home', work: 'work', office: 'work', business: 'work',
  fax: 'fax', pager: 'pager', voice: 'voice', main: 'voice',
};

/** RFC 6350 3.4: backslash, comma, semicolon and line breaks are escaped in text values. */
export function escapeValue(s: string): string {
  return s.replace(/\\/g, '\\\\').replace(/,/g, '\\,').replace(/;/g, '\\;').replace(/\r\n|\r|\n/g, '\\n');
}

const encoder = new TextEncoder();

/** RFC 6350 3.2: at most 75 octets per line; continuation lines start with one space. */
export function foldLine(line: string): string {
  if (encoder.encode(line).length <= 75) return line;
  const out: string[] = [];
  let current = '';
  let octets = 0;
  for (const ch of line) {
    const size = encoder.encode(ch).length;
    const room = out.length === 0 ? 75 : 74;
    if (octets + size > room) {
      out.push(current);
      current = '';
      octets = 0;
    }
    current += ch;
    octets += size;
  }
  out.push(current);
  return out.join('\r\n ');
}

/** The card's text (CRLF line ends, a final CRLF). */
export function buildVcard(c: ContactData, version: VcardVersion): string {
  const upper = version === '3.0';
  const type = (t: string): string => (upper ? t.toUpperCase() : t);
  const lines = ['BEGIN:VCARD', `VERSION:${version}`, `FN:${escapeValue(c.name)}`];
  // N is required in 3.0; the name is not split into family and given names (we cannot know how).
  if (upper) lines.push(`N:;${escapeValue(c.name)};;;`);
  if (c.organization !== undefined) lines.push(`ORG:${escapeValue(c.organization)}`);
  let group = 0;
  for (const p of c.phones ?? []) {
    const label = p.label?.trim();
    const known = label === undefined ? undefined : TYPE_OF_LABEL[label.toLowerCase()];
    if (label === undefined || known !== undefined) {
      lines.push(`TEL${known === undefined ? '' : `;TYPE=${type(known)}`}:${escapeValue(p.number)}`);
    } else {
      group++;
      lines.push(`item${group}.TEL:${escapeValue(p.number)}`, `item${group}.X-ABLabel:${escapeValue(label)}`);
    }
  }
  for (const e of c.emails ?? []) lines.push(`EMAIL:${escapeValue(e)}`);
  lines.push('END:VCARD');
  return lines.map(foldLine).join('\r\n') + '\r\n';
}

/** "Ada Lovelace.vcf": characters file systems refuse become "_"; at most 100 characters before ".vcf". */
export function vcardFilename(name: string): string {
  // eslint-disable-next-line no-control-regex
  const safe = [...name.replace(/[\u0000-\u001F\u007F/\\:*?"<>|]/g, '_').replace(/\s+/g, ' ').trim().replace(/^\.+/, '')]
    .slice(0, 100)
    .join('')
    .trim();
  return `${safe === '' ? 'contact' : safe}.vcf`;
}
