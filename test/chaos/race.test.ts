/**
 * The invariants would catch a concurrency regression. The Nango stand-in in race mode loses updates
 * like the real server (read, wait, write, no lock). The same patch messages go through the real
 * apply handler twice, driven by the local event source:
 * - from a standard queue (as if someone swapped the FIFO for a standard queue, or bypassed the
 *   grouping): writes to one connection run at once, and the checks report overlaps and lost keys;
 * - from the patches FIFO (group = connection): the same racy server loses nothing.
 */
import { randomUUID } from 'node:crypto';
import { CreateQueueCommand, SendMessageBatchCommand, type SQSClient } from '@aws-sdk/client-sqs';
import type { Context, SQSBatchResponse, SQSEvent } from 'aws-lambda';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectionKey, deduplicationId, type PatchMessage } from '#commons/patch-message';
import { startEventSource, waitUntilDrained } from '../../local/event-source.ts';
import { startNangoStandin, type NangoStandin, type SeedConnection } from '../../local/standins/nango.ts';
import { startLocalSqs, type LocalSqs, type PipelineQueues } from '../../local/standins/sqs.ts';
import { captureOutput, printAlways, type OutputCapture } from '../../local/chaos/capture.ts';
import { checkFold, connKey, writeOverlaps, type AppliedPatch } from '../../local/chaos/invariants.ts';

const KEY = randomUUID();
const CONNECTIONS = 12;
const EVENTS_PER_CONNECTION = 10;

let sqs: LocalSqs;
let client: SQSClient;
let queues: PipelineQueues;
let nango: NangoStandin;
let capture: OutputCapture;
let handler: (e: SQSEvent, c: Context) => Promise<SQSBatchResponse>;
const saved = { ...process.env };

beforeAll(async () => {
  capture = captureOutput({ watch: [KEY] });
  sqs = await startLocalSqs();
  client = sqs.client();
  queues = await sqs.createPipelineQueues({ patchesVisibilitySeconds: 10 });
  nango = await startNangoStandin({ secretKey: KEY, raceMode: true, raceDelayMs: 15, latencyMs: 1 });
  Object.assign(process.env, {
    AWS_ENDPOINT_URL_SQS: sqs.endpoint,
    NANGO_HOST: nango.url,
    NANGO_SECRET_KEY: KEY,
    PATCHES_QUEUE_URL: queues.patchesUrl,
    PATCHES_DLQ_URL: queues.patchesDlqUrl,
    APPLY_GROUP_CONCURRENCY: '10',
  });
  handler = ((await import('../../functions/apply.ts')) as { handler: typeof handler }).handler;
});

afterAll(async () => {
  capture?.stop();
  await nango?.close();
  await sqs?.close();
  process.env = saved;
});

/** Connections with one distinct key per event, so every lost update shows as a missing key. */
function scenario(prefix: string) {
  const seeds: SeedConnection[] = [];
  const messages: { body: string; group: string; dedupe: string }[] = [];
  const applied = new Map<string, AppliedPatch[]>();
  for (let c = 0; c < CONNECTIONS; c++) {
    const target = { connectionId: `${prefix}-${c}`, providerConfigKey: 'salesforce' };
    seeds.push({ ...target, metadata: null });
    nango.addConnection({ ...target, metadata: null });
    for (let j = 0; j < EVENTS_PER_CONNECTION; j++) {
      const time = new Date(Date.UTC(2026, 0, 1, 0, 0, j)).toISOString();
      const m: PatchMessage = {
        v: 1,
        target,
        patch: { [`k${j}`]: j },
        event: { id: `${prefix}-${c}-${j}`, source: 'app.billing', detailType: 'customer.seats_changed', time },
      };
      messages.push({ body: JSON.stringify(m), group: connectionKey(target), dedupe: deduplicationId(m.event.id, target) });
      const list = applied.get(connKey(target)) ?? [];
      list.push({ time, index: j, patch: m.patch });
      applied.set(connKey(target), list);
    }
  }
  // Interleave connections, as producers would.
  messages.sort((a, b) => a.body.localeCompare(b.body));
  return { seeds, messages, applied };
}

async function run(queueUrl: string, fifo: boolean, prefix: string) {
  nango.reset();
  const s = scenario(prefix);
  for (let i = 0; i < s.messages.length; i += 10) {
    const chunk = s.messages.slice(i, i + 10);
    await client.send(
      new SendMessageBatchCommand({
        QueueUrl: queueUrl,
        Entries: chunk.map((m, j) => ({
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
    functionTimeoutMs: 10_000,
    onInvocation: (r) => (failures += r.failedIds.length),
  });
  try {
    await waitUntilDrained(client, [queueUrl], { timeoutMs: 30_000 });
  } finally {
    await source.stop();
  }
  const final = nango.connections().filter((c) => c.connectionId.startsWith(`${prefix}-`));
  const fold = checkFold(final, s.seeds, s.applied);
  const overlaps = writeOverlaps(nango);
  return { fold, overlaps, failures, handlerSaidApplied: s.messages.length - failures };
}

describe('race mode: the invariants catch a concurrency regression', () => {
  it('un-grouped writes (a standard queue instead of the FIFO) lose updates and overlap; the checks say so', async () => {
    const { QueueUrl } = await client.send(
      new CreateQueueCommand({ QueueName: 'patches-standard', Attributes: { VisibilityTimeout: '10' } }),
    );
    const r = await run(QueueUrl!, false, 'ungrouped');
    printAlways(
      `race mode, un-grouped: handler reported ${r.handlerSaidApplied} applied; overlaps ${r.overlaps.live}; lost/misordered ${r.fold.connections} connections (${r.fold.keys} keys)`,
    );
    // Every PATCH got a 200, so the handler believes all is well ...
    expect(r.failures).toBe(0);
    // ... and only the invariants notice.
    expect(r.overlaps.live).toBeGreaterThan(0);
    expect(r.fold.keys).toBeGreaterThan(0);
  });

  it('the same messages through the patches FIFO lose nothing on the same racy server', async () => {
    const r = await run(queues.patchesUrl, true, 'grouped');
    printAlways(
      `race mode, FIFO-grouped: overlaps ${r.overlaps.live}; lost/misordered ${r.fold.connections} connections (${r.fold.keys} keys)`,
    );
    expect(r.fold.problems).toEqual([]);
    expect(r.overlaps.live).toBe(0);
    expect(nango.stats().overlaps).toBe(0);
    expect(capture.leaks()).toBe(0);
  });
});
