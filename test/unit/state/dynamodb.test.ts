import { PutItemCommand, QueryCommand } from '@aws-sdk/client-dynamodb';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { desiredFor } from '#commons/domain/desired';
import { orderOf } from '#commons/domain/order';
import { DynamoStateStore } from '#commons/state/dynamodb';
import { ITEM_LIMIT_BYTES, MAX_SCOPE_BYTES } from '#commons/state/limits';
import { startLocalDynamo, type LocalDynamo } from '../../../local/standins/dynamodb.ts';

const ev = (id: string) => ({ id, source: 'app.test', detailType: 't', time: '2026-11-20T09:00:00.000Z' });
const target = { connectionId: '6f1c2b7e-6b0a-4f7e-9a51-0c1d2e3f4a5b', providerConfigKey: 'salesforce' };

describe('DynamoStateStore over dynalite', () => {
  let db: LocalDynamo;
  let store: DynamoStateStore;
  beforeAll(async () => {
    db = await startLocalDynamo();
    await db.createStateTable('state');
    store = new DynamoStateStore(db.client(), 'state');
  });
  afterAll(() => db.close());

  it('writes a key only when its order is newer, accepts the same write again, refuses an older one', async () => {
    const s = 'tags:organization_id=acme';
    const o0 = orderOf(500, 'e0', 'free');
    const o1 = orderOf(1000, 'e1', 'pro');
    const o2 = orderOf(2000, 'e2', 'enterprise');
    const write = async (value: string, order: string, integrations: 'all' | string[], id: string) => {
      const { at, ...outcome } = await store.writeDesired(s, [{ key: 'plan', value, order, integrations, event: ev(id) }]);
      expect(at).toBeGreaterThan(0);
      return { at, outcome };
    };
    const first = await write('pro', o1, 'all', 'e1');
    expect(first.outcome).toEqual({ written: ['plan'], stale: [] });
    // A newer value for one integration is kept beside the value for all: it never replaces it.
    const second = await write('enterprise', o2, ['salesforce'], 'e2');
    expect(second.outcome).toEqual({ written: ['plan'], stale: [] });
    await new Promise((r) => setTimeout(r, 5));
    // The same write again (a retried record) is accepted: its syncs must still go out.
    expect((await write('pro', o1, 'all', 'e1')).outcome).toEqual({ written: ['plan'], stale: [] });
    expect((await write('enterprise', o2, ['salesforce'], 'e2')).outcome).toEqual({ written: ['plan'], stale: [] });
    // An older one is refused in the scope that holds a newer value.
    expect((await write('free', o0, ['salesforce'], 'e0')).outcome).toEqual({ written: [], stale: ['plan'] });
    // In a scope of its own it is stored, and loses to the newer value for all integrations when read.
    const third = await write('free', o0, ['hubspot'], 'e0');
    expect(third.outcome).toEqual({ written: ['plan'], stale: [] });
    const desired = await store.readDesired(s);
    // The repeated writes kept their first write time: a sync queued after the first is not taken for an older one.
    expect(desired.sort((a, b) => a.order.localeCompare(b.order))).toEqual([
      { subject: s, key: 'plan', value: 'free', order: o0, integrations: ['hubspot'], event: ev('e0'), writtenAt: third.at },
      { subject: s, key: 'plan', value: 'pro', order: o1, integrations: 'all', event: ev('e1'), writtenAt: first.at },
      { subject: s, key: 'plan', value: 'enterprise', order: o2, integrations: ['salesforce'], event: ev('e2'), writtenAt: second.at },
    ]);
    // Per connection, the newest value in its scope: salesforce gets enterprise, hubspot keeps pro.
    expect(desiredFor(desired, 'salesforce').get('plan')?.value).toBe('enterprise');
    expect(desiredFor(desired, 'hubspot').get('plan')?.value).toBe('pro');
  });

  it('the same write again reports the write time the item holds, even one from a clock ahead of this one', async () => {
    const s = 'tags:organization_id=skew';
    const w = { key: 'plan', value: 'pro', order: orderOf(1, 'e-skew', 'pro'), integrations: 'all' as const, event: ev('e-skew') };
    const ahead = Date.now() + 3_600_000;
    vi.useFakeTimers({ toFake: ['Date'] });
    try {
      vi.setSystemTime(ahead);
      expect((await store.writeDesired(s, [w])).at).toBe(ahead);
    } finally {
      vi.useRealTimers();
    }
    // Another host's retry of the same event: the syncs it queues must not be older than the stored write.
    const again = await store.writeDesired(s, [w]);
    expect(again).toEqual({ written: ['plan'], stale: [], at: ahead });
    expect((await store.readDesired(s))[0]?.writtenAt).toBe(ahead);
  });

  it('keeps JSON values exactly, including nested objects, nulls and keys with odd characters', async () => {
    const s = 'connection:acme%2Feu';
    const value = { nested: { a: [1, 2.5, null, { b: '' }] }, empty: {} };
    await store.writeDesired(s, [
      { key: 'flags', value, order: orderOf(1, 'e', value), integrations: 'all', event: ev('e') },
      { key: 'a.b #c', value: null, order: orderOf(1, 'e', null), integrations: 'all', event: ev('e') },
    ]);
    const got = Object.fromEntries((await store.readDesired(s)).map((d) => [d.key, d.value]));
    expect(got).toEqual({ flags: value, 'a.b #c': null });
  });

  it('records applied orders per key and reads them back merged', async () => {
    expect(await store.readApplied(target)).toMatchObject({ keys: {}, deferredSince: {} });
    await store.recordApplied(target, { plan: 'o1', 'seats.x': 'o2' });
    // A subject's first deferral is kept until a PATCH that read it.
    await store.markDeferred(target, ['tags:organization_id=acme', 'connection:c 1'], 1_000);
    await store.markDeferred(target, ['tags:organization_id=acme'], 2_000);
    expect(await store.readApplied(target)).toMatchObject({
      keys: { plan: 'o1', 'seats.x': 'o2' },
      deferredSince: { 'tags:organization_id=acme': 1_000, 'connection:c 1': 1_000 },
    });
    await store.recordApplied(target, { plan: 'o3' }, ['tags:organization_id=acme']);
    expect(await store.readApplied(target)).toMatchObject({
      keys: { plan: 'o3', 'seats.x': 'o2' },
      deferredSince: { 'connection:c 1': 1_000 },
    });
    // Nothing sent, but the wait is over (another sync sent those keys).
    await store.recordApplied(target, {}, ['connection:c 1']);
    expect(await store.readApplied(target)).toMatchObject({ keys: { plan: 'o3', 'seats.x': 'o2' }, deferredSince: {} });
  });

  it('keeps an index: replace, add, remove, and an empty index that is not a miss', async () => {
    const s = 'tags:organization_id=globex';
    expect(await store.readIndex(s)).toBeUndefined();
    await store.replaceIndex(s, [], 123);
    expect(await store.readIndex(s)).toEqual({ connections: [], fetchedAt: 123 });
    await store.addToIndex(s, target);
    await store.addToIndex(s, target);
    await store.addToIndex(s, { connectionId: 'x', providerConfigKey: 'hubspot' });
    expect((await store.readIndex(s))?.connections).toHaveLength(2);
    await store.removeFromIndex(s, target);
    expect(await store.readIndex(s)).toEqual({ connections: [{ connectionId: 'x', providerConfigKey: 'hubspot' }], fetchedAt: 123 });
    await store.removeFromIndex('tags:none=1', target);
  });

  it('merging a listing into an index adds and never removes, and leaves an index a newer listing wrote', async () => {
    const s = 'tags:organization_id=merged';
    const a = { connectionId: 'a', providerConfigKey: 'hubspot' };
    const b = { connectionId: 'b', providerConfigKey: 'hubspot' };
    const c = { connectionId: 'c', providerConfigKey: 'salesforce' };
    await store.mergeIndex(s, [a], 100);
    expect(await store.readIndex(s)).toEqual({ connections: [a], fetchedAt: 100 });
    // A listing that missed `a` (offset paging while connections were deleted) does not drop it.
    await store.mergeIndex(s, [b], 200);
    const both = await store.readIndex(s);
    expect(both?.connections.map((t) => t.connectionId).sort()).toEqual(['a', 'b']);
    expect(both?.fetchedAt).toBe(200);
    // Route listed later, without `a` (its tags changed): an older listing does not bring it back.
    await store.replaceIndex(s, [b], 300);
    await store.mergeIndex(s, [a, c], 250);
    expect(await store.readIndex(s)).toEqual({ connections: [b], fetchedAt: 300 });
  });

  it('reads a desired state larger than one Query page (1 MB) whole', async () => {
    const s = 'tags:organization_id=big';
    const value = 'v'.repeat(60_000);
    const writes = Array.from({ length: 30 }, (_, i) => ({
      key: `k${String(i).padStart(2, '0')}`,
      value: `${i}${value}`,
      order: orderOf(i, `e${i}`, i),
      integrations: i % 2 ? ('all' as const) : ['salesforce', `x${i}`],
      event: ev(`e${i}`),
    }));
    expect((await store.writeDesired(s, writes)).written).toHaveLength(30);
    const back = await store.readDesired(s);
    // One item per event and scope set: 15 keys for all, 15 keys for two integrations together.
    expect(back).toHaveLength(30);
    for (const w of writes) {
      const rows = back.filter((k) => k.key === w.key);
      const scopes = rows.flatMap((k) => (k.integrations === 'all' ? ['all'] : k.integrations)).sort();
      expect(scopes).toEqual(w.integrations === 'all' ? ['all'] : [...w.integrations].sort());
      expect(rows.every((k) => k.value === w.value)).toBe(true);
    }
  });

  it('concurrent writes of one key: exactly the newest is stored, the others report stale', async () => {
    const s = 'connection:race';
    const writes = Array.from({ length: 12 }, (_, i) => ({
      key: 'plan',
      value: `p${i}`,
      order: orderOf(1_000 + ((i * 7) % 12), `e${i}`, `p${i}`),
      integrations: 'all' as const,
      event: ev(`e${i}`),
    }));
    await Promise.all(writes.map((w) => store.writeDesired(s, [w])));
    const newest = writes.reduce((m, w) => (w.order > m.order ? w : m));
    expect((await store.readDesired(s))[0]?.value).toBe(newest.value);
    // Every older write, sent again now, is stale; the newest again is accepted (a retry).
    for (const w of writes) expect((await store.writeDesired(s, [w])).written).toEqual(w === newest ? ['plan'] : []);
  });

  it("one event's keys are one item per scope; another event type's write of a key lives beside it and the newest order wins per key", async () => {
    const s = 'tags:organization_id=grouped';
    const seats = (n: number, id: string) =>
      (['seats', 'seatsChangedAt'] as const).map((key) => ({
        key,
        value: key === 'seats' ? n : `t${n}`,
        order: orderOf(n, id, key === 'seats' ? n : `t${n}`),
        integrations: 'all' as const,
        event: { ...ev(id), detailType: 'customer.seats_changed' },
      }));
    expect((await store.writeDesired(s, seats(2, 'g2'))).written.sort()).toEqual(['seats', 'seatsChangedAt']);
    // An older event of the same type: both keys stale, in one conditional write.
    expect((await store.writeDesired(s, seats(1, 'g1'))).stale.sort()).toEqual(['seats', 'seatsChangedAt']);
    const items = await db
      .client()
      .send(
        new QueryCommand({ TableName: 'state', KeyConditionExpression: 'pk = :pk', ExpressionAttributeValues: { ':pk': { S: `S#${s}` } } }),
      );
    expect(items.Count).toBe(1);
    // Another event type writes `seats` with a newer order: its own item; readers take the newest per key.
    const other = { key: 'seats', value: 9, order: orderOf(3, 'o3', 9), integrations: 'all' as const, event: ev('o3') };
    expect((await store.writeDesired(s, [other])).written).toEqual(['seats']);
    const desired = desiredFor(await store.readDesired(s), 'salesforce');
    expect(desired.get('seats')?.value).toBe(9);
    expect(desired.get('seatsChangedAt')?.value).toBe('t2');
  });

  it("version 2's one-key items are still read", async () => {
    const s = 'tags:organization_id=legacy';
    const order = orderOf(7, 'v2', 'pro');
    await db.client().send(
      new PutItemCommand({
        TableName: 'state',
        Item: {
          pk: { S: `S#${s}` },
          sk: { S: 'K#*#plan' },
          subject: { S: s },
          key: { S: 'plan' },
          scope: { S: '*' },
          value: { S: '"pro"' },
          ord: { S: order },
          event: { M: { id: { S: 'v2' }, source: { S: 'app.test' }, detailType: { S: 't' }, time: { S: '2026-11-20T09:00:00.000Z' } } },
          at: { N: '5' },
        },
      }),
    );
    expect(await store.readDesired(s)).toEqual([
      { subject: s, key: 'plan', value: 'pro', order, integrations: 'all', event: ev('v2'), writtenAt: 5 },
    ]);
  });

  it('a list asked for before a webhook added a connection does not drop that connection from the index', async () => {
    const s = 'tags:organization_id=race';
    const listedSince = Date.now();
    const early = { connectionId: 'listed', providerConfigKey: 'hubspot' };
    const late = { connectionId: 'created-meanwhile', providerConfigKey: 'salesforce' };
    await new Promise((r) => setTimeout(r, 5));
    await store.addToIndex(s, late);
    await store.replaceIndex(s, [early], 500, listedSince);
    const entry = await store.readIndex(s);
    expect(entry?.connections.map((c) => c.connectionId).sort()).toEqual(['created-meanwhile', 'listed']);
    expect(entry?.fetchedAt).toBe(500);
    // A list asked for after the addition replaces the index.
    await store.replaceIndex(s, [early], 600, Date.now() + 1);
    expect((await store.readIndex(s))?.connections).toEqual([early]);
    // An older listing (a long reconcile that began before route's lookup) never replaces a newer one,
    // whether or not a webhook added a connection since it began.
    await store.replaceIndex(s, [late], 550, 550);
    expect(await store.readIndex(s)).toEqual({ connections: [early], fetchedAt: 600 });
    await store.addToIndex(s, late);
    await store.replaceIndex(s, [{ connectionId: 'gone', providerConfigKey: 'x' }], 580, 0);
    const kept = await store.readIndex(s);
    expect(kept?.fetchedAt).toBe(600);
    expect(kept?.connections.map((c) => c.connectionId).sort()).toEqual(['created-meanwhile', 'listed']);
  });

  const itemsOf = async (s: string) =>
    (
      await db.client().send(
        new QueryCommand({
          TableName: 'state',
          KeyConditionExpression: 'pk = :pk',
          ExpressionAttributeValues: { ':pk': { S: `S#${s}` } },
          ConsistentRead: true,
        }),
      )
    ).Items ?? [];

  it('an event for several integrations is one item (one conditional write); a later value for one of them wins there only', async () => {
    const s = 'tags:organization_id=scopes';
    const plan = (value: string, version: number, id: string, integrations: string[]) => ({
      key: 'plan',
      value,
      order: orderOf(version, id, value),
      integrations,
      event: { ...ev(id), detailType: 'customer.plan_changed' },
    });
    expect((await store.writeDesired(s, [plan('pro', 2, 'p2', ['salesforce', 'hubspot'])])).written).toEqual(['plan']);
    const items = await itemsOf(s);
    expect(items).toHaveLength(1);
    expect(items[0]?.scope).toEqual({ S: 'hubspot,salesforce' });
    expect(items[0]?.sk?.S).toMatch(/^K#hubspot,salesforce#@[0-9a-f]{32}$/);
    // Older, for the same integrations: refused by the one item's condition.
    expect((await store.writeDesired(s, [plan('free', 1, 'p1', ['hubspot', 'salesforce'])])).stale).toEqual(['plan']);
    // Newer, for salesforce alone: an item of its own; hubspot keeps pro.
    expect((await store.writeDesired(s, [plan('enterprise', 3, 'p3', ['salesforce'])])).written).toEqual(['plan']);
    // Older, for salesforce alone: refused by that item.
    expect((await store.writeDesired(s, [plan('starter', 1, 'p0', ['salesforce'])])).stale).toEqual(['plan']);
    const desired = await store.readDesired(s);
    expect(desired.map((d) => d.integrations)).toEqual(expect.arrayContaining([['hubspot', 'salesforce'], ['salesforce']]));
    expect(desiredFor(desired, 'salesforce').get('plan')?.value).toBe('enterprise');
    expect(desiredFor(desired, 'hubspot').get('plan')?.value).toBe('pro');
    expect(desiredFor(desired, 'zendesk').get('plan')).toBeUndefined();
  });

  it('items of one integration each (as 3.0 wrote them) are read beside scope sets, and the newest order still wins', async () => {
    const s = 'tags:organization_id=layout-3-0';
    const old = orderOf(5, 'old', 'enterprise');
    const put = (scope: string, sk: string, value: string, ord: string) =>
      db.client().send(
        new PutItemCommand({
          TableName: 'state',
          Item: {
            pk: { S: `S#${s}` },
            sk: { S: sk },
            subject: { S: s },
            scope: { S: scope },
            keys: { S: JSON.stringify({ plan: [JSON.stringify(value), ord] }) },
            ord: { S: ord },
            event: { M: { id: { S: 'old' }, source: { S: 'app.test' }, detailType: { S: 't' }, time: { S: '2026-11-20T09:00:00.000Z' } } },
            at: { N: '5' },
          },
        }),
      );
    await put('salesforce', 'K#salesforce#@00000000000000000000000000000000', 'enterprise', old);
    await put('hubspot', 'K#hubspot#@00000000000000000000000000000000', 'enterprise', old);
    // An older event after the upgrade: its scope-set item is new, so the write is taken, yet it loses when read.
    const older = {
      key: 'plan',
      value: 'free',
      order: orderOf(4, 'older', 'free'),
      integrations: ['salesforce', 'hubspot'],
      event: ev('older'),
    };
    expect((await store.writeDesired(s, [older])).written).toEqual(['plan']);
    const desired = await store.readDesired(s);
    expect(desiredFor(desired, 'salesforce').get('plan')?.value).toBe('enterprise');
    expect(desiredFor(desired, 'hubspot').get('plan')?.value).toBe('enterprise');
    // A newer one wins over both 3.0 items.
    const newer = { ...older, value: 'pro', order: orderOf(6, 'newer', 'pro'), event: ev('newer') };
    await store.writeDesired(s, [newer]);
    const after = await store.readDesired(s);
    expect(desiredFor(after, 'salesforce').get('plan')?.value).toBe('pro');
    expect(desiredFor(after, 'hubspot').get('plan')?.value).toBe('pro');
    // The operator's reset still releases every item that holds the key, old layout and new.
    expect(await store.resetDesiredKey(s, 'plan')).toEqual({ scopes: 3, keys: ['plan'] });
  });

  it('an event naming integrations past MAX_SCOPE_BYTES is stored in as few items as fit, each under the item limit', async () => {
    const s = 'tags:organization_id=many-integrations';
    // 255-character provider config keys, the longest Nango allows: 16 KiB holds 64 of them.
    const integrations = Array.from({ length: 150 }, (_, i) => `${String(i).padStart(3, '0')}${'k'.repeat(252)}`);
    const value = 'v'.repeat(200_000);
    const w = { key: 'plan', value, order: orderOf(1, 'many', value), integrations, event: ev('many') };
    expect((await store.writeDesired(s, [w])).written).toEqual(['plan']);
    const items = await itemsOf(s);
    expect(items).toHaveLength(3);
    for (const item of items) {
      expect(Buffer.byteLength(item.scope?.S ?? '')).toBeLessThanOrEqual(MAX_SCOPE_BYTES);
      expect(item.sk?.S).toMatch(/^K#%[0-9a-f]{32}#@[0-9a-f]{32}$/);
      expect(Buffer.byteLength(JSON.stringify(item))).toBeLessThan(ITEM_LIMIT_BYTES);
    }
    const desired = await store.readDesired(s);
    for (const pck of [integrations[0]!, integrations[75]!, integrations[149]!])
      expect(desiredFor(desired, pck).get('plan')?.value).toBe(value);
    expect(desiredFor(desired, 'salesforce').get('plan')).toBeUndefined();
  });
});
