/**
 * A subject with more connections than MAX_CONNECTIONS_PER_SUBJECT, over the local pipeline: the
 * sweep's index add past the cap is refused, and route, trusting the young sweep's index, must not
 * then serve the subject from an index that silently lacks a live member. Either every connection
 * gets the change or the event is refused as `too_many_connections`, as a listing would refuse it.
 * Once the subject fits again, the member the full index had left out gets its customer's changes.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startLocalPipeline, type LocalPipeline } from '../../local/pipeline.ts';
import type { SeedConnection } from '../../local/standins/nango.ts';
import { planChanged } from '../support/events.ts';

const KEY = randomUUID();
const at = (s: number) => new Date(Date.now() - 120_000 + s * 1_000).toISOString();
const conn = (id: string, pck: string): SeedConnection => ({
  connectionId: id,
  providerConfigKey: pck,
  provider: pck,
  tags: { organization_id: 'acme' },
});
const ACME = [conn('acme-sf', 'salesforce'), conn('acme-hs', 'hubspot'), conn('acme-zd', 'zendesk')];

let p: LocalPipeline;

beforeAll(async () => {
  p = await startLocalPipeline({ nangoSecretKey: KEY, connections: ACME, env: { MAX_CONNECTIONS_PER_SUBJECT: '2' } });
  const t = await p.sweep(false);
  expect(t.action).toBe('started');
  await p.drain({ quietMs: 200, timeoutMs: 60_000 });
  expect((await p.members.readRun('index'))?.status).toBe('done');
}, 120_000);
afterAll(() => p?.stop());

describe('an index the sweep could not complete (over the cap)', () => {
  it('is not trusted: the event is refused as too_many_connections, not sent to some members only', async () => {
    await p.send([planChanged('acme', 'pro', at(1))]);
    await p.drain({ quietMs: 200 });
    const got = ACME.map((c) => p.nango!.metadataOf(c.connectionId, c.providerConfigKey)?.plan);
    const parked = (await p.dlq()).filter((m) => m.envelope?.error.code === 'too_many_connections');
    // Before: two of the three got "pro", the third nothing, and no error anywhere.
    if (got.includes('pro')) expect(got).toEqual(['pro', 'pro', 'pro']);
    else expect(parked).toHaveLength(1);
  });

  it('once the subject fits again, the member left out of the full index gets the next change', async () => {
    // One connection goes: the other two fit under the cap.
    const gone = (await p.state.readIndex('tags:organization_id=acme'))!.connections[0]!;
    p.nango!.removeConnection(gone.connectionId, gone.providerConfigKey);
    await p.send([planChanged('acme', 'enterprise', at(2))]);
    await p.drain({ quietMs: 200 });
    // No sweep in between: a later one would find nothing new or moved (its membership is written).
    await p.send([planChanged('acme', 'starter', at(3))]);
    await p.drain({ quietMs: 200 });
    const live = ACME.filter((c) => c.connectionId !== gone.connectionId);
    expect(live.map((c) => p.nango!.metadataOf(c.connectionId, c.providerConfigKey)?.plan)).toEqual(['starter', 'starter']);
  });
});
