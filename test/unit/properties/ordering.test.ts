/**
 * Write order properties.
 * 1. orderOf (pure): the version dominates; a tie on version is broken by event id, then by value,
 *    deterministically; two different writes never compare equal; the same write always does.
 * 2. DynamoStateStore on dynalite: for any interleaving, duplication and concurrency of the writes
 *    of one key, the stored write is the greatest by order, whatever the arrival order, and every
 *    write reported as written was not older than what was stored before it.
 */
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Json } from '#events/define';
import { MAX_VERSION, orderOf, versionOf } from '#commons/domain/order';
import { DynamoStateStore } from '#commons/state/dynamodb';
import type { KeyWrite } from '#commons/state/port';
import { startLocalDynamo, type LocalDynamo } from '../../../local/standins/dynamodb.ts';
import { jsonArb } from './arbitraries.ts';

const versionArb = fc.oneof(fc.integer({ min: 0, max: 5 }), fc.integer({ min: 0, max: MAX_VERSION }));
const idArb = fc.oneof(fc.constantFrom('e1', 'e2', 'e10', 'a#b', 'a'), fc.string({ minLength: 1, maxLength: 12 }));

/** Which of two strings DynamoDB puts after the other: it compares their UTF-8 bytes. */
const utf8After = (a: string, b: string) => Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8')) > 0;

describe('orderOf', () => {
  it('orders any two event ids alike by UTF-16 units (JavaScript, dynalite) and by UTF-8 bytes (DynamoDB)', () => {
    const [astral, privateUse] = ['a\u{1F600}', 'a\uE000'];
    // Raw, the two comparisons disagree (the check can fail): an id past U+FFFF against one in U+E000..U+FFFF.
    expect(astral > privateUse).not.toBe(utf8After(astral, privateUse));
    expect(orderOf(1, astral, 'x') > orderOf(1, privateUse, 'x')).toBe(utf8After(orderOf(1, astral, 'x'), orderOf(1, privateUse, 'x')));
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 8 }), fc.string({ unit: 'binary', maxLength: 8 }), jsonArb, (id1, id2, v) => {
        const [o1, o2] = [orderOf(7, id1, v), orderOf(7, id2, v)];
        expect(o1 > o2).toBe(utf8After(o1, o2));
      }),
      { numRuns: 500 },
    );
  });

  it('the version dominates, whatever the event ids and values', () => {
    fc.assert(
      fc.property(versionArb, versionArb, idArb, idArb, jsonArb, jsonArb, (v1, v2, id1, id2, a, b) => {
        fc.pre(v1 !== v2);
        expect(orderOf(v1, id1, a) < orderOf(v2, id2, b)).toBe(v1 < v2);
        expect(versionOf(orderOf(v1, id1, a))).toBe(v1);
      }),
      { numRuns: 500 },
    );
  });

  it('equal only for the same write; otherwise a strict, deterministic order', () => {
    fc.assert(
      fc.property(versionArb, idArb, idArb, jsonArb, jsonArb, (v, id1, id2, a, b) => {
        const o1 = orderOf(v, id1, a);
        const o2 = orderOf(v, id2, b);
        expect(orderOf(v, id1, structuredClone(a))).toBe(o1);
        const same = id1 === id2 && JSON.stringify(a) === JSON.stringify(b);
        expect(o1 === o2).toBe(same);
        if (id1 === id2 && !same) expect(o1.slice(0, -16)).toBe(o2.slice(0, -16));
      }),
      { numRuns: 500 },
    );
  });

  it('refuses versions that cannot be ordered as strings', () => {
    for (const v of [-1, 1.5, Number.NaN, MAX_VERSION + 1, Number.POSITIVE_INFINITY]) expect(() => orderOf(v, 'e', 1)).toThrow(RangeError);
  });
});

describe('DynamoStateStore: the greatest write of a key wins, whatever the arrival', () => {
  let db: LocalDynamo;
  let store: DynamoStateStore;
  let run = 0;
  beforeAll(async () => {
    db = await startLocalDynamo();
    await db.createStateTable('props');
    store = new DynamoStateStore(db.client(), 'props');
  });
  afterAll(() => db?.close());

  const writeArb = fc.record({
    version: fc.integer({ min: 1, max: 4 }),
    id: fc.constantFrom('e1', 'e2', 'e3'),
    value: fc.constantFrom<Json>('free', 'pro', 'enterprise', 7, null, { nested: true }),
  });
  // Writes in arrival order, some repeated (retries, redeliveries), sent in concurrent groups.
  const scheduleArb = fc
    .array(writeArb, { minLength: 1, maxLength: 8 })
    .chain((writes) =>
      fc.tuple(
        fc.shuffledSubarray([...writes, ...writes], { minLength: writes.length }),
        fc.array(fc.integer({ min: 1, max: 4 }), { minLength: 16, maxLength: 16 }),
      ),
    );

  it('stores the max by (version, event id, value)', async () => {
    await fc.assert(
      fc.asyncProperty(scheduleArb, async ([arrivals, groupSizes]) => {
        const subject = `tags:organization_id=prop-${run++}`;
        const toWrite = (w: (typeof arrivals)[number]): KeyWrite => ({
          key: 'plan',
          value: w.value,
          order: orderOf(w.version, w.id, w.value),
          integrations: 'all',
          event: { id: w.id, source: 'app.test', detailType: 'prop', time: new Date(w.version).toISOString() },
        });
        const writes = arrivals.map(toWrite);
        let stored: string | undefined;
        for (let i = 0, g = 0; i < writes.length; g++) {
          const group = writes.slice(i, i + groupSizes[g % groupSizes.length]!);
          i += group.length;
          const before = stored;
          const outcomes = await Promise.all(group.map((w) => store.writeDesired(subject, [w])));
          outcomes.forEach((o, j) => {
            // Written or stale, never both, never neither.
            expect([...o.written, ...o.stale]).toEqual(['plan']);
            if (o.written.length && before !== undefined) expect(group[j]!.order >= before).toBe(true);
          });
          const [now] = await store.readDesired(subject);
          stored = now?.order;
        }
        const winner = writes.reduce((m, w) => (w.order > m.order ? w : m));
        const [got] = await store.readDesired(subject);
        expect(got?.order).toBe(winner.order);
        expect(got?.value).toEqual(winner.value);
        expect(got?.event.id).toBe(winner.event.id);
      }),
      { numRuns: 15 },
    );
  });

  it('a retry of a write stored before ids were escaped counts as written; an older write is still stale', async () => {
    const subject = `tags:organization_id=prop-${run++}`;
    const id = 'e\u{1F600}';
    const order = orderOf(3, id, 'pro');
    // The same write as the earlier release ordered it: the id unescaped, the same version and digest.
    const stored = order.replace(/%u([0-9A-F]{4})/g, (_, unit: string) => String.fromCharCode(Number.parseInt(unit, 16)));
    expect(stored).toBe(`${'3'.padStart(16, '0')}#${id}#${order.slice(order.lastIndexOf('#') + 1)}`);
    // Raw, it sorts above its escaped form: the condition alone refuses the retry.
    expect(stored > order).toBe(true);
    const write = (o: string): KeyWrite => ({
      key: 'plan',
      value: 'pro',
      order: o,
      integrations: 'all',
      event: { id, source: 'app.test', detailType: 'prop', time: new Date(3).toISOString() },
    });
    expect((await store.writeDesired(subject, [write(stored)])).written).toEqual(['plan']);
    expect((await store.writeDesired(subject, [write(order)])).written).toEqual(['plan']);
    expect((await store.writeDesired(subject, [write(orderOf(2, id, 'pro'))])).stale).toEqual(['plan']);
    expect((await store.readDesired(subject))[0]?.order).toBe(stored);
  });
});
