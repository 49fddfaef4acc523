/**
 * A connection in more subjects than one sync message names (MAX_SUBJECTS_PER_SYNC): a catalog whose
 * event types address customers by 21 different tag-key sets, all covered by one connection's tags,
 * and a batch with one event of each. Route's syncs for the connection must name every subject a
 * key was written for, or apply never reads those keys. Real route and apply processors, fauxqs,
 * dynalite, the Nango stand-in.
 */
import { randomUUID } from 'node:crypto';
import { DeleteMessageCommand, ReceiveMessageCommand } from '@aws-sdk/client-sqs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as z from 'zod';
import { defineCatalog, indexCatalog } from '#events/catalog';
import { defineEvent } from '#events/define';
import { applyRecords } from '#commons/apply/processor';
import { HttpNangoClient } from '#commons/nango/http-client';
import { SqsQueues } from '#commons/queues';
import { routeRecords } from '#commons/route/processor';
import { staticKeyProvider } from '#commons/secrets';
import { DynamoStateStore } from '#commons/state/dynamodb';
import { DynamoMembershipStore } from '#commons/state/membership';
import { sweepPage } from '#commons/sweep/page';
import { MAX_SUBJECTS_PER_SYNC } from '#commons/sync/message';
import { toRecord } from '../../../local/lambda-shapes.ts';
import { type LocalDynamo, startLocalDynamo } from '../../../local/standins/dynamodb.ts';
import { type NangoStandin, startNangoStandin } from '../../../local/standins/nango.ts';
import { type LocalSqs, type PipelineQueues, startLocalSqs } from '../../../local/standins/sqs.ts';
import { sqsRecord } from '../../support/events.ts';
import { routeDeps } from '../../support/route-deps.ts';

const KEY = randomUUID();
const TAGS = ['a', 'b', 'c', 'd', 'e'] as const;
// Every non-empty subset of the five tag keys, in a fixed order: 31 tag-key sets, 21 used.
const SETS = Array.from({ length: 31 }, (_, m) => TAGS.filter((_, i) => ((m + 1) >> i) & 1)).slice(0, MAX_SUBJECTS_PER_SYNC + 1);
const types = SETS.map((tagKeys, i) =>
  defineEvent({
    source: 'app.many',
    detailType: `set.${i}`,
    description: `keys by the tag set ${tagKeys.join('+')}`,
    detail: z.object({ value: z.string() }),
    subject: { by: 'tags', tagKeys, tags: () => Object.fromEntries(tagKeys.map((k) => [k, 'x'])), integrations: 'all' },
    keys: [`k${i}`],
    patch: (d) => ({ [`k${i}`]: d.value }),
  }),
);

describe('a connection in more subjects than one sync names', () => {
  let sqs: LocalSqs;
  let db: LocalDynamo;
  let nango: NangoStandin;
  let q: PipelineQueues;
  let state: DynamoStateStore;
  const target = { connectionId: randomUUID(), providerConfigKey: 'salesforce' };

  beforeAll(async () => {
    sqs = await startLocalSqs();
    q = await sqs.createPipelineQueues();
    db = await startLocalDynamo();
    await db.createStateTable('state');
    nango = await startNangoStandin({
      secretKey: KEY,
      connections: [{ ...target, tags: Object.fromEntries(TAGS.map((k) => [k, 'x'])) }],
    });
    state = new DynamoStateStore(db.client(), 'state');
  });
  afterAll(async () => {
    await nango?.close();
    await db?.close();
    await sqs?.close();
  });

  const nangoClient = () => new HttpNangoClient({ host: nango.url, endpoint: 'current', keys: staticKeyProvider(KEY), timeoutMs: 5_000 });
  const every = Object.fromEntries(types.map((_, i) => [`k${i}`, `v${i}`]));

  /** Apply takes the syncs on the sync queue as SQS hands them out, until none is left. */
  async function applyAll() {
    const client = sqs.client();
    const apply = {
      nango: nangoClient(),
      state,
      queues: new SqsQueues(client),
      syncQueueUrl: q.syncUrl,
      syncDlqUrl: q.syncDlqUrl,
      maxReceiveCount: 5,
      groupConcurrency: 4,
      maxDeferMs: 0,
    };
    for (let empty = 0; empty < 2; ) {
      const got = await client.send(
        new ReceiveMessageCommand({
          QueueUrl: q.syncUrl,
          MaxNumberOfMessages: 10,
          WaitTimeSeconds: 0,
          MessageSystemAttributeNames: ['All'],
        }),
      );
      const messages = got.Messages ?? [];
      if (messages.length === 0) {
        empty++;
        continue;
      }
      const r = await applyRecords(
        messages.map((m) => toRecord(m, 'arn:aws:sqs:us-east-1:000000000000:sync.fifo', 'us-east-1')),
        apply,
        Date.now() + 20_000,
      );
      expect(r).toMatchObject({ failedRecordIds: [], dlq: 0 });
      for (const m of messages) await client.send(new DeleteMessageCommand({ QueueUrl: q.syncUrl, ReceiptHandle: m.ReceiptHandle }));
    }
  }

  it(`one event for each of ${SETS.length} subjects in one batch: every key reaches the connection`, async () => {
    const deps = {
      ...routeDeps({ state, nangoUrl: nango.url, secretKey: KEY, sqs, queues: q, maxReceiveCount: 5 }),
      catalog: indexCatalog(defineCatalog(types)),
    };
    const records = types.map((t, i) =>
      sqsRecord(`m-${i}`, JSON.stringify({ source: t.source, 'detail-type': t.detailType, detail: { value: `v${i}` } })),
    );
    const routed = await routeRecords(records, deps, Date.now() + 20_000);
    expect(routed).toMatchObject({ failedRecordIds: [], invalid: 0 });

    await applyAll();
    expect(nango.metadataOf(target.connectionId, 'salesforce')).toEqual(every);
  });

  it('the sweep seeds a new connection in all those subjects: every key reaches it', async () => {
    const added = { connectionId: randomUUID(), providerConfigKey: 'salesforce' };
    nango.addConnection({ ...added, provider: 'salesforce', tags: Object.fromEntries(TAGS.map((k) => [k, 'x'])) });
    const listed = await nangoClient().listConnections(
      { connectionId: added.connectionId },
      { limit: 10, page: 0 },
      { deadline: Date.now() + 5_000 },
    );
    const page = await sweepPage(
      {
        state,
        members: new DynamoMembershipStore(db.client(), 'state'),
        queues: new SqsQueues(sqs.client()),
        syncQueueUrl: q.syncUrl,
        tagKeySets: SETS,
        byConnectionId: false,
      },
      listed,
      { repair: false, runId: randomUUID(), listedAt: Date.now() },
    );
    expect(page.counts).toMatchObject({ added: 1, seeded: 1, syncsFailed: 0 });
    await applyAll();
    expect(nango.metadataOf(added.connectionId, 'salesforce')).toEqual(every);
  });
});
