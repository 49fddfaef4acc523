import { describe, expect, it } from 'vitest';
import * as z from 'zod';
import { catalog, indexCatalog, subjectTagKeySets, usesConnectionIdSubjects } from '#events/catalog';
import { defineEvent } from '#events/define';
import { orderOf } from '#commons/domain/order';
import { parseEventBody } from '#commons/event-envelope';
import { findProtoKey, type MapLimits, mapEvent } from '#commons/route/map-event';

const index = indexCatalog(catalog);
const NOW = Date.parse('2026-11-20T09:10:00.000Z');
const LIMITS: MapLimits = { maxIntegrationsPerEvent: 3, maxFutureSkewMs: 300_000, now: NOW };
const TIME = '2026-11-20T09:00:00.000Z';
const ev = (detailType: string, detail: unknown, o: { source?: string; time?: string; id?: string } = {}) => ({
  id: o.id ?? 'e1',
  source: o.source ?? (detailType.includes('plan') || detailType.includes('seats') ? 'app.billing' : 'app.accounts'),
  detailType,
  time: o.time ?? TIME,
  detail,
});
const plan = (detail: Record<string, unknown> = {}, o = {}) =>
  ev('customer.plan_changed', { organizationId: 'acme', plan: 'pro', changedAt: '2026-11-20T09:00:00.120Z', ...detail }, o);
const settings = (detail: Record<string, unknown>, o = {}) =>
  ev('customer.settings_changed', { customerId: 'acme-corp', sequence: 7, ...detail }, o);

describe('mapEvent: subjects, writes, versions', () => {
  it('a tag-addressed event: subject by tags, one write per key, in its integrations, ordered by changedAt', () => {
    const m = mapEvent(plan(), index, LIMITS);
    if (!m.ok) throw new Error(m.message);
    expect(m.subject).toEqual({
      id: 'tags:organization_id=acme',
      spec: { by: 'tags', tags: { organization_id: 'acme' }, integrations: ['salesforce', 'hubspot'] },
    });
    const version = Date.parse('2026-11-20T09:00:00.120Z');
    expect(m.writes).toEqual([
      { key: 'plan', value: 'pro', order: orderOf(version, 'e1', 'pro'), integrations: ['salesforce', 'hubspot'], event: m.ref },
      {
        key: 'planChangedAt',
        value: '2026-11-20T09:00:00.120Z',
        order: orderOf(version, 'e1', '2026-11-20T09:00:00.120Z'),
        integrations: ['salesforce', 'hubspot'],
        event: m.ref,
      },
    ]);
    expect(m.ref).toEqual({ id: 'e1', source: 'app.billing', detailType: 'customer.plan_changed', time: TIME });
  });

  it('an event without a declared version is ordered by its time', () => {
    const timed = defineEvent({
      source: 'app.x',
      detailType: 'x.timed',
      description: 't',
      detail: z.object({ org: z.string(), status: z.string() }),
      subject: { by: 'tags', tagKeys: ['organization_id'], tags: (d) => ({ organization_id: d.org }), integrations: 'all' },
      keys: ['status'],
      patch: (d) => ({ status: d.status }),
    });
    const m = mapEvent(ev('x.timed', { org: 'globex', status: 'suspended' }, { source: 'app.x' }), indexCatalog([timed]), LIMITS);
    if (!m.ok) throw new Error(m.message);
    expect(m.subject.id).toBe('tags:organization_id=globex');
    expect(m.writes.map((w) => [w.key, w.value, w.order.slice(0, 16), w.integrations])).toEqual([
      ['status', 'suspended', String(Date.parse(TIME)).padStart(16, '0'), 'all'],
    ]);
  });

  it('customer.status_changed is ordered by its changedAt to the millisecond, not by the 1 s event time', () => {
    const status = (s: string, changedAt: string, id: string) =>
      ev('customer.status_changed', { organizationId: 'globex', status: s, changedAt }, { id, time: '2026-11-20T09:00:00Z' });
    // Two changes in one second: the later one wins whatever the event ids say.
    const first = mapEvent(status('suspended', '2026-11-20T09:00:00.100Z', 'zzz'), index, LIMITS);
    const second = mapEvent(status('active', '2026-11-20T09:00:00.900Z', 'aaa'), index, LIMITS);
    if (!first.ok || !second.ok) throw new Error('refused');
    expect(first.writes.map((w) => w.key)).toEqual(['status', 'active', 'statusReason']);
    expect(second.writes[0]!.order > first.writes[0]!.order).toBe(true);
    expect(first.writes[0]!.order.slice(0, 16)).toBe(String(Date.parse('2026-11-20T09:00:00.100Z')).padStart(16, '0'));
  });

  it('a connection-id event: subject by id (encoded), integrations from the detail, de-duplicated, version = sequence', () => {
    const m = mapEvent(
      settings({ customerId: 'acme/eu x@y.com', region: 'eu', integrations: ['hubspot', 'salesforce', 'hubspot', 'hubspot'] }),
      index,
      LIMITS,
    );
    if (!m.ok) throw new Error(m.message);
    expect(m.subject.id).toBe('connection:acme%2Feu%20x%40y.com');
    expect(m.subject.spec).toEqual({ by: 'connectionId', connectionId: 'acme/eu x@y.com', integrations: ['hubspot', 'salesforce'] });
    expect(m.writes).toEqual([expect.objectContaining({ key: 'region', order: orderOf(7, 'e1', 'eu') })]);
  });

  it('a sequence version is never compared with the clock, but is bounded by the catalog', () => {
    expect(mapEvent(settings({ region: 'eu', sequence: 1_000_000_000_000 }), index, LIMITS).ok).toBe(true);
    expect(mapEvent(settings({ region: 'eu', sequence: 1_000_000_000_001 }), index, LIMITS)).toMatchObject({
      ok: false,
      code: 'invalid_version',
    });
  });
});

describe('mapEvent: refusals', () => {
  it('unknown event types and schema errors, with the failing paths', () => {
    expect(mapEvent(ev('customer.deleted', {}), index, LIMITS)).toMatchObject({ ok: false, code: 'unknown_event_type' });
    const m = mapEvent(plan({ plan: 'platinum', changedAt: 'yesterday' }), index, LIMITS);
    expect(m).toMatchObject({ ok: false, code: 'invalid_detail' });
    if (!m.ok) expect((m.errors as { path: string[] }[]).map((e) => e.path.join('.')).sort()).toEqual(['changedAt', 'plan']);
  });

  it('more integrations than the cap, after de-duplication: too_many_integrations', () => {
    expect(mapEvent(settings({ region: 'eu', integrations: ['a', 'b', 'c', 'a', 'b', 'c'] }), index, LIMITS).ok).toBe(true);
    expect(mapEvent(settings({ region: 'eu', integrations: ['a', 'b', 'c', 'd'] }), index, LIMITS)).toMatchObject({
      ok: false,
      code: 'too_many_integrations',
    });
  });

  it('an event time or a time version beyond the allowed skew: event_time_in_future', () => {
    const inSkew = new Date(NOW + 299_000).toISOString();
    const beyond = new Date(NOW + 301_000).toISOString();
    expect(mapEvent(plan({ changedAt: inSkew }, { time: inSkew }), index, LIMITS).ok).toBe(true);
    expect(mapEvent(plan({}, { time: beyond }), index, LIMITS)).toMatchObject({ ok: false, code: 'event_time_in_future' });
    const byVersion = mapEvent(plan({ changedAt: beyond }), index, LIMITS);
    expect(byVersion).toMatchObject({ ok: false, code: 'event_time_in_future' });
    if (!byVersion.ok) expect(byVersion.message).toMatch(/version/);
    expect(
      mapEvent(ev('customer.status_changed', { organizationId: 'a', status: 'active', changedAt: TIME }, { time: beyond }), index, LIMITS),
    ).toMatchObject({
      ok: false,
      code: 'event_time_in_future',
    });
  });

  it('a `__proto__` key anywhere in the detail is refused, not silently dropped', () => {
    const detail = JSON.parse('{"customerId":"acme-corp","sequence":1,"flags":{"__proto__":true,"beta":true}}') as unknown;
    const m = mapEvent(ev('customer.settings_changed', detail), index, LIMITS);
    expect(m).toMatchObject({ ok: false, code: 'invalid_detail' });
    if (!m.ok) expect(m.message).toContain('flags.__proto__');
    expect(findProtoKey(JSON.parse('[{"a":[{"__proto__":1}]}]'))).toBe('0.a.0.__proto__');
    expect(findProtoKey({ a: { constructor: 1 } })).toBeUndefined();
    let deep: unknown = JSON.parse('{"__proto__":1}');
    for (let i = 0; i < 100_000; i++) deep = [deep];
    expect(findProtoKey(deep)).toMatch(/__proto__$/);
  });

  it('ids Nango would refuse (newline, over 255 characters)', () => {
    for (const customerId of ['a\nb', 'x'.repeat(256), ''])
      expect(mapEvent(settings({ customerId, region: 'eu' }), index, LIMITS)).toMatchObject({ ok: false, code: 'invalid_detail' });
  });

  it('a catalog entry that throws or maps to nothing: mapping_error and empty_patch, not a crash', () => {
    const base = { source: 'app.x', description: 't', detail: z.object({ n: z.number() }), keys: ['a'] };
    const throwing = defineEvent({
      ...base,
      detailType: 'x.throws',
      subject: { by: 'connectionId', connectionId: () => 'c', integrations: 'all' },
      patch: () => {
        throw new Error('boom');
      },
    });
    const empty = defineEvent({
      ...base,
      detailType: 'x.empty',
      subject: { by: 'connectionId', connectionId: () => 'c', integrations: 'all' },
      patch: () => ({}),
    });
    const wrongTags = defineEvent({
      ...base,
      detailType: 'x.tags',
      subject: { by: 'tags', tagKeys: ['organization_id'], tags: () => ({ other: 'x' }), integrations: 'all' },
      patch: () => ({ a: 1 }),
    });
    const idx = indexCatalog([throwing, empty, wrongTags]);
    const e = (detailType: string) => ev(detailType, { n: 1 }, { source: 'app.x' });
    expect(mapEvent(e('x.throws'), idx, LIMITS)).toMatchObject({ ok: false, code: 'mapping_error' });
    expect(mapEvent(e('x.empty'), idx, LIMITS)).toMatchObject({ ok: false, code: 'empty_patch' });
    expect(mapEvent(e('x.tags'), idx, LIMITS)).toMatchObject({ ok: false, code: 'mapping_error' });
  });
});

describe('catalog', () => {
  it("tag keys follow Nango's rule (the one the list filter applies): a lowercase letter first, then a-z 0-9 _ - . /", () => {
    const entry = (tagKeys: string[]) => () =>
      defineEvent({
        source: 'app.x',
        detailType: 'x.keys',
        description: 't',
        detail: z.object({}),
        subject: { by: 'tags', tagKeys, tags: () => ({}), integrations: 'all' },
        keys: ['a'],
        patch: () => ({ a: 1 }),
      });
    for (const ok of [['organization_id'], ['team/region', 'org.id-2']]) expect(entry(ok)).not.toThrow();
    // 'org:id' and '1org' used to pass defineEvent, then fail every lookup with invalid_filter.
    for (const bad of [['org:id'], ['1org'], ['Org'], ['a'.repeat(65)]]) expect(entry(bad)).toThrow(/tagKeys must be/);
  });

  it('tag-key sets and connection-id addressing are derived from the entries', () => {
    expect(subjectTagKeySets(catalog)).toEqual([['organization_id']]);
    expect(usesConnectionIdSubjects(catalog)).toBe(true);
    expect(usesConnectionIdSubjects(catalog.filter((e) => e.subject.by === 'tags'))).toBe(false);
  });

  it('refuses duplicate event types and invalid tag keys', () => {
    expect(() => indexCatalog([catalog[0]!, catalog[0]!])).toThrow(/duplicate event type/);
    expect(() =>
      defineEvent({
        source: 'a',
        detailType: 'b',
        description: '',
        detail: z.object({}),
        subject: { by: 'tags', tagKeys: ['Organization'], tags: () => ({}), integrations: 'all' },
        keys: ['a'],
        patch: () => ({}),
      }),
    ).toThrow(/tagKeys/);
  });
});

describe('event envelope', () => {
  it('falls back to the SQS message id and SentTimestamp', () => {
    const r = parseEventBody(JSON.stringify({ source: 'a', 'detail-type': 'b', detail: {} }), {
      messageId: 'm-1',
      sentTimestamp: '1763629200000',
    });
    expect(r).toMatchObject({ ok: true, event: { id: 'm-1', time: new Date(1763629200000).toISOString() } });
  });

  it('refuses non-JSON and over-large bodies with clear codes', () => {
    expect(parseEventBody('not json', { messageId: 'm' })).toMatchObject({ ok: false, code: 'invalid_json' });
    expect(parseEventBody('x'.repeat(300 * 1024), { messageId: 'm' })).toMatchObject({ ok: false, code: 'event_too_large' });
    expect(parseEventBody('[]', { messageId: 'm' })).toMatchObject({ ok: false, code: 'invalid_envelope' });
  });
});
