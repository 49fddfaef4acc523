/** Apply's shortcut for change syncs whose every subject has a settle on its way. */
import { describe, expect, it } from 'vitest';
import { restsOnSettle } from '#commons/apply/processor';
import { syncMessage } from '#commons/sync/message';

const target = { connectionId: 'c1', providerConfigKey: 'salesforce' };
const now = 1_000_000;
const change = syncMessage(target, ['tags:a', 'tags:b'], 'change', [], now - 500);

describe('restsOnSettle', () => {
  it('every subject has a settle due later than now: the change syncs rest on them', () => {
    expect(restsOnSettle([change], ['tags:a', 'tags:b'], now - 500, { 'tags:a': now + 1, 'tags:b': now + 900 }, now)).toBe(true);
  });

  it('one subject without a settle due later than now: they do not', () => {
    expect(restsOnSettle([change], ['tags:a', 'tags:b'], now - 500, { 'tags:a': now + 1, 'tags:b': now }, now)).toBe(false);
    expect(restsOnSettle([change], ['tags:a', 'tags:b'], now - 500, { 'tags:a': now + 1 }, now)).toBe(false);
    expect(restsOnSettle([change], ['tags:a'], now - 500, undefined, now)).toBe(false);
  });

  it('a settle, a seed, a repair, a lookup or a sync without a queue time never rests on another settle', () => {
    const due = { 'tags:a': now + 1000 };
    for (const reason of ['settle', 'seed', 'repair', 'deadline'] as const) {
      expect(restsOnSettle([syncMessage(target, ['tags:a'], reason, [], now)], ['tags:a'], now, due, now)).toBe(false);
    }
    expect(restsOnSettle([{ ...change, lookup: true }], ['tags:a'], now - 500, due, now)).toBe(false);
    expect(restsOnSettle([change], ['tags:a'], undefined, due, now)).toBe(false);
    expect(restsOnSettle([change], [], now - 500, due, now)).toBe(false);
  });
});
