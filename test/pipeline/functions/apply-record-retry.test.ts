/**
 * After a PATCH was made, recording what it sent is retried on its own: a DynamoDB write that fails
 * (throttled, a 500) must not hand the sync back to SQS, whose next delivery would PATCH again; one
 * DynamoDB refuses (a 400) is not retried and parks the sync as refused, classified by its cause. The
 * real apply processor, undici against the Nango stand-in, and the state table on dynalite behind a
 * proxy that refuses the first writes of the applied state.
 */
import { randomUUID } from 'node:crypto';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { applyRecords, type ApplyDeps } from '#commons/apply/processor';
import { orderOf } from '#commons/domain/order';
import { HttpNangoClient } from '#commons/nango/http-client';
import { SqsQueues } from '#commons/queues';
import { staticKeyProvider } from '#commons/secrets';
import { DynamoStateStore } from '#commons/state/dynamodb';
import { connectionKey, syncMessage } from '#commons/sync/message';
import { type LocalPipeline, STATE_TABLE, startLocalPipeline } from '../../../local/pipeline.ts';
import { type AwsFaultProxy, startAwsFaultProxy } from '../../support/aws-fault-proxy.ts';
import { sqsRecord } from '../../support/events.ts';
import { captureLogs } from '../../support/logs.ts';

const KEY = randomUUID();
const SUBJECT = 'tags:organization_id=recordco';
const target = { connectionId: randomUUID(), providerConfigKey: 'salesforce' };

let p: LocalPipeline;
let proxy: AwsFaultProxy;
let client: DynamoDBClient;
let failures = 0;
/** The fault the applied state's writes meet while `failures` lasts. */
let fault = { status: 500, type: 'InternalServerError', message: 'injected: the table is unavailable' };
let deps: ApplyDeps;

beforeAll(async () => {
  p = await startLocalPipeline({ nangoSecretKey: KEY, connections: [] });
  p.nango!.addConnection({ ...target, provider: 'salesforce', tags: { organization_id: 'recordco' } });
  // The applied state's writes (`C#...`, SET of the orders sent) fail while `failures` lasts.
  proxy = await startAwsFaultProxy(p.env.AWS_ENDPOINT_URL_DYNAMODB!, (call) => {
    const key = (call.body.Key as { pk?: { S?: string } } | undefined)?.pk?.S ?? '';
    if (call.action !== 'UpdateItem' || !key.startsWith('C#') || !String(call.body.UpdateExpression).includes('#sent')) return undefined;
    if (failures <= 0) return undefined;
    failures--;
    return fault;
  });
  client = new DynamoDBClient({
    endpoint: proxy.endpoint,
    region: 'us-east-1',
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
    maxAttempts: 1,
  });
  deps = {
    nango: new HttpNangoClient({ host: p.nango!.url, endpoint: 'current', keys: staticKeyProvider(KEY), timeoutMs: 5_000 }),
    state: new DynamoStateStore(client, STATE_TABLE),
    queues: new SqsQueues(p.sqs),
    syncQueueUrl: p.queues.syncUrl,
    syncDlqUrl: p.queues.syncDlqUrl,
    maxReceiveCount: 5,
    groupConcurrency: 4,
    maxDeferMs: 0,
    retry: { baseMs: 1, capMs: 5 },
  };
}, 60_000);
afterAll(async () => {
  client?.destroy();
  await proxy?.close();
  await p?.stop();
});

const patches = () => p.nango!.requests.filter((r) => r.method === 'PATCH').length;

async function changeTo(plan: string, version: number) {
  const id = `e-${plan}`;
  await p.state.writeDesired(SUBJECT, [
    {
      key: 'plan',
      value: plan,
      order: orderOf(version, id, plan),
      integrations: 'all',
      event: { id, source: 'app.test', detailType: 't', time: '2026-11-20T09:00:00.000Z' },
    },
  ]);
  const body = JSON.stringify(syncMessage(target, [SUBJECT], 'change', [], Date.now()));
  return applyRecords([sqsRecord(randomUUID(), body, { groupId: connectionKey(target) })], deps, Date.now() + 20_000);
}

describe('recording a PATCH that was made', () => {
  it('is retried alone: one PATCH, the sync done, and what it sent recorded', async () => {
    failures = 2;
    const before = patches();
    const result = await changeTo('pro', 1);
    expect(failures).toBe(0);
    expect(result.failedRecordIds).toEqual([]);
    expect(result.patched).toBe(1);
    expect(patches() - before).toBe(1);
    expect(p.nango!.metadataOf(target.connectionId, 'salesforce')).toMatchObject({ plan: 'pro' });
    expect(Object.keys((await p.state.readApplied(target)).keys)).toEqual(['plan']);
  });

  it('hands the sync back only when the record still fails on its last attempt', async () => {
    failures = 3;
    const before = patches();
    const logs = captureLogs();
    let result: Awaited<ReturnType<typeof changeTo>>;
    try {
      result = await changeTo('enterprise', 2);
    } finally {
      logs.stop();
    }
    expect(failures).toBe(0);
    expect(result.failedRecordIds).toHaveLength(1);
    expect(result.dlq).toBe(0);
    expect(patches() - before).toBe(1);
    // Handed back as what it is: DynamoDB's error, transient.
    const handedBack = logs.records().find((r) => r.message === 'transient failure; handed back to SQS');
    expect(handedBack?.code).toBe('InternalServerError');
  });

  it('is not retried when DynamoDB refuses it: parked at once as refused, with one PATCH', async () => {
    fault = { status: 400, type: 'ValidationException', message: 'injected: the item is refused' };
    failures = 3;
    const before = patches();
    const logs = captureLogs();
    let result: Awaited<ReturnType<typeof changeTo>>;
    try {
      result = await changeTo('team', 3);
    } finally {
      logs.stop();
      fault = { status: 500, type: 'InternalServerError', message: 'injected: the table is unavailable' };
    }
    // One write tried: a refusal is not worth another, and the PATCH is not sent again.
    expect(failures).toBe(2);
    failures = 0;
    expect(patches() - before).toBe(1);
    expect(result.dlq).toBe(1);
    expect(result.failedRecordIds).toEqual([]);
    const parked = logs.records().find((r) => r.message === 'sync refused; parked in the DLQ');
    expect(parked?.code).toBe('ValidationException');
  });
});
