// vCard output (src/policy/vcard.ts): exact 3.0 and 4.0 cards, escaping (RFC 6350 3.4), folding at
// 75 octets without splitting UTF-8 (3.2), labels, and file names.
import { describe, expect, it } from 'vitest';
import { buildVcard } from '../../src/policy/index.ts';
import { escapeValue, foldLine, vcardFilename } from '../../src/policy/vcard.ts';
import { ADA_VCARD_30 } from './helpers.ts';

const octets = (s: string): number => new TextEncoder().encode(s).length;

describe('vCard', () => {
  it('3.0 with every field', () => {
    expect(
      buildVcard({ name: 'Ada Lovelace', phones: [{ number: '+44 7700 900123', label: 'mobile' }], emails: ['ada@example.com'], organization: 'Analytical Engines' }, '3.0'),
    ).toBe(ADA_VCARD_30);
  });

  it('4.0 with a known label, an unknown one (X-ABLabel grouping) and none', () => {
    const card = buildVcard(
      { name: 'Bob', phones: [{ number: '+1 555 0100', label: 'Work' }, { number: '+1 555 0101', label: 'Grandma’s' }, { number: '555 0102' }, { number: '555 0103', label: 'boat' }] },
      '4.0',
    );
    expect(card.split('\r\n')).toEqual([
      'BEGIN:VCARD',
      'VERSION:4.0',
      'FN:Bob',
      'TEL;TYPE=work:+1 555 0100',
      'item1.TEL:+1 555 0101',
      'item1.X-ABLabel:Grandma’s',
      'TEL:555 0102',
      'item2.TEL:555 0103',
      'item2.X-ABLabel:boat',
      'END:VCARD',
      '',
    ]);
  });

  it('escapes backslash, comma, semicolon and line breaks in values', () => {
    expect(escapeValue('a\\b,c;d\ne\r\nf')).toBe('a\\\\b\\,c\\;d\\ne\\nf');
    expect(buildVcard({ name: 'Smith, John; Jr.' }, '3.0')).toContain('\r\nFN:Smith\\, John\\; Jr.\r\nN:;Smith\\, John\\; Jr.;;;\r\n');
  });

  it('folds long lines at 75 octets, continuation lines starting with a space, never inside a character', () => {
    const name = 'Ωmega '.repeat(20).trim();
    const folded = foldLine(`FN:${name}`);
    const parts = folded.split('\r\n');
    expect(parts.length).toBeGreaterThan(1);
    expect(octets(parts[0] as string)).toBeLessThanOrEqual(75);
    for (const p of parts.slice(1)) {
      expect(p.startsWith(' ')).toBe(true);
      expect(octets(p)).toBeLessThanOrEqual(75);
    }
    expect(parts.map((p, i) => (i === 0 ? p : p.slice(1))).join('')).toBe(`FN:${name}`);
    expect(folded).not.toContain('\uFFFD');
    expect(foldLine('FN:short')).toBe('FN:short');
  });

  it('file names: the contact name, without characters file systems refuse', () => {
    expect(vcardFilename('Ada Lovelace')).toBe('Ada Lovelace.vcf');
    expect(vcardFilename('a/b\\c:d*e?"<>|\u0001')).toBe('a_b_c_d_e______.vcf');
    expect(vcardFilename('..hidden')).toBe('hidden.vcf');
    expect(vcardFilename('...')).toBe('contact.vcf');
    expect(vcardFilename('x'.repeat(300))).toBe(`${'x'.repeat(100)}.vcf`);
  });
});
