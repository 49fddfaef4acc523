/**
 * The FIFO group per connection is what keeps Nango from losing updates. The Nango stand-in in race
 * mode loses them like the real server (its PATCH reads, waits, writes `{...old, ...patch}`, no
 * lock). Each connection has ten subjects in the state table (dynalite), one key each, and one sync
 * message per subject; the real apply handler consumes them through the local event source:
 * - from a standard queue (as if the FIFO were swapped for a standard queue, or the grouping
 *   bypassed): syncs of one connection run at once, every PATCH answers 200 and the applied state
 *   records every key, yet Nango lost some: the checks report overlaps and keys off the fold;
 * - from the sync FIFO (group = connection): the same racy server loses nothing.
 */
import { randomUUID } from 'node:crypto';
import { CreateQueueCommand, SendMessageBatchCommand, type SQSClient } from '@aws-sdk/client-sqs';
import type { Context, SQSBatchResponse, SQSEvent } from 'aws-lambda';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { orderOf } from '#commons/domain/order';
import { DynamoStateStore } from '#commons/state/dynamodb';
import { connectionKey, syncDeduplicationId, syncMessage } from '#commons/sync/message';
import { captureOutput, printAlways, type OutputCapture } from '../../local/chaos/capture.ts';
import { differingKeys } from '../../local/chaos/oracle.ts';
import { writeOverlaps } from '../../local/chaos/overlaps.ts';
import { startEventSource, waitUntilDrained } from '../../local/event-source.ts';
import { startLocalDynamo, type LocalDynamo } from '../../local/standins/dynamodb.ts';
import { startNangoStandin, type NangoStandin } from '../../local/standins/nango.ts';
import { startLocalSqs, type LocalSqs, type PipelineQueues } from '../../local/standins/sqs.ts';

const KEY = randomUUID();
const TABLE = 'race-state';
const CONNECTIONS = 12;
const SUBJECTS_PER_CONNECTION = 10;

let sqs: LocalSqs;
let client: SQSClient;
let queues: PipelineQueues;
let dynamo: LocalDynamo;
let state: DynamoStateStore;
let nango: NangoStandin;
let capture: OutputCapture;
let handler: (e: SQSEvent, c: Context) => Promise<SQSBatchResponse>;
const saved = { ...process.env };

beforeAll(async () => {
  capture = captureOutput({ watch: [KEY] });
  sqs = await startLocalSqs();
  client = sqs.client();
  queues = await sqs.createPipelineQueues({ syncVisibilitySeconds: 20 });
  dynamo = await startLocalDynamo();
  await dynamo.createStateTable(TABLE);
  state = new DynamoStateStore(dynamo.client(), TABLE);
  nango = await startNangoStandin({ secretKey: KEY, raceMode: true, raceDelayMs: 15, latencyMs: 1 });
  Object.assign(process.env, {
    AWS_ENDPOINT_URL_SQS: sqs.endpoint,
    AWS_ENDPOINT_URL_DYNAMODB: dynamo.endpoint,
    NANGO_HOST: nango.url,
    NANGO_SECRET_KEY: KEY,
    STATE_TABLE_NAME: TABLE,
    SYNC_QUEUE_URL: queues.syncUrl,
    SYNC_DLQ_URL: queues.syncDlqUrl,
    APPLY_GROUP_CONCURRENCY: '10',
  });
  handler = ((await import('../../functions/apply.ts')) as { handler: typeof handler }).handler;
}, 60_000);

afterAll(async () => {
  capture?.stop();
  await nango?.close();
  await dynamo?.close();
  await sqs?.close();
  process.env = saved;
});

/** Connections whose subjects each hold one distinct key, so every lost update shows as a missing key. */
async function scenario(prefix: string) {
  const messages: { body: string; group: string; dedupe: string }[] = [];
  const want = new Map<string, Record<string, unknown>>();
  for (let c = 0; c < CONNECTIONS; c++) {
    const target = { connectionId: randomUUID(), providerConfigKey: 'salesforce' };
    nango.addConnection({ ...target, metadata: { tenant: `${prefix}-${c}` }, tags: { organization_id: `${prefix}-${c}` } });
    const expected: Record<string, unknown> = { tenant: `${prefix}-${c}` };
    for (let j = 0; j < SUBJECTS_PER_CONNECTION; j++) {
      const subject = `tags:organization_id=${prefix}-${c}-${j}`;
      const event = {
        id: `${prefix}-${c}-${j}`,
        source: 'app.billing',
        detailType: 'customer.seats_changed',
        time: '2026-01-01T00:00:00Z',
      };
      const write = { key: `k${j}`, value: j, order: orderOf(1_000 + j, event.id, j), integrations: 'all' as const, event };
      expect((await state.writeDesired(subject, [write])).written).toEqual([`k${j}`]);
      expected[`k${j}`] = j;
      messages.push({
        body: JSON.stringify(syncMessage(target, [subject], 'change', [event])),
        group: connectionKey(target),
        dedupe: syncDeduplicationId(target, event.id),
      });
    }
    want.set(target.connectionId, expected);
  }
  // Interleave connections, as route's batches would.
  messages.sort((a, b) => a.dedupe.localeCompare(b.dedupe));
  return { messages, want };
}

async function run(queueUrl: string, fifo: boolean, prefix: string) {
  nango.reset();
  const s = await scenario(prefix);
  for (let i = 0; i < s.messages.length; i += 10) {
    await client.send(
      new SendMessageBatchCommand({
        QueueUrl: queueUrl,
        Entries: s.messages.slice(i, i + 10).map((m, j) => ({
          Id: String(j),
          MessageBody: m.body,
          ...(fifo ? { MessageGroupId: m.group, MessageDeduplicationId: m.dedupe } : {}),
        })),
      }),
    );
  }
  let failures = 0;
  const source = await startEventSource({
    sqs: client,
    queueUrl,
    handler,
    fifo,
    batchSize: 10,
    concurrency: 6,
    functionTimeoutMs: 20_000,
    onInvocation: (r) => (failures += r.failedIds.length),
  });
  try {
    await waitUntilDrained(client, [queueUrl], { timeoutMs: 45_000 });
  } finally {
    await source.stop();
  }
  let lostKeys = 0;
  let connectionsOff = 0;
  let appliedRecorded = 0;
  for (const [connectionId, want] of s.want) {
    const off = differingKeys(want, nango.metadataOf(connectionId, 'salesforce'));
    lostKeys += off.length;
    if (off.length) connectionsOff++;
    appliedRecorded += Object.keys((await state.readApplied({ connectionId, providerConfigKey: 'salesforce' })).keys).length;
  }
  return { lostKeys, connectionsOff, appliedRecorded, overlaps: writeOverlaps(nango.requests), failures, patches: nango.stats().applied };
}

describe('race mode: the FIFO group per connection prevents lost updates', () => {
  it('syncs from a standard queue run at once per connection: Nango loses keys the applied state says were sent', async () => {
    const { QueueUrl } = await client.send(new CreateQueueCommand({ QueueName: 'sync-standard', Attributes: { VisibilityTimeout: '20' } }));
    const r = await run(QueueUrl!, false, 'ungrouped');
    printAlways(
      `race mode, standard queue: ${r.patches} PATCHes, all answered 200; overlaps ${r.overlaps.live}; ${r.lostKeys} keys lost at ${r.connectionsOff}/${CONNECTIONS} connections`,
    );
    // Every PATCH succeeded and every key is recorded as applied, so the handler believes all is well ...
    expect(r.failures).toBe(0);
    expect(r.appliedRecorded).toBe(CONNECTIONS * SUBJECTS_PER_CONNECTION);
    // ... and only the invariants notice.
    expect(r.overlaps.live).toBeGreaterThan(0);
    expect(r.lostKeys).toBeGreaterThan(0);
  }, 60_000);

  it('the same syncs through the sync FIFO lose nothing on the same racy server', async () => {
    const r = await run(queues.syncUrl, true, 'grouped');
    printAlways(`race mode, sync FIFO: ${r.patches} PATCHes; overlaps ${r.overlaps.live}; ${r.lostKeys} keys lost`);
    expect(r.failures).toBe(0);
    expect(r.lostKeys).toBe(0);
    expect(r.overlaps.live).toBe(0);
    expect(nango.stats().overlaps).toBe(0);
    expect(r.appliedRecorded).toBe(CONNECTIONS * SUBJECTS_PER_CONNECTION);
    expect(capture.leaks()).toBe(0);
  }, 60_000);
});
