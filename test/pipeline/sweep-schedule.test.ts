/**
 * Steady state over the local pipeline with the sweep on its schedule (time scaled: runs every 2 s,
 * ticks every 0.5 s): events spread over many intervals cost no list call of route's, only the
 * sweep's one page per run; runs start about once per interval, not once per tick; a connection
 * re-tagged through Nango's API (no webhook) is moved by the next run, and its former customer's
 * later events no longer reach it.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startLocalPipeline, type LocalPipeline } from '../../local/pipeline.ts';
import type { SeedConnection } from '../../local/standins/nango.ts';
import { planChanged, seatsChanged } from '../support/events.ts';

const INTERVAL_S = 2;
const TICK_MS = 500;
const conn = (id: string, pck: string, org: string): SeedConnection => ({
  connectionId: id,
  providerConfigKey: pck,
  provider: pck,
  tags: { organization_id: org },
});
const ACME1 = conn('acme-sf', 'salesforce', 'acme');
const ACME2 = conn('acme-hs', 'hubspot', 'acme');
const BETA1 = conn('beta-sf', 'salesforce', 'beta');
const at = (s: number) => new Date(Date.now() - 60_000 + s * 1_000).toISOString();
const PLANS = ['free', 'starter', 'pro', 'enterprise'] as const;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

let p: LocalPipeline;
const requests = (from: number) => p.nango!.requests.slice(from);
/** The sweep's pages (`limit` and `page`, no filter) and every other listing (route's or apply's lookups). */
const pages = (from: number) =>
  requests(from).filter((r) => r.method === 'GET' && r.path === '/connections' && r.query?.page !== undefined);
const lookups = (from: number) =>
  requests(from).filter((r) => r.method === 'GET' && r.path === '/connections' && r.query?.page === undefined);

beforeAll(async () => {
  p = await startLocalPipeline({
    nangoSecretKey: randomUUID(),
    connections: [ACME1, ACME2, BETA1],
    // A per-subject lookup is never fresh: any list call of route's would show.
    env: { INDEX_SWEEP_SECONDS: String(INTERVAL_S), INDEX_TTL_SECONDS: '0', INDEX_EMPTY_TTL_SECONDS: '0' },
  });
  await p.sweep();
  await p.drain({ quietMs: 200 });
  p.scheduleSweep(TICK_MS);
}, 120_000);
afterAll(() => p?.stop());

describe('the sweep on its schedule', () => {
  it('route lists nothing per event over many intervals; the sweep runs about once per interval, not once per tick', async () => {
    const from = p.nango!.requests.length;
    const started = Date.now();
    for (let i = 1; i <= 4; i++) {
      await p.send([planChanged('acme', PLANS[i - 1]!, at(i)), planChanged('beta', PLANS[i - 1]!, at(i))]);
      await sleep(2_000);
    }
    await p.drain({ quietMs: 200 });
    const elapsed = Date.now() - started;
    expect(lookups(from)).toEqual([]);
    // 2 s apart at ticks of 0.5 s: a run per tick would be four times as many.
    const runs = pages(from).length;
    expect(runs).toBeGreaterThanOrEqual(Math.floor(elapsed / (INTERVAL_S * 1_000)) - 1);
    expect(runs).toBeLessThanOrEqual(Math.ceil(elapsed / (INTERVAL_S * 1_000 - TICK_MS / 2)) + 1);
    expect(p.nango!.metadataOf(ACME2.connectionId, 'hubspot')).toMatchObject({ plan: 'enterprise' });
    expect(p.nango!.metadataOf(BETA1.connectionId, 'salesforce')).toMatchObject({ plan: 'enterprise' });
    // One PATCH per event and connection.
    expect(requests(from).filter((r) => r.method === 'PATCH')).toHaveLength(4 * 3);
  }, 60_000);

  it("a re-tag made through Nango's API is moved by the next run: the former customer's later events stop reaching it", async () => {
    await p.send([seatsChanged('acme', 5, at(5))]);
    await p.drain({ quietMs: 200 });
    expect(p.nango!.metadataOf(ACME2.connectionId, 'hubspot')).toMatchObject({ seats: 5 });
    p.nango!.retag(ACME2.connectionId, 'hubspot', { organization_id: 'beta' });
    const movedBy = Date.now() + 3 * INTERVAL_S * 1_000;
    while ((await p.members.readMember(ACME2))?.subjects.includes('tags:organization_id=beta') !== true) {
      expect(Date.now()).toBeLessThan(movedBy);
      await sleep(100);
    }
    await p.drain({ quietMs: 200 });
    const from = p.nango!.requests.length;
    await p.send([seatsChanged('acme', 77, at(10))]);
    await p.drain({ quietMs: 200 });
    expect(requests(from).filter((r) => r.method === 'PATCH' && JSON.stringify(r.body).includes(ACME2.connectionId))).toEqual([]);
    expect(p.nango!.metadataOf(ACME1.connectionId, 'salesforce')).toMatchObject({ seats: 77 });
    // Beta's state, acme's keys cleared.
    expect(p.nango!.metadataOf(ACME2.connectionId, 'hubspot')).toMatchObject({ plan: 'enterprise', seats: null });
    expect(lookups(from)).toEqual([]);
  }, 60_000);
});
