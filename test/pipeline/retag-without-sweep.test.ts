/**
 * A re-tag made through Nango's API (no webhook) with no sweep to see it (`indexSweep: false`, or a
 * sweep that has stalled): route's own listing of the new customer shows the connection as theirs,
 * while its membership still holds what the creation webhook's lookup saw. Apply must go by what
 * Nango shows now: the connection gets its new customer's state and loses its former one's keys.
 * Over the local pipeline (dynalite, fauxqs, the Nango stand-in, the real handlers); no sweep runs.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startLocalPipeline, type LocalPipeline } from '../../local/pipeline.ts';
import { planChanged, seatsChanged } from '../support/events.ts';

const KEY = randomUUID();
const at = (s: number) => new Date(Date.now() - 120_000 + s * 1_000).toISOString();
const C = { connectionId: 'moving-conn', providerConfigKey: 'salesforce', provider: 'salesforce' };

let p: LocalPipeline;

beforeAll(async () => {
  // Beta's empty answer is not reused: the test need not wait out INDEX_EMPTY_TTL_SECONDS.
  p = await startLocalPipeline({ nangoSecretKey: KEY, connections: [], env: { INDEX_EMPTY_TTL_SECONDS: '0' } });
  await p.send([planChanged('acme', 'pro', at(1)), seatsChanged('acme', 42, at(1)), planChanged('beta', 'starter', at(1))]);
  await p.drain({ quietMs: 200 });
  // Created through Connect: its auth webhook's lookup records it as acme's and seeds it.
  p.nango!.createConnection({ ...C, tags: { organization_id: 'acme' } });
  await p.drain({ quietMs: 300 });
  expect(p.nango!.metadataOf(C.connectionId, C.providerConfigKey)).toMatchObject({ plan: 'pro', seats: 42 });
  expect((await p.members.readMember(C))?.subjects).toContain('tags:organization_id=acme');
}, 120_000);
afterAll(() => p?.stop());

describe('a re-tag no sweep has seen', () => {
  it("once Nango lists the connection as the new customer's, it gets that customer's state, not the former's keys", async () => {
    // Through Nango's API, which sends no webhook.
    const res = await fetch(`${p.nangoUrl}/connections/${encodeURIComponent(C.connectionId)}?provider_config_key=${C.providerConfigKey}`, {
      method: 'PATCH',
      headers: { authorization: `Bearer ${KEY}`, 'content-type': 'application/json' },
      body: JSON.stringify({ tags: { organization_id: 'beta' } }),
    });
    expect(res.status).toBe(200);
    const hooks = p.nango!.webhookDeliveries().length;
    // Beta's change: route lists beta's connections (no young sweep to trust) and finds this one.
    await p.send([planChanged('beta', 'enterprise', at(2))]);
    await p.drain({ quietMs: 300 });
    expect(p.nango!.webhookDeliveries()).toHaveLength(hooks);
    const md = p.nango!.metadataOf(C.connectionId, C.providerConfigKey);
    // Before: membership still said acme, so beta's keys were dropped and acme's seats stayed.
    expect(md).toMatchObject({ plan: 'enterprise', seats: null });
  });

  it("the former customer's next changes no longer reach it, and cost no further list call", async () => {
    expect((await p.state.readIndex('tags:organization_id=acme'))?.connections ?? []).toEqual([]);
    const from = p.nango!.requests.length;
    await p.send([seatsChanged('acme', 50, at(3))]);
    await p.drain({ quietMs: 300 });
    expect(p.nango!.metadataOf(C.connectionId, C.providerConfigKey)).toMatchObject({ plan: 'enterprise', seats: null });
    const lookups = p.nango!.requests.slice(from).filter((r) => r.path === '/connections' && r.query.connectionId !== undefined);
    expect(lookups).toEqual([]);
  });
});
