import { describe, expect, it } from 'vitest';
import { changesKeepComing, desiredFor, type DesiredKey, driftOf, jsonEqual, planSync, deferToLaterSync } from '#commons/domain/desired';
import { groupOrderOf, orderOf, versionOf } from '#commons/domain/order';
import { inScope, namesConnection, subjectId, subjectsOfConnection, tagsMatch } from '#commons/domain/subject';

const ref = (id: string) => ({ id, source: 's', detailType: 'd', time: '2026-11-20T09:00:00.000Z' });
const key = (
  subject: string,
  k: string,
  value: DesiredKey['value'],
  version: number,
  integrations: DesiredKey['integrations'] = 'all',
  writtenAt = version * 1000,
): DesiredKey => ({
  subject,
  key: k,
  value,
  order: orderOf(version, `e${version}`, value),
  integrations,
  event: ref(`e${version}`),
  writtenAt,
});

describe('subject ids', () => {
  it('tell a connection-id subject from a tag subject, digested ones too', () => {
    expect(namesConnection(subjectId({ by: 'connectionId', connectionId: 'acme', integrations: 'all' }))).toBe(true);
    const long = subjectId({ by: 'connectionId', connectionId: 'x'.repeat(1_200), integrations: 'all' });
    expect(long).toMatch(/^connection#/);
    expect(namesConnection(long)).toBe(true);
    expect(namesConnection(subjectId({ by: 'tags', tags: { organization_id: 'connection:x' }, integrations: 'all' }))).toBe(false);
    expect(namesConnection(subjectId({ by: 'tags', tags: { organization_id: 'y'.repeat(1_200) }, integrations: 'all' }))).toBe(false);
  });

  it('are stable and readable: sorted, percent-encoded tags; encoded connection ids', () => {
    expect(subjectId({ by: 'tags', tags: { organization_id: 'acme' }, integrations: 'all' })).toBe('tags:organization_id=acme');
    expect(subjectId({ by: 'tags', tags: { b: '2', a: 'x&y=z' }, integrations: ['hubspot'] })).toBe('tags:a=x%26y%3Dz&b=2');
    expect(subjectId({ by: 'connectionId', connectionId: 'acme/eu x@y.com', integrations: 'all' })).toBe(
      'connection:acme%2Feu%20x%40y.com',
    );
    // Integration scope is per key, not part of the subject.
    expect(subjectId({ by: 'tags', tags: { a: '1' }, integrations: ['x'] })).toBe(
      subjectId({ by: 'tags', tags: { a: '1' }, integrations: 'all' }),
    );
  });

  it('a value cannot forge another subject, and over-long ids become a digest under the key limit', () => {
    const forged = subjectId({ by: 'tags', tags: { a: '1&b=2' }, integrations: 'all' });
    expect(forged).not.toBe(subjectId({ by: 'tags', tags: { a: '1', b: '2' }, integrations: 'all' }));
    const long = subjectId({
      by: 'tags',
      tags: Object.fromEntries(Array.from({ length: 10 }, (_, i) => [`k${i}`, 'é'.repeat(255)])),
      integrations: 'all',
    });
    expect(long).toMatch(/^tags#[0-9a-f]{64}$/);
    const other = subjectId({
      by: 'tags',
      tags: Object.fromEntries(Array.from({ length: 10 }, (_, i) => [`k${i}`, 'è'.repeat(255)])),
      integrations: 'all',
    });
    expect(other).not.toBe(long);
  });
});

describe('subjectsOfConnection', () => {
  const c = { connectionId: '3b1f6a52-8e0c-4d1e-9f3a-5c2b7d9e1a01', providerConfigKey: 'salesforce' };
  it('one subject per tag-key set the tags cover, plus its own id when the catalog addresses ids', () => {
    const sets = [['organization_id'], ['end_user_id', 'organization_id']];
    expect(
      subjectsOfConnection({ ...c, tags: { organization_id: 'acme', end_user_id: 'u1', other: 'x' } }, sets, true).map((s) => s.id),
    ).toEqual(['tags:organization_id=acme', 'tags:end_user_id=u1&organization_id=acme', `connection:${c.connectionId}`]);
    expect(subjectsOfConnection({ ...c, tags: { organization_id: 'acme' } }, sets, false).map((s) => s.id)).toEqual([
      'tags:organization_id=acme',
    ]);
  });

  it('no tags, null tags or empty values: no tag subject', () => {
    for (const tags of [undefined, null, {}, { organization_id: '' }] as (Record<string, string> | null | undefined)[])
      expect(subjectsOfConnection({ ...c, tags }, [['organization_id']], false)).toEqual([]);
  });

  it('tag matching is exact and case-sensitive; scope is all or a list', () => {
    expect(tagsMatch({ organization_id: 'acme' }, { organization_id: 'acme', x: 'y' })).toBe(true);
    expect(tagsMatch({ organization_id: 'acme' }, { organization_id: 'ACME' })).toBe(false);
    expect(tagsMatch({ organization_id: 'acme' }, null)).toBe(false);
    expect(inScope('all', 'zendesk')).toBe(true);
    expect(inScope(['salesforce'], 'zendesk')).toBe(false);
  });
});

describe('desiredFor and planSync', () => {
  const keys = [
    key('tags:organization_id=acme', 'plan', 'pro', 2, ['salesforce', 'hubspot']),
    key('tags:organization_id=acme', 'seats', 10, 1),
    key('connection:c', 'seats', 12, 3),
    key('connection:c', 'region', 'eu', 1, ['zendesk']),
  ];

  it('keeps, per key in scope, the newest write across subjects', () => {
    const d = desiredFor(keys, 'salesforce');
    expect([...d.keys()].sort()).toEqual(['plan', 'seats']);
    expect(d.get('seats')?.value).toBe(12);
    expect([...desiredFor(keys, 'zendesk').keys()].sort()).toEqual(['region', 'seats']);
  });

  it('sends only keys newer than applied; nothing when in step; everything when forced', () => {
    const d = desiredFor(keys, 'salesforce');
    const first = planSync(d, {}, false);
    expect(first.patch).toEqual({ plan: 'pro', seats: 12 });
    expect(first.applied).toEqual({ plan: d.get('plan')!.order, seats: d.get('seats')!.order });
    expect(planSync(d, first.applied, false)).toEqual({ patch: undefined, applied: {}, keys: [] });
    expect(planSync(d, { ...first.applied, seats: orderOf(1, 'e1', 10) }, false).patch).toEqual({ seats: 12 });
    // An applied order newer than desired (state rewritten) is not sent back over.
    expect(planSync(d, { plan: orderOf(9, 'e9', 'x'), seats: first.applied.seats! }, false).patch).toBeUndefined();
    expect(planSync(d, first.applied, true).patch).toEqual({ plan: 'pro', seats: 12 });
  });

  it('a change sync defers to a later one only when a key to send was rewritten after it was queued, and not for too long', () => {
    const plan = [key('s', 'plan', 'pro', 2, 'all', 5_000), key('s', 'seats', 12, 3, 'all', 7_000)];
    const at = (queuedAt: number | undefined, o: { now?: number; deferredSince?: number; maxDeferMs?: number } = {}) =>
      deferToLaterSync(plan, {
        queuedAt,
        now: o.now ?? 8_000,
        deferredSince: o.deferredSince === undefined ? {} : { s: o.deferredSince },
        maxDeferMs: o.maxDeferMs ?? 60_000,
      });
    // seats was rewritten after the sync was queued: the rewrite's sync, behind this one, sends both.
    expect(at(6_000)).toBe(true);
    expect(at(4_999)).toBe(true);
    // Every key written at or before the queue time: nothing later is sure to come; send now.
    expect(at(7_000)).toBe(false);
    expect(at(9_000)).toBe(false);
    // Keys left waiting since the longest allowed: send now, however recently they were rewritten.
    expect(at(6_000, { deferredSince: 8_000 - 59_999 })).toBe(true);
    expect(at(6_000, { deferredSince: 8_000 - 60_000 })).toBe(false);
    expect(at(6_000, { maxDeferMs: 0 })).toBe(false);
    // Seeds, repairs and replays carry no queue time; an empty plan has nothing to defer.
    expect(at(undefined)).toBe(false);
    expect(deferToLaterSync([], { queuedAt: 0, now: 1, deferredSince: {}, maxDeferMs: 60_000 })).toBe(false);
  });

  it('with keys of several subjects: defers only when each subject had a rewrite, since a later sync names only the subject it rewrote', () => {
    const a = key('tags:organization_id=acme', 'plan', 'pro', 2, 'all', 7_000);
    const b = key('connection:c', 'region', 'eu', 1, 'all', 5_000);
    const b2 = key('connection:c', 'flags', {}, 3, 'all', 7_500);
    const d = (deferredSince: Record<string, number> = {}) => ({ queuedAt: 6_000, now: 8_000, deferredSince, maxDeferMs: 60_000 });
    // acme was rewritten, connection:c was not: the rewrite's sync would read acme alone and leave region unsent.
    expect(deferToLaterSync([a, b], d())).toBe(false);
    expect(deferToLaterSync([a, b, b2], d())).toBe(true);
    // One subject waiting too long is enough to send all now.
    expect(deferToLaterSync([a, b, b2], d({ 'connection:c': 8_000 - 60_000 }))).toBe(false);
    expect(deferToLaterSync([a, b, b2], d({ 'tags:organization_id=acme': 8_000 - 59_999 }))).toBe(true);
  });

  it('a change sync with no later one waits while the connection changes keep coming: two writes close before its queue time', () => {
    const s = 'tags:organization_id=acme';
    const plan = key(s, 'plan', 'pro', 2, 'all', 9_000);
    const seats = key(s, 'seats', 12, 3, 'all', 8_000);
    const old = key(s, 'seats', 12, 3, 'all', 1_000);
    const at = (
      keys: DesiredKey[],
      desired: DesiredKey[],
      o: { events?: number; windowMs?: number; deferredSince?: number; queuedAt?: number } = {},
    ) =>
      changesKeepComing(keys, desired, {
        queuedAt: 'queuedAt' in o ? o.queuedAt : 9_500,
        now: 30_000,
        deferredSince: o.deferredSince === undefined ? {} : { [s]: o.deferredSince },
        maxDeferMs: 60_000,
        windowMs: o.windowMs ?? 2_000,
        events: o.events ?? 1,
      });
    // Two events wrote the connection's keys within 2 s of the queue time: a burst (now is long after: apply was behind).
    expect(at([plan], [plan, seats])).toBe(true);
    // One recent write: an isolated change (a trickle) is sent at once.
    expect(at([plan], [plan, old])).toBe(false);
    // ...unless its syncs stand for two events, or the window is wider (route behind).
    expect(at([plan], [plan, old], { events: 2 })).toBe(true);
    expect(at([plan], [plan, old], { windowMs: 9_000 })).toBe(true);
    // Nothing to send from the burst itself: nothing waits.
    expect(at([old], [plan, seats, old], { events: 2, queuedAt: 9_500 })).toBe(false);
    // Seeds, repairs, replays (no queue time), an empty plan, a wait already at its bound: send now.
    expect(at([plan], [plan, seats], { queuedAt: undefined })).toBe(false);
    expect(at([], [plan, seats])).toBe(false);
    expect(at([plan], [plan, seats], { deferredSince: 30_000 - 60_000 })).toBe(false);
    expect(at([plan], [plan, seats], { deferredSince: 30_000 - 59_999 })).toBe(true);
  });

  it('driftOf: keys we own whose value at Nango differs, deep and key-order insensitive; other keys ignored', () => {
    const d = desiredFor([...keys, key('connection:c', 'flags', { a: true, b: [1, { c: null }] }, 4)], 'salesforce');
    expect(driftOf(d, { plan: 'pro', seats: 12, flags: { b: [1, { c: null }], a: true }, extra: 1 })).toEqual([]);
    expect(driftOf(d, { plan: 'free', seats: 12, flags: { a: true, b: [1, { c: 0 }] } })).toEqual([
      { key: 'plan', atNango: 'free', desired: 'pro' },
      { key: 'flags', atNango: { a: true, b: [1, { c: 0 }] }, desired: { a: true, b: [1, { c: null }] } },
    ]);
    expect(
      driftOf(d, null)
        .map((x) => x.key)
        .sort(),
    ).toEqual(['flags', 'plan', 'seats']);
    expect(jsonEqual(null, undefined)).toBe(false);
    expect(jsonEqual([1], { 0: 1 })).toBe(false);
    expect(jsonEqual({ a: undefined }, { b: undefined })).toBe(false);
  });
});

describe('groupOrderOf', () => {
  const writes = (plan: string) =>
    Object.entries({ plan, planChangedAt: 't' }).map(([key, value]) => ({ key, value, order: orderOf(7, 'e#1', value) }));

  it('keeps a lone key its own order', () => {
    const [w] = writes('pro');
    expect(groupOrderOf([w!])).toBe(w!.order);
  });

  it('orders a group by version and event id first, then by all its values, whatever the write order', () => {
    const a = groupOrderOf(writes('pro'));
    expect(groupOrderOf([...writes('pro')].reverse())).toBe(a);
    expect(versionOf(a)).toBe(7);
    expect(a.startsWith('0000000000000007#e#1#')).toBe(true);
    expect(groupOrderOf(writes('enterprise'))).not.toBe(a);
    expect(groupOrderOf(writes('pro')) < orderOf(8, 'a', 'x')).toBe(true);
  });
});
