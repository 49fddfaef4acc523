/**
 * Apply's deferral with a connection that belongs to two subjects. A later sync names only the
 * subject it rewrote, so a sync whose other subject was not rewritten must send now, or that
 * subject's keys would wait for a sync that never comes. The real apply processor, the state table
 * on dynalite and undici against the Nango stand-in; the sync records are built by hand so their
 * queue times are exact.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { applyRecords, type ApplyDeps } from '#commons/apply/processor';
import { orderOf } from '#commons/domain/order';
import { HttpNangoClient } from '#commons/nango/http-client';
import { SqsQueues } from '#commons/queues';
import { staticKeyProvider } from '#commons/secrets';
import type { KeyWrite } from '#commons/state/port';
import { connectionKey, syncMessage } from '#commons/sync/message';
import { metrics } from '#powertools/metrics';
import { type LocalPipeline, startLocalPipeline } from '../../../local/pipeline.ts';
import { sqsRecord } from '../../support/events.ts';
import { captureLogs } from '../../support/logs.ts';

const KEY = randomUUID();
const TAGS = 'tags:organization_id=twofold';
const ev = (id: string) => ({ id, source: 'app.test', detailType: 't', time: '2026-11-20T09:00:00.000Z' });
const write = (key: string, value: string, version: number): KeyWrite => ({
  key,
  value,
  order: orderOf(version, `e-${key}-${version}`, value),
  integrations: 'all',
  event: ev(`e-${key}-${version}`),
});

let p: LocalPipeline;
let deps: ApplyDeps;
beforeAll(async () => {
  p = await startLocalPipeline({ nangoSecretKey: KEY, connections: [] });
  deps = {
    nango: new HttpNangoClient({ host: p.nango!.url, endpoint: 'current', keys: staticKeyProvider(KEY), timeoutMs: 5_000 }),
    state: p.state,
    queues: new SqsQueues(p.sqs),
    syncQueueUrl: p.queues.syncUrl,
    syncDlqUrl: p.queues.syncDlqUrl,
    maxReceiveCount: 5,
    groupConcurrency: 4,
    maxDeferMs: 60_000,
    deadlineQueueUrl: p.queues.ingressUrl,
  };
});
afterAll(() => p?.stop());

const tick = () => new Promise((r) => setTimeout(r, 5));

async function connection() {
  const target = { connectionId: randomUUID(), providerConfigKey: 'salesforce' };
  p.nango!.addConnection({ ...target, provider: 'salesforce', tags: { organization_id: 'twofold' } });
  return { target, own: `connection:${target.connectionId}` };
}

const apply = async (target: { connectionId: string; providerConfigKey: string }, subjects: string[], queuedAt: number) => {
  const body = JSON.stringify(syncMessage(target, subjects, 'change', [], queuedAt));
  return applyRecords([sqsRecord(randomUUID(), body, { groupId: connectionKey(target) })], deps, Date.now() + 20_000);
};
const patchesTo = (id: string) =>
  p.nango!.requests.filter((r) => r.method === 'PATCH' && (r.body as { connection_id?: string }).connection_id === id);

/**
 * A connection of both subjects, each given `key` = its first value; a sync naming both is queued;
 * then each subject with a second value is rewritten. Returns the sync's queue time. `quietMs`: how
 * long before the queue time the first values were written (more than the burst window: then the
 * first values are no burst the sync waits out, only the rewrites count).
 */
async function queuedThenRewritten(o: { tags: [string, string, string?]; own: [string, string, string?]; quietMs?: number }) {
  const c = await connection();
  const subjects = [
    [TAGS, o.tags],
    [c.own, o.own],
  ] as const;
  for (const [s, [key, first]] of subjects) await p.state.writeDesired(s, [write(key, first, 1)]);
  await new Promise((r) => setTimeout(r, o.quietMs ?? 5));
  const queuedAt = Date.now();
  await tick();
  for (const [s, [key, , second]] of subjects) if (second !== undefined) await p.state.writeDesired(s, [write(key, second, 2)]);
  return { ...c, queuedAt };
}

describe('deferral across subjects', () => {
  it('one subject rewritten after the sync was queued, the other not: both sent now', async () => {
    const { target, own, queuedAt } = await queuedThenRewritten({
      tags: ['plan', 'pro', 'enterprise'],
      own: ['region', 'eu'],
      quietMs: 2_100,
    });
    const r = await apply(target, [TAGS, own], queuedAt);
    expect(r).toMatchObject({ patched: 1, deferred: 0 });
    expect(p.nango!.metadataOf(target.connectionId, 'salesforce')).toEqual({ plan: 'enterprise', region: 'eu' });
  });

  it('both subjects rewritten: the sync waits on one settle, which sends both subjects and ends their waits', async () => {
    const { target, own, queuedAt } = await queuedThenRewritten({ tags: ['seats', '1', '2'], own: ['flags', 'a', 'b'] });
    const logs = captureLogs();
    try {
      expect(await apply(target, [TAGS, own], queuedAt)).toMatchObject({ patched: 0, deferred: 1 });
      expect(patchesTo(target.connectionId)).toHaveLength(0);
      const waiting = await p.state.readApplied(target);
      expect(Object.keys(waiting.deferredSince).sort()).toEqual([own, TAGS].sort());
      // The wait rests on a settle on its way for each subject, not on the rewrites' syncs, which may never come.
      expect(Object.keys(waiting.settleDue ?? {}).sort()).toEqual([own, TAGS].sort());
      // The settle goes through the ingress queue; the pipeline's route forwards it and its apply sends.
      const until = Date.now() + 15_000;
      while (patchesTo(target.connectionId).length === 0 && Date.now() < until) await new Promise((r) => setTimeout(r, 50));
      await new Promise((r) => setTimeout(r, 300));
      metrics.publishStoredMetrics();
    } finally {
      logs.stop();
    }
    expect(patchesTo(target.connectionId)).toHaveLength(1);
    expect(p.nango!.metadataOf(target.connectionId, 'salesforce')).toMatchObject({ seats: '2', flags: 'b' });
    const waited = logs.records().find((r) => r.DeferredWait !== undefined)?.DeferredWait;
    expect(waited).toBeGreaterThan(0);
    expect(waited).toBeLessThan(15_000);
    expect((await p.state.readApplied(target)).deferredSince).toEqual({});
    // A later sync of either subject finds nothing left to send.
    expect(await apply(target, [own], Date.now())).toMatchObject({ patched: 0, noop: 1 });
    // A wait whose keys another sync sent ends with the next sync that finds nothing to send.
    await p.state.markDeferred(target, [own], Date.now());
    expect(await apply(target, [own], Date.now())).toMatchObject({ patched: 0, noop: 1 });
    expect((await p.state.readApplied(target)).deferredSince).toEqual({});
  });
});

describe("the debounce's bound", () => {
  /**
   * A burst (two events within the window before the sync was queued) whose subject has already
   * waited all but 3 s of APPLY_MAX_DEFER_SECONDS. `behindMs`: how far route reports it is behind,
   * which sizes the settle's delay (1 s when not behind, up to 10 s).
   */
  async function burstNearTheBound(behindMs: number) {
    const { target } = await connection();
    await p.state.writeDesired(TAGS, [write('plan', `p-${behindMs}`, 10 + behindMs)]);
    await p.state.writeDesired(TAGS, [write('seats', `s-${behindMs}`, 10 + behindMs)]);
    await p.state.markDeferred(target, [TAGS], Date.now() - (deps.maxDeferMs - 3_000));
    const queuedAt = Date.now();
    await tick();
    const body = JSON.stringify(syncMessage(target, [TAGS], 'change', [], queuedAt, behindMs));
    const r = await applyRecords([sqsRecord(randomUUID(), body, { groupId: connectionKey(target) })], deps, Date.now() + 20_000);
    return { r, target };
  }

  it('a settle due within what is left of the bound: the burst waits for it', async () => {
    const { r } = await burstNearTheBound(0);
    expect(r).toMatchObject({ patched: 0, deferred: 1 });
  });

  it('a settle due past what is left of the bound (route 10 s behind, 3 s left): the keys go now', async () => {
    const { r, target } = await burstNearTheBound(10_000);
    expect(r).toMatchObject({ patched: 1, deferred: 0 });
    expect(p.nango!.metadataOf(target.connectionId, 'salesforce')).toMatchObject({ plan: 'p-10000', seats: 's-10000' });
  });

  it('a rewrite whose settle would be due past what is left of the bound: the keys go now', async () => {
    const { target } = await connection();
    await p.state.writeDesired(TAGS, [write('region', 'r-1', 40)]);
    await p.state.markDeferred(target, [TAGS], Date.now() - (deps.maxDeferMs - 3_000));
    const queuedAt = Date.now();
    await tick();
    await p.state.writeDesired(TAGS, [write('region', 'r-2', 41)]);
    const body = JSON.stringify(syncMessage(target, [TAGS], 'change', [], queuedAt, 10_000));
    const r = await applyRecords([sqsRecord(randomUUID(), body, { groupId: connectionKey(target) })], deps, Date.now() + 20_000);
    expect(r).toMatchObject({ patched: 1, deferred: 0 });
    expect(p.nango!.metadataOf(target.connectionId, 'salesforce')).toMatchObject({ region: 'r-2' });
  });
});

describe('a settle and the clocks of two apply hosts', () => {
  /**
   * Host A, whose clock runs 5 s ahead, leaves a burst to a settle due 8 s later by its clock. A
   * rewrite comes after the settle's queue time; its sync rests on that settle (due later than now).
   * The settle reaches apply on a host with the right clock before its due by A's clock: it must not
   * count on itself (the due on record is its own) and must send, or wait again on a new settle.
   */
  it('a settle that arrives before the due its host recorded still ends the wait', async () => {
    const { target, own } = await connection();
    await p.state.writeDesired(own, [write('plan', 'basic', 1)]);
    await p.state.writeDesired(own, [write('seats', '1', 1)]);
    const sync = (behindMs?: number) =>
      sqsRecord(randomUUID(), JSON.stringify(syncMessage(target, [own], 'change', [], Date.now(), behindMs)), {
        groupId: connectionKey(target),
      });
    const first = sync(8_000);
    const realNow = Date.now.bind(Date);
    // Only apply's own reads of the clock run ahead: SQS (in this process) keeps the right time.
    const ahead = vi.spyOn(Date, 'now').mockImplementation(() => realNow() + (new Error().stack?.includes('/commons/apply/') ? 5_000 : 0));
    try {
      // Two events in the window, route 8 s behind: a burst, left to a settle delayed 8 s.
      expect(await applyRecords([first], deps, Date.now() + 20_000)).toMatchObject({ patched: 0, deferred: 1 });
    } finally {
      ahead.mockRestore();
    }
    // Past the settle's queue time by A's clock, the key is rewritten; its sync rests on the settle.
    await new Promise((r) => setTimeout(r, 5_200));
    await p.state.writeDesired(own, [write('seats', '2', 2)]);
    expect(await applyRecords([sync()], deps, Date.now() + 20_000)).toMatchObject({ patched: 0, deferred: 1 });

    // The pipeline's route forwards the settle and its apply (the right clock) takes it.
    const until = Date.now() + 30_000;
    while (patchesTo(target.connectionId).length === 0 && Date.now() < until) await new Promise((r) => setTimeout(r, 100));
    expect((await p.dlq()).filter((d) => d.body.includes(target.connectionId))).toEqual([]);
    expect(p.nango!.metadataOf(target.connectionId, 'salesforce')).toMatchObject({ plan: 'basic', seats: '2' });
  }, 60_000);
});
