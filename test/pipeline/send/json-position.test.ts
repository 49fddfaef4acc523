/** The offset where a text stops being JSON: agrees with JSON.parse on what is JSON, and points at the first bad character. */
import fc from 'fast-check';
import { expect, it } from 'vitest';
import { jsonErrorOffset } from '../../../cli/send/json-position.ts';

const parses = (t: string) => {
  try {
    JSON.parse(t);
    return true;
  } catch {
    return false;
  }
};

it('reports no error inside any JSON text, and one inside every text JSON.parse refuses', () => {
  fc.assert(fc.property(fc.json(), (t) => jsonErrorOffset(t) === t.length));
  fc.assert(
    fc.property(fc.json(), fc.nat(), fc.constantFrom('}', ']', ',', ':', '"', 'x', '\u0001', '', '.', 'e', '-', '0'), (t, at, junk) => {
      const cut = Math.min(at, t.length);
      const bad = t.slice(0, cut) + junk + t.slice(cut + (junk ? 0 : 1));
      if (parses(bad)) return;
      // Up to the change the text is the beginning of valid JSON: the error cannot be before it.
      expect(jsonErrorOffset(bad)).toBeGreaterThanOrEqual(cut);
      expect(jsonErrorOffset(bad)).toBeLessThanOrEqual(bad.length);
    }),
  );
});

it('points at the first character that cannot continue the text', () => {
  const cases: [string, number][] = [
    ['{\n  "detail": }', 14],
    ['[true, trux]', 10],
    ['[{"source": "a"', 15],
    ['{"a":1} x', 8],
    ['[1,]', 3],
    ['{"a" 1}', 5],
    ['"\\q"', 2],
    ['{"a":"\u0001"}', 6],
    ['', 0],
  ];
  for (const [text, at] of cases) {
    expect(parses(text)).toBe(false);
    expect(jsonErrorOffset(text), JSON.stringify(text)).toBe(at);
  }
});
