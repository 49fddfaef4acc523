/**
 * A connection deleted and created again under the same id and tags (an import with the app's own
 * connection id, a reconnect): Nango's creation webhook for it has the very body of the first one
 * (no timestamp, no Nango id in it), and the new connection starts with no metadata. Over the local
 * pipeline (dynalite, fauxqs, the Nango stand-in, the real handlers); the sweep is the safety net, as
 * for a lost webhook.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startLocalPipeline, type LocalPipeline } from '../../../local/pipeline.ts';
import { planChanged, seatsChanged } from '../../support/events.ts';

const KEY = randomUUID();
const at = (s: number) => new Date(Date.now() - 120_000 + s * 1_000).toISOString();
const C = { connectionId: 'acme-crm', providerConfigKey: 'salesforce', provider: 'salesforce', tags: { organization_id: 'acme' } };

let p: LocalPipeline;

beforeAll(async () => {
  p = await startLocalPipeline({ nangoSecretKey: KEY, connections: [] });
  await p.send([planChanged('acme', 'pro', at(1)), seatsChanged('acme', 42, at(1))]);
  await p.drain({ quietMs: 200 });
}, 120_000);
afterAll(() => p?.stop());

describe('a connection created again under the same id', () => {
  it('is seeded again by the next sweep, though its creation webhook repeats the first one byte for byte', async () => {
    p.nango!.createConnection(C);
    await p.drain({ quietMs: 300 });
    expect(p.nango!.metadataOf(C.connectionId, C.providerConfigKey)).toMatchObject({ plan: 'pro', seats: 42 });
    // Deleted in Nango (no webhook), then created again a moment later.
    p.nango!.removeConnection(C.connectionId, C.providerConfigKey);
    p.nango!.createConnection(C);
    await p.drain({ quietMs: 300 });
    const [first, second] = p.nango!.webhookDeliveries();
    expect(second!.raw).toBe(first!.raw);
    expect(second!.delivered).toBe(true);
    // SQS may take its seed for a duplicate of the first (the same deduplication id within five
    // minutes, as Nango's retries of one delivery need): the sweep tells the two connections apart
    // by their creation. Before, it saw the same subjects and never seeded the new one.
    const t = await p.sweep(false);
    expect(t.action).toBe('started');
    await p.drain({ quietMs: 300, timeoutMs: 60_000 });
    expect(p.nango!.metadataOf(C.connectionId, C.providerConfigKey)).toMatchObject({ plan: 'pro', seats: 42 });
    expect((await p.members.readRun('index'))?.lastComplete?.counts).toMatchObject({ added: 1, seeded: 1 });
  });
});
