import { describe, expect, it } from 'vitest';
import { planGuardedPatch, readVersions, VERSIONS_KEY } from '#commons/apply/ordering';
import type { PatchMessage } from '#commons/patch-message';

const msg = (time: string, patch: PatchMessage['patch'], id = time): PatchMessage => ({
  v: 1,
  target: { connectionId: 'acme', providerConfigKey: 'salesforce' },
  patch,
  event: { id, source: 's', detailType: 'd', time },
});

describe('event-time guard', () => {
  it('folds a batch in event-time order whatever the arrival order', () => {
    const plan = planGuardedPatch(
      [msg('2026-01-02T00:00:00.000Z', { plan: 'pro' }), msg('2026-01-01T00:00:00.000Z', { plan: 'free', seats: 3 })],
      {},
    );
    expect(plan.patch).toEqual({
      plan: 'pro',
      seats: 3,
      [VERSIONS_KEY]: { plan: '2026-01-02T00:00:00.000Z', seats: '2026-01-01T00:00:00.000Z' },
    });
  });

  it('drops keys a newer event already wrote, keeps the others', () => {
    const stored = readVersions({ plan: 'pro', [VERSIONS_KEY]: { plan: '2026-01-05T00:00:00.000Z' } });
    const plan = planGuardedPatch([msg('2026-01-03T00:00:00.000Z', { plan: 'free', seats: 9 })], stored);
    expect(plan.staleKeys).toBe(1);
    expect(plan.patch).toEqual({ seats: 9, [VERSIONS_KEY]: { plan: '2026-01-05T00:00:00.000Z', seats: '2026-01-03T00:00:00.000Z' } });
  });

  it('sends nothing when every key is stale', () => {
    const plan = planGuardedPatch([msg('2026-01-01T00:00:00.000Z', { plan: 'free' })], { plan: '2026-01-02T00:00:00.000Z' });
    expect(plan).toEqual({ patch: undefined, staleKeys: 1 });
  });

  it('lets an equal time win (a replay of the same event re-applies)', () => {
    const plan = planGuardedPatch([msg('2026-01-02T00:00:00.000Z', { plan: 'pro' })], { plan: '2026-01-02T00:00:00.000Z' });
    expect(plan.patch).toMatchObject({ plan: 'pro' });
  });

  it('ignores a malformed versions entry instead of failing', () => {
    expect(readVersions({ [VERSIONS_KEY]: ['x'] })).toEqual({});
    expect(readVersions(null)).toEqual({});
    expect(readVersions({ [VERSIONS_KEY]: { a: 1, b: '2026' } })).toEqual({ b: '2026' });
  });
});
