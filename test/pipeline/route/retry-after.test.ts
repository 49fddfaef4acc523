/**
 * Route under a saturated Nango account: its connection lookup answered 429 with Retry-After hands
 * the record back with that visibility on the ingress queue (not the queue's default, and not at
 * once), and on the last allowed receive parks it with the 429 rather than letting SQS move it bare.
 * Real route processor, real SQS client against fauxqs, dynalite, the Nango stand-in.
 */
import { randomUUID } from 'node:crypto';
import { ReceiveMessageCommand, SendMessageCommand } from '@aws-sdk/client-sqs';
import type { SQSRecord } from 'aws-lambda';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseEnvelope } from '#commons/dlq-envelope';
import { type RouteDeps, routeRecords } from '#commons/route/processor';
import { DynamoStateStore } from '#commons/state/dynamodb';
import { toRecord } from '../../../local/lambda-shapes.ts';
import { type LocalDynamo, startLocalDynamo } from '../../../local/standins/dynamodb.ts';
import { type NangoStandin, startNangoStandin } from '../../../local/standins/nango.ts';
import { type LocalSqs, type PipelineQueues, startLocalSqs } from '../../../local/standins/sqs.ts';
import { routeDeps } from '../../support/route-deps.ts';

const KEY = randomUUID();
const event = (id: string) => ({
  id,
  source: 'app.billing',
  'detail-type': 'customer.plan_changed',
  time: '2026-11-20T09:00:00Z',
  detail: { organizationId: 'acme', plan: 'pro', changedAt: '2026-11-20T09:00:00.000Z' },
});

describe('route when its connection lookup is rate limited', () => {
  let sqs: LocalSqs;
  let db: LocalDynamo;
  let nango: NangoStandin;
  let q: PipelineQueues;
  let deps: RouteDeps;

  beforeAll(async () => {
    sqs = await startLocalSqs();
    q = await sqs.createPipelineQueues({ maxReceiveCount: 3, ingressVisibilitySeconds: 30 });
    db = await startLocalDynamo();
    await db.createStateTable('state');
    nango = await startNangoStandin({
      secretKey: KEY,
      connections: [{ connectionId: randomUUID(), providerConfigKey: 'salesforce', tags: { organization_id: 'acme' } }],
    });
    // Every list request: 429 with Retry-After 2 (the real server rounds down).
    nango.setFault((r) => (r.method === 'GET' ? { kind: 'rateLimit', retryAfter: 2 } : undefined));
    const state = new DynamoStateStore(db.client(), 'state');
    deps = routeDeps({ state, nangoUrl: nango.url, secretKey: KEY, sqs, queues: q, maxReceiveCount: 3 });
  });
  afterAll(async () => {
    await nango.close();
    await db.close();
    await sqs.close();
  });

  const receive = async (waitSeconds = 0): Promise<SQSRecord[]> => {
    const r = await sqs.client().send(
      new ReceiveMessageCommand({
        QueueUrl: q.ingressUrl,
        MaxNumberOfMessages: 10,
        WaitTimeSeconds: waitSeconds,
        MessageSystemAttributeNames: ['All'],
      }),
    );
    return (r.Messages ?? []).map((m) => toRecord(m, 'arn:aws:sqs:us-east-1:000000000000:ingress', 'us-east-1'));
  };

  it('hands the record back with the Retry-After as its visibility, then parks it with the 429 on the last receive', async () => {
    await sqs.client().send(new SendMessageCommand({ QueueUrl: q.ingressUrl, MessageBody: JSON.stringify(event('rl-1')) }));
    const seenAt: number[] = [];
    for (let receiveNo = 1; receiveNo <= 3; receiveNo++) {
      let records: SQSRecord[] = [];
      const started = Date.now();
      while (records.length === 0 && Date.now() - started < 10_000) records = await receive(1);
      expect(records, `receive ${receiveNo}`).toHaveLength(1);
      seenAt.push(Date.now());
      // Less time than the Retry-After: the in-process retry cannot wait it out, so the record goes back.
      const result = await routeRecords(records, deps, Date.now() + 1_000);
      expect(result.failedRecordIds).toEqual(receiveNo < 3 ? [records[0]!.messageId] : []);
    }
    // Back after the Retry-After (2 s, or up to 3 s as the gate rounds), long before the queue's 30 s default.
    for (let i = 1; i < seenAt.length; i++) {
      const gap = seenAt[i]! - seenAt[i - 1]!;
      expect(gap).toBeGreaterThanOrEqual(1_500);
      expect(gap).toBeLessThan(10_000);
    }
    const parked = (
      await sqs.client().send(new ReceiveMessageCommand({ QueueUrl: q.ingressDlqUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 1 }))
    ).Messages?.map((m) => parseEnvelope(m.Body ?? ''));
    expect(parked).toHaveLength(1);
    expect(parked![0]).toMatchObject({ stage: 'route', error: { status: 429, code: 'too_many_request', retryable: true }, attempts: 3 });
    expect(parked![0]!.events[0]?.id).toBe('rl-1');
  }, 60_000);
});
