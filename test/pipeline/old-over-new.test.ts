/**
 * Each way old data could overwrite new in version 1, replayed against version 2's real handlers:
 * a parked event without `time` replayed after a newer one, two changes in one second, one event id
 * with two bodies, a far-future time, and a retried record whose own earlier attempt already wrote
 * its keys. Each ends with the newest value at Nango and in the state table.
 */
import { randomUUID } from 'node:crypto';
import { SQSClient } from '@aws-sdk/client-sqs';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { catalog, indexCatalog } from '#events/catalog';
import { groupOrderOf, orderOf } from '#commons/domain/order';
import { HttpNangoClient } from '#commons/nango/http-client';
import { SqsQueues } from '#commons/queues';
import { ConnectionIndex } from '#commons/route/connections';
import { routeRecords, type RouteDeps } from '#commons/route/processor';
import { staticKeyProvider } from '#commons/secrets';
import { startLocalPipeline, type LocalPipeline } from '../../local/pipeline.ts';
import type { SeedConnection } from '../../local/standins/nango.ts';
import { planChanged, sqsRecord, statusChanged } from '../support/events.ts';
import { captureLogs, type Logs } from '../support/logs.ts';
import { startAwsFaultProxy } from '../support/aws-fault-proxy.ts';

const KEY = randomUUID();
const ORGS = ['oldco', 'samesec', 'dup-a', 'dup-b', 'future', 'crashco', 'aheadco'];
const conn = (o: string, i: number): SeedConnection => ({
  connectionId: `0d5e6f70-1a2b-4c3d-8e4f-${String(i).padStart(12, '0')}`,
  providerConfigKey: 'salesforce',
  provider: 'salesforce',
  tags: { organization_id: o },
});
const CONNECTIONS = ORGS.map(conn);
const metaOf = (o: string) => p.metadataOf(CONNECTIONS[ORGS.indexOf(o)]!.connectionId, 'salesforce');
const desiredOf = async (o: string, key: string) =>
  (await p.state.readDesired(`tags:organization_id=${o}`)).find((k) => k.key === key)?.value;

let p: LocalPipeline;
/** Every handler sends what it causes before its message is deleted: a short quiet period is enough. */
const drain = () => p.drain({ quietMs: 100 });
let logs: Logs;
beforeAll(async () => {
  logs = captureLogs([KEY]);
  // One receive: a transiently failing event is parked on its first (its last allowed) receive.
  p = await startLocalPipeline({ nangoSecretKey: KEY, connections: CONNECTIONS, maxReceiveCount: 1 });
});
beforeEach(() => p.nango!.setFault(undefined));
afterAll(async () => {
  await p?.stop();
  logs?.stop();
});

describe('old data never overwrites new', () => {
  it('(a) an event sent without time, parked, then replayed after a newer one: the newer value stays', async () => {
    p.nango!.setFault((r) => (r.method === 'GET' && r.path === '/connections' ? { kind: 'status', status: 503 } : undefined));
    const [sent] = await p.send([
      {
        source: 'app.accounts',
        'detail-type': 'customer.status_changed',
        detail: { organizationId: 'oldco', status: 'suspended', changedAt: new Date().toISOString() },
      },
    ]);
    await drain();
    p.nango!.setFault(undefined);
    const [parked] = (await p.dlq()).filter((d) => d.envelope?.originals[0]?.messageId === sent!.messageId);
    expect(parked?.envelope).toMatchObject({ stage: 'route', error: { status: 503, retryable: true } });
    expect(parked!.envelope!.attempts).toBeGreaterThanOrEqual(1);
    const body = JSON.parse(parked!.envelope!.originals[0]!.body) as { id: string; time: string };
    expect(body).toMatchObject({ id: sent!.messageId, detail: { status: 'suspended' } });
    expect(Date.parse(body.time)).toBeLessThan(Date.now());

    await p.send([statusChanged('oldco', 'active', { id: 'oldco-newer', time: new Date().toISOString() })]);
    await drain();
    expect(await metaOf('oldco')).toMatchObject({ status: 'active', active: true });

    // The replay sends the parked body back as it is: its resolved time is older, so it is stale.
    const before = p.nango!.stats().patches;
    await p.send([parked!.envelope!.originals[0]!.body]);
    await drain();
    expect(await metaOf('oldco')).toMatchObject({ status: 'active', active: true });
    expect(await desiredOf('oldco', 'status')).toBe('active');
    expect(p.nango!.stats().patches).toBe(before);
    expect((await p.dlq()).filter((d) => d.body.includes(sent!.messageId))).toHaveLength(1);
  });

  it('(b) two changes in the same second arriving in reverse order: the later changedAt wins', async () => {
    const time = '2026-11-20T09:00:00Z';
    await p.send([planChanged('samesec', 'enterprise', '2026-11-20T09:00:00.900Z', { id: 'ss-later', time })]);
    await drain();
    await p.send([planChanged('samesec', 'free', '2026-11-20T09:00:00.400Z', { id: 'ss-earlier', time })]);
    await drain();
    expect(await metaOf('samesec')).toEqual({ plan: 'enterprise', planChangedAt: '2026-11-20T09:00:00.900Z' });
    expect(await desiredOf('samesec', 'plan')).toBe('enterprise');
  });

  it('(c) one event id with two bodies: the same winner whatever the arrival order', async () => {
    const changedAt = '2026-11-20T10:00:00.000Z';
    const body = (o: string, plan: string) => planChanged(o, plan, changedAt, { id: 'dup-id' });
    await p.send([body('dup-a', 'pro')]);
    await drain();
    await p.send([body('dup-a', 'enterprise')]);
    await drain();
    await p.send([body('dup-b', 'enterprise')]);
    await drain();
    await p.send([body('dup-b', 'pro')]);
    await drain();
    const version = Date.parse(changedAt);
    // plan_changed writes plan and planChangedAt as one key group: the group's order breaks the tie.
    const group = (plan: string) =>
      groupOrderOf(
        Object.entries({ plan, planChangedAt: changedAt }).map(([key, value]) => ({
          key,
          value,
          order: orderOf(version, 'dup-id', value),
        })),
      );
    const winner = group('pro') > group('enterprise') ? 'pro' : 'enterprise';
    expect((await metaOf('dup-a'))?.plan).toBe(winner);
    expect((await metaOf('dup-b'))?.plan).toBe(winner);
    expect(await desiredOf('dup-a', 'plan')).toBe(winner);
    expect(await desiredOf('dup-b', 'plan')).toBe(winner);
  });

  it('(d) a far-future time is refused (event_time_in_future) and does not lock the key', async () => {
    const soon = new Date(Date.now() + 60_000).toISOString();
    await p.send([
      statusChanged('future', 'churned', { id: 'future-time', time: '2099-01-01T00:00:00Z' }),
      planChanged('future', 'free', '2099-01-01T00:00:00.000Z', { id: 'future-version', time: new Date().toISOString() }),
    ]);
    await drain();
    const parked = (await p.dlq()).filter((d) => d.envelope?.events[0]?.id.startsWith('future-'));
    expect(parked.map((d) => [d.envelope!.events[0]!.id, d.envelope!.error.code]).sort()).toEqual([
      ['future-time', 'event_time_in_future'],
      ['future-version', 'event_time_in_future'],
    ]);
    expect(await p.state.readDesired('tags:organization_id=future')).toEqual([]);
    // Within the allowed skew is fine, and the present still writes.
    await p.send([statusChanged('future', 'active', { time: soon }), planChanged('future', 'pro', new Date().toISOString())]);
    await drain();
    expect(await metaOf('future')).toMatchObject({ status: 'active', plan: 'pro' });
  });

  it('(e) a retried record whose keys its earlier attempt already wrote still sends its syncs', async () => {
    let failNext = true;
    const proxy = await startAwsFaultProxy(p.env.AWS_ENDPOINT_URL_SQS!, (c) => {
      if (c.action !== 'SendMessageBatch' || c.body.QueueUrl !== p.queues.syncUrl || !failNext) return undefined;
      failNext = false;
      return { status: 500, type: 'InternalError', message: 'injected: the sync queue is unavailable' };
    });
    const sqs = new SQSClient({ endpoint: proxy.endpoint, maxAttempts: 1 });
    try {
      const state = p.state;
      const deps: RouteDeps = {
        catalog: indexCatalog(catalog),
        state,
        index: new ConnectionIndex(
          state,
          new HttpNangoClient({ host: p.nangoUrl, endpoint: 'current', keys: staticKeyProvider(KEY), timeoutMs: 5_000 }),
          { ttlMs: 300_000, emptyTtlMs: 5_000, maxConnections: 100 },
        ),
        queues: new SqsQueues(sqs),
        syncQueueUrl: p.queues.syncUrl,
        ingressDlqUrl: p.queues.ingressDlqUrl,
        maxReceiveCount: 5,
        limits: { maxIntegrationsPerEvent: 25, maxFutureSkewMs: 300_000 },
      };
      const body = JSON.stringify(statusChanged('crashco', 'suspended', { id: 'crash-1', time: new Date().toISOString() }));
      const first = await routeRecords([sqsRecord('m-crash', body)], deps, Date.now() + 10_000);
      expect(first.failedRecordIds).toEqual(['m-crash']);
      // The keys are stored; the sync never left.
      expect(await desiredOf('crashco', 'status')).toBe('suspended');
      await drain();
      expect(await metaOf('crashco')).toBeNull();

      const second = await routeRecords([sqsRecord('m-crash', body, { receiveCount: 2 })], deps, Date.now() + 10_000);
      expect(second).toMatchObject({ failedRecordIds: [], synced: 1, stale: 0 });
      await drain();
      expect(await metaOf('crashco')).toMatchObject({ status: 'suspended', active: false });
      expect(proxy.calls.filter((c) => c.action === 'SendMessageBatch')).toHaveLength(2);
    } finally {
      sqs.destroy();
      await proxy.close();
    }
  });

  it('(f) an event dated ahead, parked after its write, then replayed after a genuine later change: the later change stays', async () => {
    // The producer's clock runs a minute ahead: the event's version is lowered to when it reached us.
    p.nango!.setFault((r) => (r.method === 'GET' && r.path === '/connections' ? { kind: 'status', status: 503 } : undefined));
    const [ahead] = await p.send([planChanged('aheadco', 'enterprise', new Date(Date.now() + 60_000).toISOString(), { id: 'ahead-1' })]);
    await drain();
    p.nango!.setFault(undefined);
    const [parked] = (await p.dlq()).filter((d) => d.envelope?.originals[0]?.messageId === ahead!.messageId);
    expect(parked?.envelope).toMatchObject({ stage: 'route', error: { status: 503 } });

    // A change made after the parked event reached us, from a producer with the right clock.
    await p.send([planChanged('aheadco', 'pro', new Date().toISOString(), { id: 'ahead-2' })]);
    await drain();
    expect(await metaOf('aheadco')).toMatchObject({ plan: 'pro' });

    // The replay is the same event: it reached us first, so it still loses to the later change.
    await p.send([parked!.envelope!.originals[0]!.body]);
    await drain();
    expect(await desiredOf('aheadco', 'plan')).toBe('pro');
    expect(await metaOf('aheadco')).toMatchObject({ plan: 'pro' });
  });

  it('printed no key', () => {
    expect(logs.capture.lines()).toBeGreaterThan(0);
    expect(logs.capture.leaks()).toBe(0);
  });
});
