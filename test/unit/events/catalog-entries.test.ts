import { describe, expect, it } from 'vitest';
import * as z from 'zod';
import { type EventDefinition, defineEvent, indexCatalog } from '#events/define';
import { assertValidFilter } from '#commons/nango/filter';
import { type MapLimits, mapEvent } from '#commons/route/map-event';

const LIMITS: MapLimits = { maxIntegrationsPerEvent: 3, maxFutureSkewMs: 300_000, now: Date.parse('2026-11-20T09:10:00.000Z') };
const ev = (detailType: string, detail: unknown) => ({ id: 'e1', source: 'app.x', detailType, time: '2026-11-20T09:00:00.000Z', detail });

describe('a permissive schema cannot name a subject Nango would not', () => {
  // A schema that accepts everything lets `connectionId` return undefined: the list filter then has
  // no connection id and would list every customer's connections.
  const loose = defineEvent({
    source: 'app.x',
    detailType: 'x.loose',
    description: 't',
    detail: z.any(),
    subject: { by: 'connectionId', connectionId: (d) => d.customerId, integrations: 'all' },
    keys: ['region'],
    patch: (d) => ({ region: d.region }),
  });
  const idx = indexCatalog([loose]);

  it('an undefined, non-string or invalid connection id is a mapping_error, not a subject', () => {
    expect(() => assertValidFilter({ connectionId: undefined })).not.toThrow();
    for (const customerId of [undefined, 42, { id: 'a' }, 'a\nb', ''])
      expect(mapEvent(ev('x.loose', { customerId, region: 'eu' }), idx, LIMITS)).toMatchObject({ ok: false, code: 'mapping_error' });
    const m = mapEvent(ev('x.loose', { customerId: 'acme-corp', region: 'eu' }), idx, LIMITS);
    expect(m.ok && m.subject.id).toBe('connection:acme-corp');
  });
});

describe('entries not made by defineEvent are checked when the catalog is indexed', () => {
  const good = defineEvent({
    source: 'app.x',
    detailType: 'x.good',
    description: 't',
    detail: z.object({ org: z.string() }),
    subject: { by: 'tags', tagKeys: ['organization_id'], tags: (d) => ({ organization_id: d.org }), integrations: 'all' },
    keys: ['a'],
    patch: () => ({ a: 1 }),
  }) as unknown as EventDefinition;

  it('an upper-case tag key, a missing key list or an unbounded sequence, spread past defineEvent, fail at index time', () => {
    const bad: EventDefinition[] = [
      { ...good, detailType: 'x.case', subject: { ...good.subject, tagKeys: ['Organization_Id'] } as EventDefinition['subject'] },
      { ...good, detailType: 'x.nokeys', keys: undefined as unknown as string[] },
      { ...good, detailType: 'x.seq', version: () => 1, versionKind: 'sequence' },
      { ...good, source: 'bad source', detailType: 'x.src' },
      {
        ...good,
        detailType: 'x.fn',
        subject: { ...good.subject, tags: { organization_id: 'acme' } } as unknown as EventDefinition['subject'],
      },
      { ...good, detailType: 'x.int', subject: { ...good.subject, integrations: 'salesforce' } as unknown as EventDefinition['subject'] },
      { ...good, detailType: 'x.kind', versionKind: 'Sequence' as 'sequence' },
    ];
    expect(() => indexCatalog([good])).not.toThrow();
    for (const def of bad) expect(() => indexCatalog([good, def]), def.detailType).toThrow(/defineEvent/);
  });
});

describe('a time version is epoch milliseconds', () => {
  // A version in seconds is a valid integer, but as milliseconds it is a day in January 1970: every
  // write of a key it shares with another time-versioned type (or with the event time) would lose.
  const seconds = defineEvent({
    source: 'app.x',
    detailType: 'x.seconds',
    description: 't',
    detail: z.object({ id: z.string(), at: z.number().int() }),
    subject: { by: 'connectionId', connectionId: (d) => d.id, integrations: 'all' },
    keys: ['status'],
    patch: (d) => ({ status: String(d.at) }),
    version: (d) => d.at,
  });
  const idx = indexCatalog([seconds]);

  it('a time version before 1973 (seconds, not milliseconds) is refused as invalid_version; milliseconds pass', () => {
    const at = Date.parse('2026-11-20T09:00:00.000Z');
    for (const v of [Math.floor(at / 1000), 0])
      expect(mapEvent(ev('x.seconds', { id: 'c', at: v }), idx, LIMITS)).toMatchObject({
        ok: false,
        code: 'invalid_version',
        message: expect.stringMatching(/milliseconds/),
      });
    expect(mapEvent(ev('x.seconds', { id: 'c', at }), idx, LIMITS)).toMatchObject({ ok: true });
  });
});

describe('integrations from a permissive schema', () => {
  const loose = defineEvent({
    source: 'app.x',
    detailType: 'x.scope',
    description: 't',
    detail: z.any(),
    subject: { by: 'connectionId', connectionId: () => 'acme', integrations: (d) => d.integration },
    keys: ['region'],
    patch: () => ({ region: 'eu' }),
  });
  const idx = indexCatalog([loose]);

  it('a string (not a list) is refused, not spread into its letters as integration ids no connection has', () => {
    for (const integration of ['salesforce', undefined, { a: 1 }])
      expect(mapEvent(ev('x.scope', { integration }), idx, LIMITS)).toMatchObject({ ok: false, code: 'mapping_error' });
    const m = mapEvent(ev('x.scope', { integration: ['salesforce'] }), idx, LIMITS);
    expect(m.ok && m.writes[0]!.integrations).toEqual(['salesforce']);
  });
});
