/**
 * SQS refuses U+FFFE and U+FFFF in a message body (they are outside XML's character set), and
 * JSON.stringify writes them raw. An event sent straight to the ingress queue may carry them as
 * JSON escapes in its id or detail-type: the sync message that names the event, and the DLQ envelope
 * that parks it, must still be accepted, and read back as the same strings.
 * Real route processor, real SQS client against fauxqs (which checks the characters as SQS does),
 * dynalite, the Nango stand-in.
 */
import { randomUUID } from 'node:crypto';
import { ReceiveMessageCommand, SendMessageCommand } from '@aws-sdk/client-sqs';
import type { SQSRecord } from 'aws-lambda';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseEnvelope } from '#commons/dlq-envelope';
import { type RouteDeps, routeRecords } from '#commons/route/processor';
import { DynamoStateStore } from '#commons/state/dynamodb';
import { parseSync } from '#commons/sync/message';
import { toRecord } from '../../../local/lambda-shapes.ts';
import { type LocalDynamo, startLocalDynamo } from '../../../local/standins/dynamodb.ts';
import { type NangoStandin, startNangoStandin } from '../../../local/standins/nango.ts';
import { type LocalSqs, type PipelineQueues, startLocalSqs } from '../../../local/standins/sqs.ts';
import { routeDeps } from '../../support/route-deps.ts';
import { sqsSafeJson } from '#commons/json';

const KEY = randomUUID();
/** The body as a producer writes it: JSON whose strings escape the two characters (ASCII on the wire). */
const body = (id: string, detailType: string) =>
  sqsSafeJson(
    JSON.stringify({
      id,
      source: 'app.billing',
      'detail-type': detailType,
      time: '2026-11-20T09:00:00Z',
      detail: { organizationId: 'acme', plan: 'pro', changedAt: '2026-11-20T09:00:00.000Z' },
    }),
  );

describe('route with U+FFFE and U+FFFF in an event', () => {
  let sqs: LocalSqs;
  let db: LocalDynamo;
  let nango: NangoStandin;
  let q: PipelineQueues;
  let deps: RouteDeps;

  beforeAll(async () => {
    sqs = await startLocalSqs();
    q = await sqs.createPipelineQueues({ maxReceiveCount: 3 });
    db = await startLocalDynamo();
    await db.createStateTable('state');
    nango = await startNangoStandin({
      secretKey: KEY,
      connections: [{ connectionId: 'a "quoted" id', providerConfigKey: 'salesforce', tags: { organization_id: 'acme' } }],
    });
    deps = routeDeps({
      state: new DynamoStateStore(db.client(), 'state'),
      nangoUrl: nango.url,
      secretKey: KEY,
      sqs,
      queues: q,
      maxReceiveCount: 3,
    });
  });
  afterAll(async () => {
    await nango.close();
    await db.close();
    await sqs.close();
  });

  const receive = async (url: string): Promise<SQSRecord[]> => {
    const r = await sqs
      .client()
      .send(
        new ReceiveMessageCommand({ QueueUrl: url, MaxNumberOfMessages: 10, WaitTimeSeconds: 1, MessageSystemAttributeNames: ['All'] }),
      );
    return (r.Messages ?? []).map((m) => toRecord(m, 'arn:aws:sqs:us-east-1:000000000000:q', 'us-east-1'));
  };

  it('queues the sync naming the event, and parks an invalid one, with the characters intact', async () => {
    const id = 'evt-\uFFFF-\uFFFE-1';
    await sqs.client().send(new SendMessageCommand({ QueueUrl: q.ingressUrl, MessageBody: body(id, 'customer.plan_changed') }));
    await sqs.client().send(new SendMessageCommand({ QueueUrl: q.ingressUrl, MessageBody: body('evt-2', 'no.such\uFFFF') }));
    const records = await receive(q.ingressUrl);
    expect(records).toHaveLength(2);

    const result = await routeRecords(records, deps, Date.now() + 10_000);
    expect(result).toMatchObject({ failedRecordIds: [], synced: 1, invalid: 1 });

    const [sync] = await receive(q.syncUrl);
    const parsed = parseSync(sync!.body);
    expect(parsed.ok && parsed.message.events.map((e) => e.id)).toEqual([id]);
    const [parked] = await receive(q.ingressDlqUrl);
    expect(parseEnvelope(parked!.body)?.events[0]?.detailType).toBe('no.such\uFFFF');
  }, 30_000);
});
