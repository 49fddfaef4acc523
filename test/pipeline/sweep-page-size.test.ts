/**
 * SWEEP_PAGE_SIZE reaches the sweep: over the local pipeline and the real handlers, a run lists the
 * fleet in pages of that many connections, one list call per page, and still seeds every connection.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startLocalPipeline, type LocalPipeline } from '../../local/pipeline.ts';
import type { SeedConnection } from '../../local/standins/nango.ts';
import { planChanged } from '../support/events.ts';

const AT = new Date(Date.now() - 60_000).toISOString();
const CONNECTIONS: SeedConnection[] = Array.from({ length: 5 }, (_, i) => ({
  connectionId: `paged-${i}`,
  providerConfigKey: 'salesforce',
  provider: 'salesforce',
  tags: { organization_id: 'paged' },
}));

let p: LocalPipeline;
beforeAll(async () => {
  p = await startLocalPipeline({ nangoSecretKey: randomUUID(), connections: CONNECTIONS, env: { SWEEP_PAGE_SIZE: '2' } });
  await p.send([planChanged('paged', 'pro', AT)]);
  await p.drain({ quietMs: 200 });
}, 60_000);
afterAll(() => p?.stop());

describe('SWEEP_PAGE_SIZE', () => {
  it('sets how many connections one page of the sweep lists', async () => {
    const from = p.nango!.requests.length;
    expect((await p.sweep(false)).action).toBe('started');
    await p.drain({ quietMs: 200, timeoutMs: 60_000 });
    const lists = p.nango!.requests.slice(from).filter((r) => r.method === 'GET' && r.path === '/connections');
    expect(lists.map((r) => r.query)).toEqual([
      { limit: '2', page: '0' },
      { limit: '2', page: '1' },
      { limit: '2', page: '2' },
    ]);
    for (const c of CONNECTIONS) expect(p.nango!.metadataOf(c.connectionId, 'salesforce'), c.connectionId).toMatchObject({ plan: 'pro' });
  }, 90_000);
});
