/**
 * A connection's `created` as Nango lists it may change format while the instant stays (another
 * Nango version or deployment writes `Z` for `+00:00`, more or fewer fraction digits): that is no
 * new connection. Over the local pipeline (dynalite, fauxqs, the Nango stand-in, the real handlers).
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startLocalPipeline, type LocalPipeline } from '../../../local/pipeline.ts';
import { planChanged, seatsChanged } from '../../support/events.ts';

const KEY = randomUUID();
const at = (s: number) => new Date(Date.now() - 120_000 + s * 1_000).toISOString();
const C = { connectionId: 'acme-erp', providerConfigKey: 'salesforce', provider: 'salesforce', tags: { organization_id: 'acme' } };

let p: LocalPipeline;

beforeAll(async () => {
  p = await startLocalPipeline({ nangoSecretKey: KEY, connections: [] });
  await p.send([planChanged('acme', 'pro', at(1)), seatsChanged('acme', 42, at(1))]);
  await p.drain({ quietMs: 200 });
}, 120_000);
afterAll(() => p?.stop());

describe('a connection whose created Nango shows in another format', () => {
  it('is not taken for one created again: the sweep neither seeds nor PATCHes it', async () => {
    p.nango!.createConnection(C);
    await p.drain({ quietMs: 300 });
    expect(p.nango!.metadataOf(C.connectionId, C.providerConfigKey)).toMatchObject({ plan: 'pro', seats: 42 });
    const before = await p.members.readMember(C);
    expect(before?.created).toMatch(/\+00:00$/);
    // The same instant as written by a Nango that says `Z` (the membership kept that format).
    const z = new Date(before!.created!).toISOString();
    expect(z).not.toBe(before!.created);
    expect(Date.parse(z)).toBe(Date.parse(before!.created!));
    await p.members.writeMember(C, { subjects: before!.subjects, seenAt: before!.seenAt, created: z });
    const patches = p.nango!.applyHistory(C.connectionId, C.providerConfigKey).length;
    const t = await p.sweep(false);
    expect(t.action).toBe('started');
    await p.drain({ quietMs: 300, timeoutMs: 60_000 });
    // Compared as text, the whole fleet was re-indexed and seeded whole (a PATCH each) once the format changed.
    expect(p.nango!.applyHistory(C.connectionId, C.providerConfigKey).length).toBe(patches);
    expect((await p.members.readRun('index'))?.lastComplete?.counts).toMatchObject({ added: 0, seeded: 0 });
  });
});
