/**
 * Nango lists connections newest first and says nothing about order beyond that; our client must
 * not care. The same connections, listed newest first (as Nango does) or oldest first, paged in
 * twos, give the same answers: every connection once, and the same index targets.
 */
import { randomUUID } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { subjectOf } from '#commons/domain/subject';
import { HttpNangoClient } from '#commons/nango/http-client';
import { listAllConnections } from '#commons/nango/list';
import { ConnectionIndex } from '#commons/route/connections';
import { staticKeyProvider } from '#commons/secrets';
import { DynamoStateStore } from '#commons/state/dynamodb';
import { startLocalDynamo, type LocalDynamo } from '../../../local/standins/dynamodb.ts';
import { startNangoStandin, type NangoStandin } from '../../../local/standins/nango.ts';

const KEY = randomUUID();
const CONNECTIONS = [
  ...Array.from({ length: 5 }, (_, i) => ({
    connectionId: `acme-${i}`,
    providerConfigKey: i % 2 ? 'hubspot' : 'salesforce',
    tags: { organization_id: 'acme' },
  })),
  { connectionId: 'globex-0', providerConfigKey: 'hubspot', tags: { organization_id: 'globex' } },
];
const acme = subjectOf({ by: 'tags', tags: { organization_id: 'acme' }, integrations: 'all' });
const sorted = (cs: Array<{ providerConfigKey: string; connectionId: string }>) =>
  cs.map((c) => `${c.providerConfigKey}/${c.connectionId}`).sort();

let nango: NangoStandin | undefined;
let db: LocalDynamo | undefined;
afterEach(async () => {
  await nango?.close();
  await db?.close();
  nango = db = undefined;
});

async function answers(listOrder: 'newest-first' | 'oldest-first') {
  nango = await startNangoStandin({ secretKey: KEY, connections: CONNECTIONS, listOrder });
  const client = new HttpNangoClient({ host: nango.url, endpoint: 'current', keys: staticKeyProvider(KEY), timeoutMs: 5_000 });
  const listedOrder = (await client.listConnections({}, { limit: 10, page: 0 }, { deadline: Date.now() + 10_000 })).map(
    (c) => c.connectionId,
  );
  const all = await listAllConnections(
    client,
    { tags: { organization_id: 'acme' } },
    { pageSize: 2, max: 10, deadline: Date.now() + 10_000 },
  );
  db = await startLocalDynamo();
  await db.createStateTable('state');
  const index = new ConnectionIndex(new DynamoStateStore(db.client(), 'state'), client, {
    ttlMs: 60_000,
    emptyTtlMs: 5_000,
    maxConnections: 10,
    now: () => 1,
  });
  const { targets } = await index.connectionsOf(acme, Date.now() + 10_000);
  return { listedOrder, all: sorted(all), allCount: all.length, targets: sorted(targets) };
}

describe('list order', () => {
  it('newest first or oldest first, paged: the same connections, each once, and the same targets', async () => {
    const newest = await answers('newest-first');
    await nango?.close();
    await db?.close();
    nango = db = undefined;
    const oldest = await answers('oldest-first');
    // The stand-in really did list in both orders.
    expect(newest.listedOrder).toEqual([...oldest.listedOrder].reverse());
    expect(newest.all).toEqual(sorted(CONNECTIONS.filter((c) => c.tags.organization_id === 'acme')));
    expect(newest.allCount).toBe(5);
    expect(oldest.all).toEqual(newest.all);
    expect(oldest.allCount).toBe(5);
    expect(newest.targets).toEqual(newest.all);
    expect(oldest.targets).toEqual(newest.targets);
  });
});
