/**
 * Route folds the events of one batch that write the same keys of one subject into one conditional
 * put of the newest: the state ends as writing them one after another would leave it, one sync per
 * connection is sent, and an event folded into one whose sync could not be sent is handed back with
 * it, so neither is lost. Real route processor, fauxqs, dynalite, the Nango stand-in.
 */
import { randomUUID } from 'node:crypto';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RouteDeps, routeRecords } from '#commons/route/processor';
import { DynamoStateStore } from '#commons/state/dynamodb';
import { countAwsRequests } from '../../../bench/aws-requests.ts';
import { type LocalDynamo, startLocalDynamo } from '../../../local/standins/dynamodb.ts';
import { type NangoStandin, startNangoStandin } from '../../../local/standins/nango.ts';
import { type LocalSqs, type PipelineQueues, startLocalSqs } from '../../../local/standins/sqs.ts';
import { seatsChanged, sqsRecord } from '../../support/events.ts';
import { routeDeps } from '../../support/route-deps.ts';

const KEY = randomUUID();
// Installed before any client sends: the SDK looks node:http up at its first request.
const aws = countAwsRequests();

describe('route folds a batch', () => {
  let sqs: LocalSqs;
  let db: LocalDynamo;
  let nango: NangoStandin;
  let q: PipelineQueues;
  let deps: RouteDeps;
  let state: DynamoStateStore;

  beforeAll(async () => {
    sqs = await startLocalSqs();
    q = await sqs.createPipelineQueues();
    db = await startLocalDynamo();
    await db.createStateTable('state');
    nango = await startNangoStandin({
      secretKey: KEY,
      connections: ['fold', 'fold-refused'].flatMap((org) =>
        ['salesforce', 'hubspot'].map((providerConfigKey) => ({
          connectionId: randomUUID(),
          providerConfigKey,
          tags: { organization_id: org },
        })),
      ),
    });
    state = new DynamoStateStore(db.client(), 'state');
    deps = routeDeps({ state, nangoUrl: nango.url, secretKey: KEY, sqs, queues: q, maxReceiveCount: 5 });
  });
  afterAll(async () => {
    aws.stop();
    await nango.close();
    await db.close();
    await sqs.close();
  });

  const records = (org: string, seats: number[]) =>
    seats.map((n, i) =>
      sqsRecord(`m-${org}-${i}`, JSON.stringify(seatsChanged(org, n, `2026-11-20T09:00:0${n}.000Z`, { id: `e-${org}-${n}` }))),
    );
  const putsIn = (counts: Map<string, number>) =>
    [...counts].filter(([k]) => k.startsWith('dynamodb|PutItem')).reduce((a, [, n]) => a + n, 0);

  it('three events of one key group: one put of the newest, one sync per connection', async () => {
    aws.reset();
    const result = await routeRecords(records('fold', [2, 5, 3]), deps, Date.now() + 20_000);
    expect(result.failedRecordIds).toEqual([]);
    expect(result.synced).toBe(2);
    // The index is filled by Nango's list (one put) and the three events are one conditional put.
    expect(putsIn(aws.counts())).toBe(2);
    const desired = await state.readDesired('tags:organization_id=fold');
    expect(desired.find((k) => k.key === 'seats')?.value).toBe(5);
  });

  it('the keys of events folded into a write that failed are not counted stale: their retry counts them', async () => {
    // Nothing listens there: the write fails as a network error, which route hands back for a retry.
    const down = new DynamoDBClient({
      endpoint: 'http://127.0.0.1:9',
      region: 'us-east-1',
      credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
      maxAttempts: 1,
    });
    try {
      const batch = records('fold-down', [2, 6]);
      const result = await routeRecords(batch, { ...deps, state: new DynamoStateStore(down, 'state') }, Date.now() + 2_000);
      expect(result.failedRecordIds.sort()).toEqual(batch.map((r) => r.messageId).sort());
      expect(result.stale).toBe(0);
    } finally {
      down.destroy();
    }
  });

  it('an event folded into one whose sync was refused is handed back with it', async () => {
    sqs.refuse((r) => r.action === 'SendMessageBatch' && r.queueName === 'sync.fifo');
    try {
      const batch = records('fold-refused', [4, 1]);
      const result = await routeRecords(batch, deps, Date.now() + 20_000);
      expect(result.failedRecordIds.sort()).toEqual(batch.map((r) => r.messageId).sort());
    } finally {
      sqs.refuse(undefined);
    }
  });
});
