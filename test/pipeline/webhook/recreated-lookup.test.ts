/**
 * A connection deleted and created again under the same id, with a tag the first one lacked, whose
 * creation webhook never arrived (lost, or an import that sends none). No sweep has seen it yet, so
 * route's own listing of its new customer finds it, and apply looks it up (the sync names a subject
 * its membership lacks). That lookup is the first to see the new creation: it records it, and so the
 * next sweep finds nothing new to seed. The new connection starts with no metadata, so it must get
 * every key in scope then, not only those newer than what the connection before it was sent.
 * Over the local pipeline (dynalite, fauxqs, the Nango stand-in, the real handlers).
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startLocalPipeline, type LocalPipeline } from '../../../local/pipeline.ts';
import { planChanged, settingsChanged } from '../../support/events.ts';

const KEY = randomUUID();
const at = (s: number) => new Date(Date.now() - 120_000 + s * 1_000).toISOString();
const C = { connectionId: 'cust-7', providerConfigKey: 'salesforce', provider: 'salesforce' };

let p: LocalPipeline;

beforeAll(async () => {
  p = await startLocalPipeline({ nangoSecretKey: KEY, connections: [], env: { INDEX_EMPTY_TTL_SECONDS: '0' } });
  // The first connection: no organization tag, addressed by its id (the settings event).
  p.nango!.createConnection({ ...C, tags: {} });
  await p.drain({ quietMs: 300 });
  await p.send([settingsChanged(C.connectionId, { region: 'eu', sequence: 1 }, { time: at(1) })]);
  await p.drain({ quietMs: 300 });
  expect(p.nango!.metadataOf(C.connectionId, C.providerConfigKey)).toMatchObject({ region: 'eu' });
}, 120_000);
afterAll(() => p?.stop());

describe('a connection created again under the same id, first seen by a lookup', () => {
  it('gets every key in scope, the ones its predecessor was sent included', async () => {
    p.nango!.removeConnection(C.connectionId, C.providerConfigKey);
    await new Promise((r) => setTimeout(r, 5));
    // Created again without a webhook reaching us, now tagged as beta's.
    p.nango!.addConnection({ ...C, tags: { organization_id: 'beta' } });
    expect(p.nango!.metadataOf(C.connectionId, C.providerConfigKey) ?? {}).toEqual({});
    await p.send([planChanged('beta', 'enterprise', at(2))]);
    await p.drain({ quietMs: 300 });
    // Apply listed the connection by id and saw another creation than its membership's.
    expect((await p.members.readMember(C))?.subjects).toContain('tags:organization_id=beta');
    // Before: only `plan`; `region`, recorded as sent to the connection before, never came, and
    // no sweep would seed it (the membership already holds the new creation).
    expect(p.nango!.metadataOf(C.connectionId, C.providerConfigKey)).toMatchObject({ plan: 'enterprise', region: 'eu' });
  });
});
