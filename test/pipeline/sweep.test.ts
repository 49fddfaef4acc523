/**
 * The sweep end to end, over the local pipeline (dynalite, fauxqs, the Nango stand-in, the real
 * handlers): a run lists every connection one page per invocation, seeds connections whose webhook
 * never came, writes nothing for connections that did not change, moves a connection re-tagged
 * through Nango's API (its new customer's state, its former customer's keys cleared), and lets route
 * trust the index with no list call per event. A captured webhook replayed after a re-tag does not
 * put the connection back with its former customer.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DynamoMembershipStore, RunState } from '#commons/state/membership';
import { SIGNATURE_HEADER } from '#commons/webhook/signature';
import { startLocalPipeline, type LocalPipeline } from '../../local/pipeline.ts';
import type { SeedConnection } from '../../local/standins/nango.ts';
import { planChanged, seatsChanged } from '../support/events.ts';

const KEY = randomUUID();
const AT = new Date(Date.now() - 120_000).toISOString();
const later = (s: number) => new Date(Date.now() - 120_000 + s * 1_000).toISOString();
const conn = (id: string, pck: string, org?: string): SeedConnection => ({
  connectionId: id,
  providerConfigKey: pck,
  provider: pck,
  ...(org ? { tags: { organization_id: org } } : {}),
});
const ACME1 = conn('acme-sf', 'salesforce', 'acme');
const ACME2 = conn('acme-hs', 'hubspot', 'acme');
const BETA1 = conn('beta-sf', 'salesforce', 'beta');
/** Enough untagged and other customers' connections for two pages of 1,000. */
const BULK = Array.from({ length: 1_010 }, (_, i) => conn(`bulk-${i}`, 'bulk-crm', i % 2 ? `bulk-${i % 7}` : undefined));
const CONNECTIONS = [ACME1, ACME2, BETA1, ...BULK];

let p: LocalPipeline;
let runs: DynamoMembershipStore;
const lists = (from: number) => p.nango!.requests.slice(from).filter((r) => r.method === 'GET' && r.path === '/connections');
const patchesTo = (id: string, from = 0) =>
  p.nango!.requests.slice(from).filter((r) => r.method === 'PATCH' && JSON.stringify(r.body ?? '').includes(`"${id}"`));

async function sweepRun(repair: boolean): Promise<NonNullable<RunState['lastComplete']>> {
  const before = (await runs.readRun('index'))?.lastComplete?.run;
  const t = await p.sweep(repair);
  expect(t.action).toBe('started');
  await p.drain({ quietMs: 200, timeoutMs: 120_000 });
  const r = await runs.readRun('index');
  expect(r?.status).toBe('done');
  expect(r?.lastComplete?.run).not.toBe(before);
  return r!.lastComplete!;
}

beforeAll(async () => {
  p = await startLocalPipeline({ nangoSecretKey: KEY, connections: CONNECTIONS });
  runs = p.members;
  // State for customers whose connections existed before any webhook: only a listing finds them.
  await p.send([planChanged('acme', 'pro', AT), seatsChanged('acme', 42, AT), planChanged('beta', 'enterprise', AT)]);
  await p.drain({ quietMs: 200 });
}, 120_000);
afterAll(() => p?.stop());

describe('the sweep', () => {
  it('lists every connection one page per invocation and seeds the ones no webhook announced', async () => {
    const from = p.nango!.requests.length;
    const run = await sweepRun(false);
    expect(run.pages).toBe(2);
    expect(run.counts).toMatchObject({ pages: 2, listed: CONNECTIONS.length, added: CONNECTIONS.length, moved: 0 });
    // Two list calls for the whole fleet.
    expect(lists(from).map((r) => r.query)).toEqual([
      { limit: '1000', page: '0' },
      { limit: '1000', page: '1' },
    ]);
    expect(p.nango!.metadataOf(ACME1.connectionId, 'salesforce')).toMatchObject({ plan: 'pro', seats: 42 });
    expect(p.nango!.metadataOf(ACME2.connectionId, 'hubspot')).toMatchObject({ plan: 'pro', seats: 42 });
    expect(p.nango!.metadataOf(BETA1.connectionId, 'salesforce')).toMatchObject({ plan: 'enterprise' });
    expect((await p.state.readIndex('tags:organization_id=acme'))?.connections).toHaveLength(2);
  }, 180_000);

  it('a second run writes nothing for connections whose membership did not change', async () => {
    const from = p.nango!.requests.length;
    const run = await sweepRun(true);
    expect(run.counts).toMatchObject({ listed: CONNECTIONS.length, unchanged: CONNECTIONS.length, added: 0, moved: 0 });
    expect(run.counts.indexWrites ?? 0).toBe(0);
    expect(run.counts.membershipWrites ?? 0).toBe(0);
    expect(run.counts.seeded ?? 0).toBe(0);
    // Nothing drifted: no PATCH at all, only the two pages.
    expect(p.nango!.requests.slice(from).filter((r) => r.method !== 'GET')).toEqual([]);
    expect(lists(from)).toHaveLength(2);
  }, 180_000);

  it('route trusts the index while the last complete sweep is young: no list call per event', async () => {
    const from = p.nango!.requests.length;
    await p.send([planChanged('acme', 'enterprise', later(1)), planChanged('beta', 'starter', later(1))]);
    await p.drain({ quietMs: 200 });
    expect(lists(from)).toEqual([]);
    expect(p.nango!.metadataOf(ACME2.connectionId, 'hubspot')).toMatchObject({ plan: 'enterprise' });
    expect(p.nango!.metadataOf(BETA1.connectionId, 'salesforce')).toMatchObject({ plan: 'starter' });
  });

  it("moves a connection re-tagged through Nango's API: its new customer's state, its former customer's keys cleared", async () => {
    p.nango!.retag(ACME2.connectionId, 'hubspot', { organization_id: 'beta' });
    const run = await sweepRun(true);
    expect(run.counts).toMatchObject({ moved: 1, added: 0 });
    const md = p.nango!.metadataOf(ACME2.connectionId, 'hubspot');
    // Beta's plan; acme's seats (beta has none) set to null: no former customer's value stays.
    expect(md).toMatchObject({ plan: 'starter', seats: null, seatsChangedAt: null });
    expect((await p.state.readIndex('tags:organization_id=acme'))?.connections.map((c) => c.connectionId)).toEqual([ACME1.connectionId]);
    // Acme's next change reaches acme's remaining connection only.
    const from = p.nango!.requests.length;
    await p.send([seatsChanged('acme', 50, later(2))]);
    await p.drain({ quietMs: 200 });
    expect(patchesTo(ACME2.connectionId, from)).toEqual([]);
    expect(p.nango!.metadataOf(ACME1.connectionId, 'salesforce')).toMatchObject({ seats: 50 });
    expect(p.nango!.metadataOf(ACME2.connectionId, 'hubspot')).toMatchObject({ seats: null });
  }, 180_000);

  it('a captured webhook replayed after a re-tag does not give the connection back to its former customer', async () => {
    const fresh = conn('new-acme', 'salesforce', 'acme');
    p.nango!.createConnection(fresh);
    await p.drain({ quietMs: 200 });
    expect(p.nango!.metadataOf('new-acme', 'salesforce')).toMatchObject({ plan: 'enterprise', seats: 50 });
    const captured = p.nango!.webhookDeliveries().find((d) => d.body.connectionId === 'new-acme')!;
    p.nango!.retag('new-acme', 'salesforce', { organization_id: 'beta' });
    await sweepRun(true);
    expect(p.nango!.metadataOf('new-acme', 'salesforce')).toMatchObject({ plan: 'starter', seats: null });
    // The replay: validly signed, tags say acme. Apply asks Nango, which says beta.
    const res = await fetch(p.webhook.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', [SIGNATURE_HEADER]: captured.signature },
      body: captured.raw,
    });
    expect(res.status).toBe(200);
    await p.drain({ quietMs: 200 });
    const acme = (await p.state.readIndex('tags:organization_id=acme'))?.connections.map((c) => c.connectionId);
    expect(acme).not.toContain('new-acme');
    expect(p.nango!.metadataOf('new-acme', 'salesforce')).toMatchObject({ plan: 'starter', seats: null });
  }, 180_000);

  it('`npm run reconcile -- --status` shows the last complete run', async () => {
    const { main } = await import('../../cli/reconcile.ts');
    let text = '';
    const code = await main(['--status', '--json'], {
      env: { ...process.env, STATE_TABLE_NAME: 'nango-metadata-sync-state' },
      out: { write: (s: string) => void (text += s), isTTY: false },
    });
    expect(code).toBe(0);
    const run = JSON.parse(text) as RunState;
    expect(run.status).toBe('done');
    expect(run.lastComplete).toMatchObject({ pages: 2, counts: { listed: CONNECTIONS.length + 1 } });
  });

  it('two runs never overlap: a tick while a run holds its lease starts nothing', async () => {
    await p.sweep(true).then((t) => expect(t.action).toBe('started'));
    const second = await p.sweep(true);
    expect(second.action).toBe('running');
    await p.drain({ quietMs: 200, timeoutMs: 120_000 });
    expect((await runs.readRun('index'))?.status).toBe('done');
  }, 180_000);
});
