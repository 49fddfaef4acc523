/**
 * Versions rest on facts: a version taken from a time never passes the moment the event reached us
 * (so a date inside the skew window cannot outrank a genuine later change), a sequence has the bound
 * its catalog entry declares, and one key is ordered by one kind of version across the catalog.
 */
import { describe, expect, it } from 'vitest';
import * as z from 'zod';
import { catalog, defineCatalog, indexCatalog } from '#events/catalog';
import { defineEvent, type EventDefinition } from '#events/define';
import { versionOf } from '#commons/domain/order';
import { parseEventBody } from '#commons/event-envelope';
import { type MapLimits, mapEvent } from '#commons/route/map-event';

const index = indexCatalog(catalog);
const NOW = Date.parse('2026-12-07T04:00:00.000Z');
const LIMITS: MapLimits = { maxIntegrationsPerEvent: 10, maxFutureSkewMs: 300_000, now: NOW };

/** An event as route parses it from the ingress queue, sent to SQS at `sentAt`. */
const received = (id: string, changedAt: string, sentAt: number, time = changedAt) => {
  const r = parseEventBody(
    JSON.stringify({
      id,
      source: 'app.billing',
      'detail-type': 'customer.plan_changed',
      time,
      detail: { organizationId: 'acme', plan: 'pro', changedAt },
    }),
    { messageId: `m-${id}`, sentTimestamp: String(sentAt) },
  );
  if (!r.ok) throw new Error(r.message);
  return r.event;
};

describe('a time version never exceeds the moment the event reached us', () => {
  it('an event dated inside the skew window (now + 290 s) loses to a genuine later event (now + 1 s)', () => {
    const forged = received('forged', new Date(NOW + 290_000).toISOString(), NOW);
    const genuine = received('genuine', new Date(NOW + 1_000).toISOString(), NOW + 1_000);
    const a = mapEvent(forged, index, { ...LIMITS, now: NOW });
    const b = mapEvent(genuine, index, { ...LIMITS, now: NOW + 1_000 });
    if (!a.ok || !b.ok) throw new Error('refused');
    // Kept (not parked), at the moment it arrived; the later truth outranks it.
    expect(versionOf(a.writes[0]!.order)).toBe(NOW);
    expect(b.writes[0]!.order > a.writes[0]!.order).toBe(true);
  });

  it('the bound is the SQS sent time, the same on every redelivery: a retried record writes the very same order', () => {
    const at = new Date(NOW + 120_000).toISOString();
    const first = mapEvent(received('x', at, NOW), index, { ...LIMITS, now: NOW + 5 });
    const retry = mapEvent(received('x', at, NOW), index, { ...LIMITS, now: NOW + 60_000 });
    if (!first.ok || !retry.ok) throw new Error('refused');
    expect(retry.writes.map((w) => w.order)).toEqual(first.writes.map((w) => w.order));
  });

  it('an event handed to route directly (no sent time) is bounded by route clock; the event time too', () => {
    const direct = mapEvent(
      {
        id: 's',
        source: 'app.accounts',
        detailType: 'customer.status_changed',
        time: new Date(NOW + 200_000).toISOString(),
        detail: { organizationId: 'acme', status: 'active', changedAt: new Date(NOW + 200_000).toISOString() },
      },
      index,
      LIMITS,
    );
    if (!direct.ok) throw new Error(direct.message);
    expect(versionOf(direct.writes[0]!.order)).toBe(NOW);
  });

  it('an event timed before it arrived keeps its own time to the millisecond', () => {
    const m = mapEvent(received('p', '2026-12-07T03:59:59.123Z', NOW), index, LIMITS);
    if (!m.ok) throw new Error(m.message);
    expect(versionOf(m.writes[0]!.order)).toBe(Date.parse('2026-12-07T03:59:59.123Z'));
  });

  it('beyond the skew window it is still refused: a clock that far off is a fault to see', () => {
    expect(mapEvent(received('far', new Date(NOW + 301_000).toISOString(), NOW), index, LIMITS)).toMatchObject({
      ok: false,
      code: 'event_time_in_future',
    });
  });
});

const base = {
  source: 'app.x',
  description: 't',
  detail: z.object({ n: z.number(), org: z.string() }),
  subject: {
    by: 'tags' as const,
    tagKeys: ['organization_id'],
    tags: (d: { org: string }) => ({ organization_id: d.org }),
    integrations: 'all' as const,
  },
};

describe('a sequence version has a bound the catalog declares', () => {
  it('defineEvent refuses a sequence without maxVersion, or maxVersion on a time version', () => {
    expect(() =>
      defineEvent({ ...base, detailType: 'x.seq', keys: ['a'], patch: () => ({ a: 1 }), version: (d) => d.n, versionKind: 'sequence' }),
    ).toThrow(/x\.seq: a sequence version needs maxVersion/);
    expect(() => defineEvent({ ...base, detailType: 'x.t', keys: ['a'], patch: () => ({ a: 1 }), maxVersion: 5 })).toThrow(
      /maxVersion is for sequence/,
    );
  });

  it('a sequence above the bound is refused as invalid_version, naming the bound', () => {
    const seq = defineEvent({
      ...base,
      detailType: 'x.seq',
      keys: ['a'],
      patch: () => ({ a: 1 }),
      version: (d) => d.n,
      versionKind: 'sequence',
      maxVersion: 100,
    });
    const idx = indexCatalog([seq]);
    const e = (n: number) => ({
      id: 'e',
      source: 'app.x',
      detailType: 'x.seq',
      time: new Date(NOW).toISOString(),
      detail: { n, org: 'o' },
    });
    expect(mapEvent(e(100), idx, LIMITS).ok).toBe(true);
    const over = mapEvent(e(101), idx, LIMITS);
    expect(over).toMatchObject({ ok: false, code: 'invalid_version' });
    if (!over.ok) expect(over.message).toContain('bound 100');
  });
});

describe('one key, one kind of version', () => {
  const timed = (detailType: string, keys: string[]) =>
    defineEvent({ ...base, detailType, keys, patch: () => Object.fromEntries(keys.map((k) => [k, 1])), version: (d) => d.n });
  const counted = (detailType: string, keys: string[]) =>
    defineEvent({
      ...base,
      detailType,
      keys,
      patch: () => Object.fromEntries(keys.map((k) => [k, 1])),
      version: (d) => d.n,
      versionKind: 'sequence',
      maxVersion: 1_000,
    });

  it('the catalog refuses two types writing one key with a time and a sequence version, naming the key and both types', () => {
    const entries = [timed('x.plan_set', ['plan', 'seats']), counted('x.plan_counted', ['region', 'plan'])] as EventDefinition[];
    expect(() => defineCatalog(entries)).toThrow(
      'catalog: metadata key "plan" is written by x.plan_set with a time version and by x.plan_counted with a sequence version',
    );
    // The construct and route index the catalog they are given: refused there too, before any event.
    expect(() => indexCatalog(entries)).toThrow(/"plan".*x\.plan_set.*x\.plan_counted/);
  });

  it('two types of one kind may share a key; the event time and a time version are one kind', () => {
    const eventTimed = defineEvent({ ...base, detailType: 'x.by_time', keys: ['plan'], patch: () => ({ plan: 1 }) });
    expect(() => defineCatalog([timed('x.a', ['plan']), eventTimed] as EventDefinition[])).not.toThrow();
    expect(() => defineCatalog([counted('x.b', ['region']), counted('x.c', ['region'])] as EventDefinition[])).not.toThrow();
  });

  it('a patch writing a key its entry does not declare is refused (the declaration is what the check rests on)', () => {
    const liar = defineEvent({ ...base, detailType: 'x.liar', keys: ['a'], patch: () => ({ a: 1, b: 2 }) });
    const m = mapEvent(
      { id: 'e', source: 'app.x', detailType: 'x.liar', time: new Date(NOW).toISOString(), detail: { n: 1, org: 'o' } },
      indexCatalog([liar]),
      LIMITS,
    );
    expect(m).toMatchObject({ ok: false, code: 'mapping_error' });
    if (!m.ok) expect(m.message).toContain('"b"');
  });

  it('defineEvent needs the keys, distinct and non-empty', () => {
    for (const keys of [[], ['a', 'a'], [''], ['k'.repeat(513)]])
      expect(() => defineEvent({ ...base, detailType: 'x.k', keys, patch: () => ({ a: 1 }) })).toThrow(/keys must list/);
  });

  it("the samples' catalog passes: every key has one kind", () => {
    expect(() => defineCatalog(catalog)).not.toThrow();
  });
});
