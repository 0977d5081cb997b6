// Text helpers (src/policy/text.ts): the spec 11 cap in code points, grapheme excerpts and the
// fixed number formats of the converters.
import { describe, expect, it } from 'vitest';
import { byteSize, codePoints, coordinate, duration, excerpt, fill, isXmlText, truncateCodePoints } from '../../src/policy/text.ts';

describe('text helpers', () => {
  it('truncateCodePoints counts astral characters once and ends cut text with an ellipsis', () => {
    expect(truncateCodePoints('abc', 3)).toBe('abc');
    expect(truncateCodePoints('abcd', 3)).toBe('ab…');
    expect(truncateCodePoints('😀😀😀', 3)).toBe('😀😀😀');
    expect(truncateCodePoints('😀😀😀😀', 3)).toBe('😀😀…');
    expect(truncateCodePoints('ab', 1)).toBe('…');
    expect(codePoints(truncateCodePoints('😀'.repeat(70_000)))).toBe(65_536);
  });

  it('excerpt keeps graphemes whole and puts the text on one line', () => {
    expect(excerpt('  two\n\nlines  ', 20)).toBe('two lines');
    expect(excerpt('🇬🇧🇫🇷🇩🇪', 2)).toBe('🇬🇧🇫🇷…');
    expect(excerpt('abc def', 4)).toBe('abc…');
  });

  it('fill replaces known placeholders and leaves others', () => {
    expect(fill('{a}-{b}-{c}', { a: '1', b: '2' })).toBe('1-2-{c}');
  });

  it('isXmlText refuses C0 controls, lone surrogates and U+FFFE/U+FFFF', () => {
    expect(isXmlText('tab\tline\ncr\r😀')).toBe(true);
    for (const bad of ['\u0000', '\u001f', '\ud800', '\udc00x', '\ufffe', '\uffff']) expect(isXmlText(`a${bad}`)).toBe(false);
  });

  it('coordinate: at most 6 decimals, no exponent, no -0', () => {
    expect(coordinate(51.5007292)).toBe('51.500729');
    expect(coordinate(-0.0000001)).toBe('0');
    expect(coordinate(0.000001)).toBe('0.000001');
    expect(coordinate(-180)).toBe('-180');
  });

  it('duration uses the largest unit that divides', () => {
    expect([1, 90, 300, 3600, 129_600, 86_400, 604_800, 7_776_000].map(duration)).toEqual([
      '1 second', '90 seconds', '5 minutes', '1 hour', '36 hours', '1 day', '1 week', '90 days',
    ]);
  });

  it('byteSize in decimal units', () => {
    expect([0, 999, 1000, 1234, 12_345, 999_999, 1_500_000, 16_777_216, 104_857_600, 2_500_000_000].map(byteSize)).toEqual([
      '0 B', '999 B', '1 KB', '1.2 KB', '12 KB', '1 MB', '1.5 MB', '17 MB', '105 MB', '2.5 GB',
    ]);
  });
});
