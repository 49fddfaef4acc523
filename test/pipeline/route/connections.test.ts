/**
 * The connection index over dynalite and the Nango stand-in: a fresh index answers without Nango;
 * an empty answer is trusted only briefly, so a connection created meanwhile is found soon; lookups
 * of one subject share one request; a subject over the cap is refused.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { subjectOf } from '#commons/domain/subject';
import { HttpNangoClient } from '#commons/nango/http-client';
import { ConnectionIndex } from '#commons/route/connections';
import { staticKeyProvider } from '#commons/secrets';
import { DynamoStateStore } from '#commons/state/dynamodb';
import { startLocalDynamo, type LocalDynamo } from '../../../local/standins/dynamodb.ts';
import { startNangoStandin, type NangoStandin } from '../../../local/standins/nango.ts';

const KEY = randomUUID();
const acme = subjectOf({ by: 'tags', tags: { organization_id: 'acme' }, integrations: 'all' });
const initech = subjectOf({ by: 'tags', tags: { organization_id: 'initech' }, integrations: 'all' });
const big = subjectOf({ by: 'tags', tags: { organization_id: 'big' }, integrations: 'all' });
const deadline = () => Date.now() + 10_000;

describe('ConnectionIndex', () => {
  let db: LocalDynamo;
  let nango: NangoStandin;
  let state: DynamoStateStore;
  let client: HttpNangoClient;
  let now = 1_000_000;
  let index: ConnectionIndex;
  const lists = () => nango.requests.filter((r) => r.method === 'GET' && r.path === '/connections').length;

  beforeAll(async () => {
    db = await startLocalDynamo();
    await db.createStateTable('state');
    state = new DynamoStateStore(db.client(), 'state');
    nango = await startNangoStandin({
      secretKey: KEY,
      connections: [
        { connectionId: randomUUID(), providerConfigKey: 'salesforce', tags: { organization_id: 'acme' } },
        { connectionId: randomUUID(), providerConfigKey: 'hubspot', tags: { organization_id: 'acme' } },
        { connectionId: randomUUID(), providerConfigKey: 'hubspot', tags: { organization_id: 'globex' } },
        ...Array.from({ length: 4 }, () => ({
          connectionId: randomUUID(),
          providerConfigKey: 'zendesk',
          tags: { organization_id: 'big' },
        })),
      ],
    });
    client = new HttpNangoClient({ host: nango.url, endpoint: 'current', keys: staticKeyProvider(KEY), timeoutMs: 5_000 });
    index = new ConnectionIndex(state, client, { ttlMs: 60_000, emptyTtlMs: 5_000, maxConnections: 3, now: () => now });
  });
  afterAll(async () => {
    await nango.close();
    await db.close();
  });

  it('asks Nango on a miss, then answers from the index until its TTL', async () => {
    const first = await index.connectionsOf(acme, deadline());
    expect(first.fromNango).toBe(true);
    expect(first.targets.map((t) => t.providerConfigKey).sort()).toEqual(['hubspot', 'salesforce']);
    const before = lists();
    now += 59_000;
    expect(await index.connectionsOf(acme, deadline())).toMatchObject({ fromNango: false, targets: first.targets });
    expect(lists()).toBe(before);
    now += 2_000;
    expect((await index.connectionsOf(acme, deadline())).fromNango).toBe(true);
    expect(lists()).toBe(before + 1);
  });

  it('trusts an empty answer only briefly: a connection created meanwhile is found within seconds', async () => {
    expect(await index.connectionsOf(initech, deadline())).toEqual({ targets: [], fromNango: true });
    nango.addConnection({ connectionId: 'late-one', providerConfigKey: 'salesforce', tags: { organization_id: 'initech' } });
    now += 4_000;
    expect((await index.connectionsOf(initech, deadline())).targets).toEqual([]);
    now += 1_500;
    expect(await index.connectionsOf(initech, deadline())).toEqual({
      targets: [{ connectionId: 'late-one', providerConfigKey: 'salesforce' }],
      fromNango: true,
    });
  });

  it('concurrent lookups of one subject share one request', async () => {
    now += 120_000;
    const before = lists();
    const all = await Promise.all(Array.from({ length: 5 }, () => index.connectionsOf(acme, deadline())));
    expect(new Set(all.map((a) => JSON.stringify(a.targets))).size).toBe(1);
    expect(lists()).toBe(before + 1);
  });

  it('refuses a subject with more connections than the cap, naming the cap', async () => {
    await expect(index.connectionsOf(big, deadline())).rejects.toMatchObject({ code: 'too_many_connections', retryable: false });
  });

  it('does not trust a fresh index over the cap (webhooks add without one): the listing refuses the subject', async () => {
    const over = Array.from({ length: 4 }, (_, i) => ({ connectionId: `w${i}`, providerConfigKey: 'zendesk' }));
    await state.replaceIndex(big.id, over, now, now);
    const before = lists();
    await expect(index.connectionsOf(big, deadline())).rejects.toMatchObject({ code: 'too_many_connections' });
    expect(lists()).toBe(before + 1);
  });

  it('trusts the index while the last complete sweep is fresh, and reads the sweep again within a second once the read it holds is stale', async () => {
    const globex = subjectOf({ by: 'tags', tags: { organization_id: 'globex' }, integrations: 'all' });
    const target = { connectionId: 'swept-globex', providerConfigKey: 'hubspot' };
    await state.addToIndex(globex.id, target);
    // The first read shows a run older than the trust window; the next, a run just completed.
    const runs = [Date.now() - 25_000, Date.now()];
    let reads = 0;
    const trusting = new ConnectionIndex(state, client, {
      lastSweep: async () => runs[Math.min(reads++, runs.length - 1)],
      sweepFreshMs: 20_000,
      ttlMs: 0,
      emptyTtlMs: 0,
      maxConnections: 3,
    });
    const before = lists();
    // Stale: the per-subject lookup lists (TTL 0), and the answer replaces the index.
    expect((await trusting.connectionsOf(globex, deadline())).fromNango).toBe(true);
    expect(lists()).toBe(before + 1);
    // Within the second, the stale read is kept (no read per event while the sweep is stalled).
    expect((await trusting.connectionsOf(globex, deadline())).fromNango).toBe(true);
    expect(reads).toBe(1);
    await new Promise((r) => setTimeout(r, 1_100));
    // Past it, the sweep is read again: the run just completed makes the index the answer.
    const fresh = await trusting.connectionsOf(globex, deadline());
    expect(reads).toBe(2);
    expect(fresh.fromNango).toBe(false);
    expect(lists()).toBe(before + 2);
  });
});
