/**
 * The notes of subjects without a connection over dynalite, and the sweep's check walking them a
 * page at a time: the count and the first samples carried from page to page, a subject whose index
 * gained a connection forgotten, the first time a subject was noted kept.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DynamoStateStore } from '#commons/state/dynamodb';
import { DynamoUnmatchedStore, notesOncePerMinute } from '#commons/state/unmatched';
import { checkUnmatchedPage, firstUnmatchedMessage, SAMPLES, type UnmatchedMessage } from '#commons/sweep/unmatched';
import { startLocalDynamo, type LocalDynamo } from '../../../local/standins/dynamodb.ts';

const subject = (i: number) => `tags:organization_id=org-${String(i).padStart(2, '0')}`;

describe('unmatched notes and their check', () => {
  let db: LocalDynamo;
  let store: DynamoUnmatchedStore;
  let state: DynamoStateStore;

  beforeAll(async () => {
    db = await startLocalDynamo();
    await db.createStateTable('state');
    store = new DynamoUnmatchedStore(db.client(), 'state');
    state = new DynamoStateStore(db.client(), 'state');
  });
  afterAll(() => db.close());

  it('keeps when a subject was first noted, and the latest time', async () => {
    await store.note(subject(0), 1_000);
    await store.note(subject(0), 5_000);
    expect((await store.page(undefined, 10)).notes).toEqual([{ subject: subject(0), since: 1_000, lastAt: 5_000 }]);
  });

  it('route notes a subject once a minute per container, and a failed note does not fail the caller', async () => {
    const calls: number[] = [];
    const errors: unknown[] = [];
    let fail = true;
    const notes = notesOncePerMinute(
      {
        note: async (_s, at) => {
          calls.push(at);
          if (fail) throw new Error('throttled');
        },
      },
      (e) => errors.push(e),
    );
    await notes.note('s', 0);
    fail = false;
    // A failed note is tried again at the next event; a written one not within the minute.
    await notes.note('s', 1);
    await notes.note('s', 30_000);
    await notes.note('s', 61_001);
    expect(calls).toEqual([0, 1, 61_001]);
    expect(errors).toHaveLength(1);
  });

  it('walks every note a page at a time: counts those without connections, forgets those with one', async () => {
    for (let i = 1; i <= 12; i++) await store.note(subject(i), 10_000 + i);
    // Two of them gained a connection since.
    await state.addToIndex(subject(3), { connectionId: 'c3', providerConfigKey: 'salesforce' });
    await state.addToIndex(subject(8), { connectionId: 'c8', providerConfigKey: 'salesforce' });
    let m: UnmatchedMessage = firstUnmatchedMessage('run-1');
    let pages = 0;
    let forgotten = 0;
    for (;;) {
      const out = await checkUnmatchedPage(store, m, 5);
      pages++;
      forgotten += out.forgotten;
      if (out.action === 'done') {
        // org-00 (noted first) and ten of org-01..12.
        expect(out.count).toBe(11);
        expect(out.oldestSince).toBe(1_000);
        expect(out.samples.map((u) => u.subject)).toEqual([0, 1, 2, 4, 5].map(subject));
        expect(out.samples).toHaveLength(SAMPLES);
        break;
      }
      // What the next page's message carries fits a queue message and survives JSON.
      m = JSON.parse(JSON.stringify(out.message)) as UnmatchedMessage;
    }
    expect(pages).toBe(3);
    expect(forgotten).toBe(2);
    const left = (await store.page(undefined, 100)).notes.map((n) => n.subject);
    expect(left).not.toContain(subject(3));
    expect(left).not.toContain(subject(8));
    expect(left).toHaveLength(11);
  });
});
