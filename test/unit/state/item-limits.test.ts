/**
 * Items that cannot overflow, written into dynalite (which refuses items over 400 KB as DynamoDB
 * does): a subject's index at MAX_INDEX_ENTRIES connections with the longest ids Nango allows (JSON
 * escaping included) under the longest readable subject id, the next add refused; and an applied item
 * filled to MAX_APPLIED_BYTES, the next key refused before any PATCH.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { assertAppliedFits } from '#commons/apply/tenancy';
import { SETTINGS } from '#commons/config';
import { DynamoStateStore } from '#commons/state/dynamodb';
import { ITEM_LIMIT_BYTES, MAX_APPLIED_BYTES, MAX_INDEX_ENTRIES } from '#commons/state/limits';
import { startLocalDynamo, type LocalDynamo } from '../../../local/standins/dynamodb.ts';

let db: LocalDynamo;
let store: DynamoStateStore;
beforeAll(async () => {
  db = await startLocalDynamo();
  await db.createStateTable('state');
  store = new DynamoStateStore(db.client(), 'state');
});
afterAll(() => db.close());

/** A 255-character connection id of `"` and `\` (each two bytes once JSON-escaped), unique by its digits. */
const longId = (i: number) => `${String(i).padStart(6, '0')}${'"\\'.repeat(125)}`.slice(0, 255);
const LONG_PCK = `p${'-'.repeat(254)}`;
const LONG_SUBJECT = `tags:organization_id=${'x'.repeat(1_000 - 'tags:organization_id='.length)}`;

describe('item limits', () => {
  it('MAX_CONNECTIONS_PER_SUBJECT is refused past what one index item holds at the longest ids', () => {
    const cap = SETTINGS.MAX_CONNECTIONS_PER_SUBJECT.schema;
    expect(cap.safeParse(String(MAX_INDEX_ENTRIES)).success).toBe(true);
    expect(cap.safeParse(String(MAX_INDEX_ENTRIES + 1)).success).toBe(false);
  });

  it('an index holds MAX_INDEX_ENTRIES connections at the longest ids; the next add is refused', async () => {
    expect(longId(1)).toHaveLength(255);
    for (let i = 0; i < MAX_INDEX_ENTRIES; i += 50) {
      const adds = await Promise.all(
        Array.from({ length: 50 }, (_, j) => store.addToIndex(LONG_SUBJECT, { connectionId: longId(i + j), providerConfigKey: LONG_PCK })),
      );
      expect(adds.every(Boolean)).toBe(true);
    }
    expect(await store.addToIndex(LONG_SUBJECT, { connectionId: longId(MAX_INDEX_ENTRIES), providerConfigKey: LONG_PCK })).toBe(false);
    // An entry already there is no add: it is accepted at the cap.
    expect(await store.addToIndex(LONG_SUBJECT, { connectionId: longId(0), providerConfigKey: LONG_PCK })).toBe(true);
    const index = await store.readIndex(LONG_SUBJECT);
    expect(index?.connections).toHaveLength(MAX_INDEX_ENTRIES);
    const bytes = index!.connections.reduce((n, t) => n + Buffer.byteLength(JSON.stringify([t.providerConfigKey, t.connectionId])), 0);
    expect(bytes).toBeGreaterThan(0.9 * 400 * 1024 * (MAX_INDEX_ENTRIES / 519));
  }, 60_000);

  it('an applied item filled to its bound is stored; one more key is refused before the PATCH', async () => {
    const target = { connectionId: longId(1), providerConfigKey: LONG_PCK };
    const key = (i: number) => `${String(i).padStart(5, '0')}${'k'.repeat(507)}`;
    const order = `${'9'.repeat(16)}#${'e'.repeat(512)}#${'f'.repeat(16)}`;
    const source = 'a'.repeat(16);
    let applied = await store.readApplied(target);
    for (let i = 0; ; i++) {
      const one = { [key(i)]: order };
      try {
        assertAppliedFits(applied, one, { [key(i)]: source });
      } catch (e) {
        expect((e as { code?: string }).code).toBe('applied_state_too_large');
        break;
      }
      await store.recordApplied(target, one, [], { sources: { [key(i)]: source } });
      applied = await store.readApplied(target);
    }
    expect(applied.bytes).toBeGreaterThan(MAX_APPLIED_BYTES - 2_000);
    expect(applied.bytes).toBeLessThanOrEqual(MAX_APPLIED_BYTES);
    expect(applied.bytes).toBeLessThan(ITEM_LIMIT_BYTES);
    expect(Object.keys(applied.sources ?? {})).toHaveLength(Object.keys(applied.keys).length);
  }, 120_000);
});
