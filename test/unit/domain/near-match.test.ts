import { describe, expect, it } from 'vitest';
import { likelyVariants, nearMatches, subjectParts } from '#commons/domain/near-match';
import { subjectId } from '#commons/domain/subject';

const tags = (t: Record<string, string>) => subjectId({ by: 'tags', tags: t, integrations: 'all' });
const conn = (id: string) => subjectId({ by: 'connectionId', connectionId: id, integrations: 'all' });

describe('nearMatches', () => {
  const known = [
    tags({ organization_id: 'acme' }),
    tags({ organization_id: 'Zürich AG' }),
    tags({ organization_id: 'globex', team: 'eu' }),
    conn('acme-corp'),
  ];

  it.each([
    ['case', tags({ organization_id: 'ACME' }), tags({ organization_id: 'acme' }), ['case']],
    ['NFD against NFC', tags({ organization_id: 'Zu\u0308rich AG' }), tags({ organization_id: 'Zürich AG' }), ['unicode']],
    ['surrounding spaces', tags({ organization_id: ' acme ' }), tags({ organization_id: 'acme' }), ['spaces']],
    ['a connection id by case', conn('ACME-corp'), conn('acme-corp'), ['case']],
    [
      'one of two tags',
      tags({ organization_id: 'globex', team: 'EU ' }),
      tags({ organization_id: 'globex', team: 'eu' }),
      ['case', 'spaces'],
    ],
  ])('%s', (_, unmatched, expected, differsBy) => {
    expect(nearMatches([unmatched], known)).toEqual([{ subject: unmatched, nearMatches: [{ subject: expected, differsBy }] }]);
  });

  it('a subject with nothing near is still reported, with no near match; tag keys must be equal', () => {
    expect(nearMatches([tags({ organization_id: 'initech' }), tags({ org: 'acme' })], known)).toEqual([
      { subject: tags({ organization_id: 'initech' }), nearMatches: [] },
      { subject: tags({ org: 'acme' }), nearMatches: [] },
    ]);
  });

  it('a digest id (a subject over 1,000 characters) cannot be compared: no near match, no error', () => {
    const long = tags({ organization_id: 'x'.repeat(1_200) });
    expect(long).toMatch(/^tags#/);
    expect(subjectParts(long)).toBeUndefined();
    expect(nearMatches([long], known)).toEqual([{ subject: long, nearMatches: [] }]);
  });

  it('decodes what subjectId encodes', () => {
    expect(subjectParts(tags({ organization_id: 'a&b=c d' }))).toEqual({ kind: 'tags', parts: [['organization_id', 'a&b=c d']] });
  });
});

describe('likelyVariants', () => {
  it.each([
    ['upper case for lower', tags({ organization_id: 'ACME' }), tags({ organization_id: 'acme' })],
    ['lower case for upper', tags({ organization_id: 'acme' }), tags({ organization_id: 'ACME' })],
    ['NFD for NFC', tags({ organization_id: 'Zu\u0308rich AG' }), tags({ organization_id: 'Zürich AG' })],
    ['spaces and case together', tags({ organization_id: ' Acme ' }), tags({ organization_id: 'acme' })],
    ['every value of a tag set alike', tags({ organization_id: 'GLOBEX', team: 'EU' }), tags({ organization_id: 'globex', team: 'eu' })],
    ['a connection id', conn('ACME-corp'), conn('acme-corp')],
  ])('%s', (_, id, variant) => {
    expect(likelyVariants(id)).toContain(variant);
  });

  it('never the subject itself, no duplicates, nothing for a digest id', () => {
    const id = tags({ organization_id: 'acme' });
    const v = likelyVariants(id);
    expect(v).not.toContain(id);
    expect(new Set(v).size).toBe(v.length);
    expect(likelyVariants(`tags#${'0'.repeat(64)}`)).toEqual([]);
  });
});
