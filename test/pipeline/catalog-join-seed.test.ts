/**
 * A catalog change that only adds subjects seeds a moved connection without a lookup. Its listing
 * may be stale by the time apply takes the seed: here the connection is re-tagged to another
 * customer right after the page listed it. Apply must not send the former customer's keys beyond
 * the re-tag window: a seed it takes before the page wrote the new membership names a subject the
 * membership lacks, so apply lists the connection itself; one it takes after is trusted like any
 * sync (the window), and the next page moves the connection and clears the former customer's keys.
 * The real sweep page and apply processor over dynalite, fauxqs and the Nango stand-in.
 */
import { randomUUID } from 'node:crypto';
import { DeleteMessageCommand, ReceiveMessageCommand } from '@aws-sdk/client-sqs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { subjectRules } from '#events/catalog';
import { applyRecords, type ApplyDeps } from '#commons/apply/processor';
import { MEMBERSHIP_WAIT_MS } from '#commons/apply/tenancy';
import { orderOf } from '#commons/domain/order';
import { HttpNangoClient } from '#commons/nango/http-client';
import type { OutgoingMessage } from '#commons/queues';
import { SqsQueues } from '#commons/queues';
import { staticKeyProvider } from '#commons/secrets';
import { DynamoStateStore } from '#commons/state/dynamodb';
import { DynamoMembershipStore } from '#commons/state/membership';
import { type PageDeps, sweepPage } from '#commons/sweep/page';
import { startLocalDynamo, type LocalDynamo } from '../../local/standins/dynamodb.ts';
import { startNangoStandin, type NangoStandin } from '../../local/standins/nango.ts';
import { startLocalSqs, type LocalSqs, type PipelineQueues } from '../../local/standins/sqs.ts';
import { sqsRecord } from '../support/events.ts';

const KEY = randomUUID();
const TABLE = 'catalogjoin';
const EARLY = { connectionId: 'early-conn', providerConfigKey: 'hubspot' };
const LATE = { connectionId: 'late-conn', providerConfigKey: 'hubspot' };
/** Not re-tagged: the catalog change alone. */
const QUIET = { connectionId: 'quiet-conn', providerConfigKey: 'hubspot' };

let db: LocalDynamo;
let sqs: LocalSqs;
let queues: PipelineQueues;
let nango: NangoStandin;
let state: DynamoStateStore;
let members: DynamoMembershipStore;
let client: HttpNangoClient;

const applyDeps = (byConnectionId: boolean): ApplyDeps => ({
  nango: client,
  state,
  queues: new SqsQueues(sqs.client()),
  syncQueueUrl: queues.syncUrl,
  syncDlqUrl: queues.syncDlqUrl,
  maxReceiveCount: 5,
  groupConcurrency: 4,
  maxDeferMs: 0,
  retry: { baseMs: 1, capMs: 5 },
  tenancy: { nango: client, state, members, tagKeySets: subjectRules().tagKeySets, byConnectionId },
});

/** Takes every sync off the queue and applies it, as apply's event source would. */
async function applyQueued(byConnectionId: boolean): Promise<{ lookup?: boolean; target: { connectionId: string } }[]> {
  const taken: { lookup?: boolean; target: { connectionId: string } }[] = [];
  for (;;) {
    const r = await sqs.client().send(new ReceiveMessageCommand({ QueueUrl: queues.syncUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 0 }));
    if (!r.Messages?.length) return taken;
    for (const m of r.Messages) {
      const body = JSON.parse(m.Body!);
      taken.push(body);
      const groupId = m.Attributes?.MessageGroupId ?? `${body.target.providerConfigKey}\n${body.target.connectionId}`;
      const out = await applyRecords([sqsRecord(m.MessageId!, m.Body!, { groupId })], applyDeps(byConnectionId), Date.now() + 20_000);
      expect(out.failedRecordIds).toEqual([]);
      await sqs.client().send(new DeleteMessageCommand({ QueueUrl: queues.syncUrl, ReceiptHandle: m.ReceiptHandle! }));
    }
  }
}

function pageDeps(byConnectionId: boolean, onSent?: () => Promise<void>): PageDeps {
  const q = new SqsQueues(sqs.client());
  return {
    state,
    members,
    queues: {
      sendBatch: async (url: string, messages: OutgoingMessage[]) => {
        const failed = await q.sendBatch(url, messages);
        // Apply takes the seeds now: before the page writes the membership it has just listed.
        await onSent?.();
        return failed;
      },
    },
    syncQueueUrl: queues.syncUrl,
    tagKeySets: subjectRules().tagKeySets,
    byConnectionId,
  };
}

const listAll = () => client.listConnections({}, { limit: 100, page: 0 }, { deadline: Date.now() + 10_000 });

async function desire(org: string, key: string, value: string) {
  const id = `e-${org}-${key}`;
  await state.writeDesired(`tags:organization_id=${org}`, [
    {
      key,
      value,
      order: orderOf(1, id, value),
      integrations: 'all',
      event: { id, source: 'app.test', detailType: 't', time: '2026-11-20T09:00:00.000Z' },
    },
  ]);
}

beforeAll(async () => {
  db = await startLocalDynamo();
  await db.createStateTable(TABLE);
  sqs = await startLocalSqs();
  queues = await sqs.createPipelineQueues({ prefix: 'catalogjoin-' });
  nango = await startNangoStandin({
    secretKey: KEY,
    connections: [EARLY, LATE, QUIET].map((c) => ({ ...c, provider: 'hubspot', tags: { organization_id: 'formerco' } })),
  });
  const dynamo = db.client();
  state = new DynamoStateStore(dynamo, TABLE);
  members = new DynamoMembershipStore(dynamo, TABLE);
  client = new HttpNangoClient({ host: nango.url, endpoint: 'current', keys: staticKeyProvider(KEY), timeoutMs: 10_000 });
  await desire('formerco', 'secret', 'formerco-only');
  await desire('newco', 'plan', 'newco-plan');
  // The catalog before: no connection-id event type. Both connections are formerco's, and hold its key.
  await sweepPage(pageDeps(false), await listAll(), { repair: false, runId: 'before', listedAt: Date.now() });
  await applyQueued(false);
  for (const c of [EARLY, LATE, QUIET])
    expect(nango.metadataOf(c.connectionId, c.providerConfigKey)).toMatchObject({ secret: 'formerco-only' });
}, 60_000);
afterAll(async () => {
  await nango?.close();
  await sqs?.close();
  await db?.close();
});

describe('a catalog join seeded without a lookup, the connection re-tagged after the page listed it', () => {
  it('a seed apply takes before the page wrote the membership is looked up: the new customer, not the former', async () => {
    const listed = (await listAll()).filter((c) => c.connectionId === EARLY.connectionId);
    const listedAt = Date.now();
    nango.retag(EARLY.connectionId, EARLY.providerConfigKey, { organization_id: 'newco' });
    let seeds: { lookup?: boolean }[] = [];
    const lists = nango.requests.length;
    await sweepPage(
      pageDeps(true, async () => {
        seeds = await applyQueued(true);
      }),
      listed,
      { repair: false, runId: 'catalog-early', listedAt },
    );
    expect(seeds).toHaveLength(1);
    expect(seeds[0]?.lookup).toBeUndefined();
    // Apply listed the connection by id: the seed named a subject the membership lacked.
    expect(
      nango.requests.slice(lists).filter((r) => r.path === '/connections' && r.query.connectionId === EARLY.connectionId),
    ).toHaveLength(1);
    expect(nango.metadataOf(EARLY.connectionId, EARLY.providerConfigKey)).toEqual({ plan: 'newco-plan', secret: null });
    // The page's older listing does not replace what apply saw.
    expect((await members.readMember(EARLY))?.subjects).toContain('tags:organization_id=newco');
  });

  it('a seed apply takes just before its page writes the membership waits for it: no list call', async () => {
    const listed = (await listAll()).filter((c) => c.connectionId === QUIET.connectionId);
    const lists = nango.requests.length;
    let applying: Promise<{ lookup?: boolean }[]> | undefined;
    const started = Date.now();
    await sweepPage(
      pageDeps(true, async () => {
        // Apply takes the seed as soon as it is queued and reads the membership before the page,
        // held here a moment, writes the new one.
        applying = applyQueued(true);
        await new Promise((r) => setTimeout(r, 300));
      }),
      listed,
      { repair: false, runId: 'catalog-quiet', listedAt: Date.now() },
    );
    const seeds = await applying!;
    expect(seeds).toHaveLength(1);
    expect(seeds[0]?.lookup).toBeUndefined();
    expect(nango.requests.slice(lists).filter((r) => r.path === '/connections' && r.query.connectionId === QUIET.connectionId)).toEqual([]);
    // It waited for the membership (once), then sent its own subject's state beside what it held.
    expect(Date.now() - started).toBeGreaterThanOrEqual(MEMBERSHIP_WAIT_MS);
    expect((await members.readMember(QUIET))?.subjects).toContain(`connection:${QUIET.connectionId}`);
    expect(nango.metadataOf(QUIET.connectionId, QUIET.providerConfigKey)).toEqual({ secret: 'formerco-only' });
  });

  it('a seed whose wait would pass the deadline is handed back, not parked, and sent on its next receive', async () => {
    const NEAR = { connectionId: 'near-conn', providerConfigKey: 'hubspot' };
    nango.addConnection({ ...NEAR, provider: 'hubspot', tags: { organization_id: 'formerco' } });
    const near = async () => (await listAll()).filter((c) => c.connectionId === NEAR.connectionId);
    await sweepPage(pageDeps(false), await near(), { repair: false, runId: 'near-before', listedAt: Date.now() });
    await applyQueued(false);
    await state.writeDesired(`connection:${NEAR.connectionId}`, [
      {
        key: 'region',
        value: 'eu',
        order: orderOf(1, 'e-near', 'eu'),
        integrations: 'all',
        event: { id: 'e-near', source: 'app.test', detailType: 't', time: '2026-11-20T09:00:00.000Z' },
      },
    ]);
    const listed = await near();
    const requests = nango.requests.length;
    let first: { failedRecordIds: string[]; dlq: number } | undefined;
    await sweepPage(
      pageDeps(true, async () => {
        const r = await sqs.client().send(new ReceiveMessageCommand({ QueueUrl: queues.syncUrl, MaxNumberOfMessages: 10 }));
        expect(r.Messages).toHaveLength(1);
        const m = r.Messages![0]!;
        // Too little time left to wait for the membership the page is about to write.
        first = await applyRecords(
          [
            {
              ...sqsRecord(m.MessageId!, m.Body!, { groupId: m.Attributes?.MessageGroupId ?? 'g', receiveCount: 1 }),
              receiptHandle: m.ReceiptHandle!,
            },
          ],
          applyDeps(true),
          Date.now() + MEMBERSHIP_WAIT_MS,
        );
      }),
      listed,
      { repair: false, runId: 'catalog-near', listedAt: Date.now() },
    );
    expect(first).toMatchObject({ failedRecordIds: [expect.any(String)], dlq: 0 });
    const handedBack = Date.now();
    expect(nango.requests.slice(requests)).toEqual([]);
    // Its next receive (after the hand-back's visibility) finds the membership the page wrote.
    for (let i = 0; i < 50; i++) {
      const r = await sqs
        .client()
        .send(new ReceiveMessageCommand({ QueueUrl: queues.syncUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 1 }));
      const m = r.Messages?.[0];
      if (!m) continue;
      const out = await applyRecords(
        [sqsRecord(m.MessageId!, m.Body!, { groupId: m.Attributes?.MessageGroupId ?? 'g', receiveCount: 2 })],
        applyDeps(true),
        Date.now() + 20_000,
      );
      expect(out).toMatchObject({ failedRecordIds: [], dlq: 0, patched: 1 });
      // Visible again after the wait it asked for (2 s), not the queue's default (30 s).
      expect(Date.now() - handedBack).toBeLessThan(15_000);
      await sqs.client().send(new DeleteMessageCommand({ QueueUrl: queues.syncUrl, ReceiptHandle: m.ReceiptHandle! }));
      break;
    }
    expect(nango.requests.slice(requests).filter((r) => r.path === '/connections')).toEqual([]);
    expect(nango.metadataOf(NEAR.connectionId, NEAR.providerConfigKey)).toEqual({ secret: 'formerco-only', region: 'eu' });
  });

  it("a seed apply takes after is trusted as any sync is, and the next page clears the former customer's key", async () => {
    const listed = (await listAll()).filter((c) => c.connectionId === LATE.connectionId);
    const listedAt = Date.now();
    nango.retag(LATE.connectionId, LATE.providerConfigKey, { organization_id: 'newco' });
    await sweepPage(pageDeps(true), listed, { repair: false, runId: 'catalog-late', listedAt });
    await applyQueued(true);
    // The next page lists it re-tagged: a move that left a subject, looked up, the former key cleared.
    await sweepPage(pageDeps(true), await listAll(), { repair: false, runId: 'next', listedAt: Date.now() });
    const next = await applyQueued(true);
    expect(next.find((m) => m.target.connectionId === LATE.connectionId)?.lookup).toBe(true);
    expect(nango.metadataOf(LATE.connectionId, LATE.providerConfigKey)).toEqual({ plan: 'newco-plan', secret: null });
  });
});
