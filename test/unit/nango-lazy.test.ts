/** The lazily loaded Nango client: loaded once for concurrent first calls, and tried again after a failed load. */
import { describe, expect, it } from 'vitest';
import { lazyNango } from '../../functions/commons/nango/lazy.ts';
import type { NangoPort } from '../../functions/commons/nango/port.ts';

const opts = { deadline: Date.now() + 60_000 };
const target = { connectionId: 'c1', providerConfigKey: 'salesforce' };

function port(calls: string[]): NangoPort {
  return {
    patchMetadata: async (t) => void calls.push(`patch ${t.connectionId}`),
    listConnections: async (f) => {
      calls.push(`list ${f.connectionId}`);
      return [];
    },
  };
}

describe('lazyNango', () => {
  it('does not load before the first call, then loads once for concurrent calls', async () => {
    const calls: string[] = [];
    let loads = 0;
    const nango = lazyNango(async () => {
      loads++;
      return port(calls);
    });
    expect(loads).toBe(0);
    await Promise.all([
      nango.patchMetadata(target, { plan: 'pro' }, opts),
      nango.listConnections({ connectionId: 'c2' }, { limit: 1, page: 0 }, opts),
    ]);
    await nango.patchMetadata({ ...target, connectionId: 'c3' }, { plan: 'pro' }, opts);
    expect(loads).toBe(1);
    expect(calls.sort()).toEqual(['list c2', 'patch c1', 'patch c3']);
  });

  it('a failed load fails that call and is tried again on the next', async () => {
    const calls: string[] = [];
    let loads = 0;
    const nango = lazyNango(async () => {
      if (++loads === 1) throw new Error('load failed');
      return port(calls);
    });
    await expect(nango.patchMetadata(target, { plan: 'pro' }, opts)).rejects.toThrow('load failed');
    await nango.patchMetadata(target, { plan: 'pro' }, opts);
    expect(loads).toBe(2);
    expect(calls).toEqual(['patch c1']);
  });
});
