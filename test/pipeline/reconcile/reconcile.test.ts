/**
 * Reconcile with the production code against the pipeline's table, queue and Nango stand-in: metadata
 * replaced behind our back (Nango's dashboard, a function) is reported key by key in a dry run, which
 * changes nothing, and repaired otherwise; listing costs one call per 1,000 connections.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { queueCounts } from '../../../local/event-source.ts';
import { startLocalPipeline, type LocalPipeline } from '../../../local/pipeline.ts';
import type { SeedConnection } from '../../../local/standins/nango.ts';
import { planChanged, seatsChanged, settingsChanged } from '../../support/events.ts';
import { captureLogs, type Logs } from '../../support/logs.ts';

const KEY = randomUUID();
const AT = new Date(Date.now() - 60_000).toISOString();
const BULK = 2_100;
const ACME: SeedConnection[] = ['salesforce', 'hubspot'].map((pck, i) => ({
  connectionId: `9b8a7c6d-0000-4e1f-8a2b-00000000000${i}`,
  providerConfigKey: pck,
  provider: pck,
  tags: { organization_id: 'acme' },
}));
const CUST: SeedConnection = { connectionId: 'cust-1', providerConfigKey: 'hubspot', provider: 'hubspot' };
const bulk = (i: number): SeedConnection => ({
  connectionId: `b0000000-0000-4000-8000-${String(i).padStart(12, '0')}`,
  providerConfigKey: 'bulk-crm',
  provider: 'x',
  tags: { organization_id: `bulk-${i % 10}` },
  metadata: { untouched: i },
});
const CONNECTIONS = [...ACME, CUST, ...Array.from({ length: BULK }, (_, i) => bulk(i))];
const TOTAL = CONNECTIONS.length;
/** The connections with desired state; the bulk ones only make the listing long. */
const OURS = ['salesforce', 'hubspot'];

let p: LocalPipeline;
/** Every handler sends what it causes before its message is deleted: a short quiet period is enough. */
const drain = () => p.drain({ quietMs: 100 });
let logs: Logs;
const listCalls = (from: number) => p.nango!.requests.slice(from).filter((r) => r.method === 'GET' && r.path === '/connections');
const desiredAcme = { plan: 'pro', planChangedAt: AT, seats: 42, seatsChangedAt: AT };

beforeAll(async () => {
  logs = captureLogs([KEY]);
  p = await startLocalPipeline({ nangoSecretKey: KEY, connections: CONNECTIONS });
  await p.send([
    planChanged('acme', 'pro', AT),
    seatsChanged('acme', 42, AT),
    settingsChanged('cust-1', { region: 'eu', flags: { beta: true }, sequence: 1 }),
  ]);
  await drain();
  expect(await p.metadataOf(ACME[0]!.connectionId, 'salesforce')).toEqual(desiredAcme);
});
afterAll(async () => {
  await p?.stop();
  logs?.stop();
});

describe('reconcile', () => {
  it('finds nothing to repair when every owned key is in step, with one list call per 1,000 connections', async () => {
    const from = p.nango!.requests.length;
    // Limited to one subject: every page is listed, only its connections are compared.
    const r = await p.reconcile({ dryRun: true, pageSize: 1_000, subjects: ['tags:organization_id=acme'] });
    expect(r).toMatchObject({ checked: ACME.length, drifted: [], driftedKeys: 0, repairsEnqueued: 0, incomplete: false });
    const calls = listCalls(from);
    expect(r.pages).toBe(Math.ceil(TOTAL / 1_000));
    expect(calls).toHaveLength(r.pages);
    expect(r.pages).toBe(3);
    expect(calls.map((c) => c.query)).toEqual(Array.from({ length: r.pages }, (_, page) => ({ limit: '1000', page: String(page) })));
    // Only list calls: reconcile never GETs a single connection (credentials, token refresh).
    expect(p.nango!.requests.slice(from).filter((c) => c.method !== 'GET' || c.path !== '/connections')).toEqual([]);
  });

  it('a dry run reports exactly the drifted keys (value at Nango, desired) and changes nothing', async () => {
    p.nango!.setMetadataBehindOurBack(ACME[0]!.connectionId, 'salesforce', { plan: 'free', planChangedAt: AT, seats: 42, note: 'ours' });
    p.nango!.setMetadataBehindOurBack('cust-1', 'hubspot', null);
    const from = p.nango!.requests.length;
    const r = await p.reconcile({ dryRun: true, integrations: OURS });
    expect(r.checked).toBe(3);
    const byId = Object.fromEntries(r.drifted.map((d) => [d.connectionId, d]));
    expect(Object.keys(byId).sort()).toEqual([ACME[0]!.connectionId, 'cust-1'].sort());
    expect(byId[ACME[0]!.connectionId]).toMatchObject({
      providerConfigKey: 'salesforce',
      // Only the subjects that hold state for it: its own id subject has none here.
      subjects: ['tags:organization_id=acme'],
    });
    const sortDrift = (d: { key: string }[]) => [...d].sort((a, b) => a.key.localeCompare(b.key));
    expect(sortDrift(byId[ACME[0]!.connectionId]!.drift)).toEqual([
      { key: 'plan', atNango: 'free', desired: 'pro' },
      { key: 'seatsChangedAt', atNango: undefined, desired: AT },
    ]);
    expect(sortDrift(byId['cust-1']!.drift)).toEqual([
      { key: 'flags', atNango: undefined, desired: { beta: true } },
      { key: 'region', atNango: undefined, desired: 'eu' },
    ]);
    expect(r).toMatchObject({ driftedKeys: 4, repairsEnqueued: 0, repairsFailed: 0 });
    await drain();
    expect(p.nango!.requests.slice(from).every((c) => c.method === 'GET')).toBe(true);
    expect(await queueCounts(p.sqs, p.queues.syncUrl)).toMatchObject({ visible: 0, inFlight: 0, delayed: 0 });
    expect(await p.metadataOf(ACME[0]!.connectionId, 'salesforce')).toEqual({ plan: 'free', planChangedAt: AT, seats: 42, note: 'ours' });
    expect(await p.metadataOf('cust-1', 'hubspot')).toBeNull();
  });

  it('limits itself to the subjects and integrations asked for', async () => {
    const bySubject = await p.reconcile({ dryRun: true, subjects: ['connection:cust-1'] });
    expect(bySubject.drifted.map((d) => d.connectionId)).toEqual(['cust-1']);
    const byIntegration = await p.reconcile({ dryRun: true, integrations: ['salesforce'] });
    expect(byIntegration.drifted.map((d) => d.connectionId)).toEqual([ACME[0]!.connectionId]);
  });

  it('without dryRun it repairs: after the drain the owned keys equal the desired state, other keys kept', async () => {
    const before = p.nango!.stats().patches;
    const r = await p.reconcile({ integrations: OURS });
    expect(r).toMatchObject({ driftedKeys: 4, repairsEnqueued: 2, repairsFailed: 0 });
    await drain();
    expect(await p.metadataOf(ACME[0]!.connectionId, 'salesforce')).toEqual({ ...desiredAcme, note: 'ours' });
    expect(await p.metadataOf('cust-1', 'hubspot')).toEqual({ region: 'eu', flags: { beta: true } });
    expect(p.nango!.stats().patches - before).toBe(2);
    // The unrelated keys of the bulk connections were never touched.
    expect(p.nango!.metadataOf(bulk(7).connectionId, bulk(7).providerConfigKey)).toEqual({ untouched: 7 });
    const again = await p.reconcile({ dryRun: true, integrations: OURS });
    expect(again.drifted).toEqual([]);
  });

  it("a complete run adds what it listed to each subject's connection index: route then asks Nango nothing", async () => {
    // Created without a webhook (before the deployment, say): no index knows them yet.
    const newco: SeedConnection[] = ['salesforce', 'hubspot'].map((pck, i) => ({
      connectionId: `9b8a7c6d-1111-4e1f-8a2b-00000000000${i}`,
      providerConfigKey: pck,
      provider: pck,
      tags: { organization_id: 'newco' },
    }));
    for (const c of newco) p.nango!.addConnection(c);
    const subject = 'tags:organization_id=newco';
    // A dry run changes nothing; a run limited to some integrations does not see every connection of a subject.
    expect((await p.reconcile({ dryRun: true })).indexed).toBe(0);
    expect((await p.reconcile({ integrations: OURS })).indexed).toBe(0);
    expect(await p.state.readIndex(subject)).toBeUndefined();

    const before = Date.now();
    const r = await p.reconcile({ pageSize: 1_000 });
    expect(r).toMatchObject({ incomplete: false, drifted: [], pages: 3 });
    // Every connection's own id subject and the two tag subjects; the ten bulk customers (210 connections
    // each) are over the cap of 100 and get no index: route refuses their events.
    expect(r.indexed).toBe(CONNECTIONS.length + newco.length + 2);
    expect(await p.state.readIndex('tags:organization_id=bulk-3')).toBeUndefined();
    const index = await p.state.readIndex(subject);
    expect(index?.connections.map((t) => t.providerConfigKey).sort()).toEqual(['hubspot', 'salesforce']);
    expect(index?.fetchedAt).toBeGreaterThanOrEqual(before);

    const from = p.nango!.requests.length;
    await p.send([planChanged('newco', 'enterprise', AT)]);
    await drain();
    const calls = p.nango!.requests.slice(from);
    expect(calls.filter((c) => c.method === 'GET')).toEqual([]);
    expect(calls.filter((c) => c.method === 'PATCH')).toHaveLength(2);
    expect(await p.metadataOf(newco[1]!.connectionId, 'hubspot')).toMatchObject({ plan: 'enterprise' });
  });

  it('printed no key', () => {
    expect(logs.capture.lines()).toBeGreaterThan(0);
    expect(logs.capture.leaks()).toBe(0);
  });
});
