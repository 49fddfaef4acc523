/**
 * The local SQS event source against fauxqs, with toy handlers: record and context shape, partial
 * batch responses, whole-batch failures (throw, bad identifiers, timeout, crash), redrive after
 * maxReceiveCount, batching window, and FIFO batches (several messages of a group, in order, never
 * two invocations of one group at once).
 */
import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  CreateQueueCommand,
  GetQueueAttributesCommand,
  ReceiveMessageCommand,
  SendMessageBatchCommand,
  type SQSClient,
} from '@aws-sdk/client-sqs';
import type { Context, SQSBatchResponse, SQSEvent, SQSRecord } from 'aws-lambda';
import { startLocalSqs } from '../../../local/standins/sqs.ts';
import {
  parseBatchResponse,
  startEventSource,
  waitUntilDrained,
  type EventSource,
  type InvocationResult,
  type SqsHandler,
} from '../../../local/event-source.ts';

let local: Awaited<ReturnType<typeof startLocalSqs>>;
let sqs: SQSClient;
let n = 0;

beforeAll(async () => {
  local = await startLocalSqs();
  sqs = local.client();
});
afterAll(async () => {
  await local?.close();
});

async function queue(opts: { fifo?: boolean; visibility?: number; maxReceiveCount?: number } = {}) {
  const name = `q${++n}${opts.fifo ? '.fifo' : ''}`;
  const fifoAttrs = opts.fifo ? { FifoQueue: 'true' } : {};
  let redrive: Record<string, string> = {};
  let dlqUrl: string | undefined;
  if (opts.maxReceiveCount) {
    const dlq = await sqs.send(
      new CreateQueueCommand({ QueueName: `${name.replace('.fifo', '')}-dlq${opts.fifo ? '.fifo' : ''}`, Attributes: fifoAttrs }),
    );
    dlqUrl = dlq.QueueUrl!;
    const arn = (await sqs.send(new GetQueueAttributesCommand({ QueueUrl: dlqUrl, AttributeNames: ['QueueArn'] }))).Attributes!.QueueArn!;
    redrive = { RedrivePolicy: JSON.stringify({ deadLetterTargetArn: arn, maxReceiveCount: opts.maxReceiveCount }) };
  }
  const q = await sqs.send(
    new CreateQueueCommand({ QueueName: name, Attributes: { VisibilityTimeout: String(opts.visibility ?? 1), ...fifoAttrs, ...redrive } }),
  );
  return { url: q.QueueUrl!, dlqUrl };
}

async function send(url: string, bodies: string[], group?: (i: number) => string) {
  for (let i = 0; i < bodies.length; i += 10) {
    await sqs.send(
      new SendMessageBatchCommand({
        QueueUrl: url,
        Entries: bodies.slice(i, i + 10).map((b, j) => ({
          Id: String(j),
          MessageBody: b,
          MessageAttributes: { kind: { DataType: 'String', StringValue: 'toy' }, n: { DataType: 'Number', StringValue: String(i + j) } },
          ...(group ? { MessageGroupId: group(i + j), MessageDeduplicationId: `${b}-${i + j}` } : {}),
        })),
      }),
    );
  }
}

/** Runs an event source until the queue drained, then stops it; returns what each invocation got. */
async function run(
  url: string,
  handler: SqsHandler,
  o: Partial<Parameters<typeof startEventSource>[0]> = {},
): Promise<{ results: InvocationResult[]; source: EventSource }> {
  const results: InvocationResult[] = [];
  const source = await startEventSource({
    sqs,
    queueUrl: url,
    handler,
    functionTimeoutMs: 1000,
    pollWaitMs: 200,
    onInvocation: (r) => results.push(r),
    ...o,
  });
  try {
    await waitUntilDrained(sqs, [url], { quietMs: 200, timeoutMs: 30_000 });
  } finally {
    await source.stop();
  }
  return { results, source };
}

const dlqBodies = async (url: string) => {
  const out = await sqs.send(new ReceiveMessageCommand({ QueueUrl: url, MaxNumberOfMessages: 10, MessageSystemAttributeNames: ['All'] }));
  return (out.Messages ?? []).map((m) => ({ body: m.Body, count: m.Attributes?.ApproximateReceiveCount }));
};

describe('records and context', () => {
  it('builds SQSRecords and a Context the way Lambda does', async () => {
    const q = await queue();
    await send(q.url, ['a', 'b', 'c']);
    const seen: { records: SQSRecord[]; ctx: Context; remaining: number[] }[] = [];
    const { results } = await run(
      q.url,
      async (event, ctx) => {
        const first = ctx.getRemainingTimeInMillis();
        await new Promise((r) => setTimeout(r, 20));
        seen.push({ records: event.Records, ctx, remaining: [first, ctx.getRemainingTimeInMillis()] });
      },
      { functionName: 'toy-fn', batchSize: 10, maxBatchingWindowMs: 100, concurrency: 1 },
    );

    const arn = (await sqs.send(new GetQueueAttributesCommand({ QueueUrl: q.url, AttributeNames: ['QueueArn'] }))).Attributes!.QueueArn;
    const records = seen.flatMap((s) => s.records);
    expect(records.map((r) => r.body).sort()).toEqual(['a', 'b', 'c']);
    for (const r of records) {
      expect(r).toMatchObject({ eventSource: 'aws:sqs', eventSourceARN: arn, awsRegion: 'us-east-1' });
      expect(r.md5OfBody).toBe(createHash('md5').update(r.body).digest('hex'));
      expect(r.messageId).toMatch(/\S/);
      expect(r.receiptHandle).toMatch(/\S/);
      expect(r.attributes.ApproximateReceiveCount).toBe('1');
      expect(Number(r.attributes.SentTimestamp)).toBeGreaterThan(0);
      expect(Number(r.attributes.ApproximateFirstReceiveTimestamp)).toBeGreaterThanOrEqual(Number(r.attributes.SentTimestamp));
      expect(r.attributes.SenderId).toMatch(/\S/);
      expect(r.attributes.MessageGroupId).toBeUndefined();
      expect(r.messageAttributes.kind).toEqual({ stringValue: 'toy', stringListValues: [], binaryListValues: [], dataType: 'String' });
      expect(r.messageAttributes.n?.dataType).toBe('Number');
    }
    for (const s of seen) {
      expect(s.ctx.functionName).toBe('toy-fn');
      expect(s.ctx.invokedFunctionArn).toBe('arn:aws:lambda:us-east-1:000000000000:function:toy-fn');
      expect(s.ctx.functionVersion).toBe('$LATEST');
      const [before, after] = s.remaining as [number, number];
      expect(before).toBeLessThanOrEqual(1000);
      expect(after).toBeLessThan(before);
    }
    expect(new Set(seen.map((s) => s.ctx.awsRequestId)).size).toBe(seen.length);
    expect(results.every((r) => r.outcome === 'ok')).toBe(true);
  });

  it('reads partial batch responses as Lambda does', () => {
    const ids = new Set(['a', 'b']);
    expect(parseBatchResponse(undefined, ids)).toEqual({ ok: true, failed: new Set() });
    expect(parseBatchResponse({ batchItemFailures: null }, ids)).toEqual({ ok: true, failed: new Set() });
    expect(parseBatchResponse({ batchItemFailures: [{ itemIdentifier: 'b' }] }, ids)).toEqual({ ok: true, failed: new Set(['b']) });
    expect(parseBatchResponse({ batchItemFailures: [{ itemIdentifier: '' }] }, ids).ok).toBe(false);
    expect(parseBatchResponse({ batchItemFailures: [{ itemIdentifier: null }] }, ids).ok).toBe(false);
    expect(parseBatchResponse({ batchItemFailures: [{ id: 'a' }] }, ids).ok).toBe(false);
    expect(parseBatchResponse({ batchItemFailures: [{ itemIdentifier: 'zzz' }] }, ids).ok).toBe(false);
    expect(parseBatchResponse({ batchItemFailures: 'a' }, ids).ok).toBe(false);
    expect(parseBatchResponse('ok', ids).ok).toBe(false);
  });
});

describe('failures', () => {
  it('redelivers only the records reported failed, with an incremented receive count', async () => {
    const q = await queue();
    await send(q.url, ['ok-1', 'fail-once', 'ok-2']);
    const deliveries: { body: string; count: string }[] = [];
    const failed = new Set<string>();
    const { source } = await run(
      q.url,
      async (event): Promise<SQSBatchResponse> => {
        const batchItemFailures = [];
        for (const r of event.Records) {
          deliveries.push({ body: r.body, count: r.attributes.ApproximateReceiveCount });
          if (r.body === 'fail-once' && !failed.has(r.body)) {
            failed.add(r.body);
            batchItemFailures.push({ itemIdentifier: r.messageId });
          }
        }
        return { batchItemFailures };
      },
      { maxBatchingWindowMs: 100, concurrency: 1 },
    );
    expect(deliveries.filter((d) => d.body === 'ok-1')).toEqual([{ body: 'ok-1', count: '1' }]);
    expect(deliveries.filter((d) => d.body === 'ok-2')).toEqual([{ body: 'ok-2', count: '1' }]);
    expect(deliveries.filter((d) => d.body === 'fail-once')).toEqual([
      { body: 'fail-once', count: '1' },
      { body: 'fail-once', count: '2' },
    ]);
    expect(source.stats()).toMatchObject({ records: 4, deleted: 3, failures: 1 });
  });

  for (const [name, misbehave] of [
    ['a thrown error', () => Promise.reject(new Error('boom'))],
    ['an unknown itemIdentifier', () => Promise.resolve({ batchItemFailures: [{ itemIdentifier: 'not-in-batch' }] })],
    ['an empty itemIdentifier', () => Promise.resolve({ batchItemFailures: [{ itemIdentifier: '' }] })],
    ['a handler exceeding its timeout', () => new Promise((r) => setTimeout(() => r(undefined), 1500))],
  ] as const) {
    it(`fails the whole batch on ${name}`, async () => {
      const q = await queue();
      await send(q.url, ['x', 'y']);
      const counts: Record<string, string[]> = {};
      let first = true;
      const { results } = await run(
        q.url,
        async (event) => {
          for (const r of event.Records) (counts[r.body] ??= []).push(r.attributes.ApproximateReceiveCount);
          if (first && event.Records.length === 2) {
            first = false;
            return misbehave() as Promise<SQSBatchResponse | void>;
          }
          return { batchItemFailures: [] };
        },
        { maxBatchingWindowMs: 100, concurrency: 1 },
      );
      expect(counts).toEqual({ x: ['1', '2'], y: ['1', '2'] });
      const bad = results.find((r) => r.outcome !== 'ok');
      expect(bad?.failedIds).toHaveLength(2);
      expect(bad?.deletedIds).toHaveLength(0);
    });
  }

  it('a crash mid-batch deletes nothing: every record comes back', async () => {
    const q = await queue();
    await send(q.url, ['p', 'q']);
    const processed: string[] = [];
    const { results, source } = await run(
      q.url,
      async (event) => {
        for (const r of event.Records) processed.push(`${r.body}#${r.attributes.ApproximateReceiveCount}`);
      },
      { maxBatchingWindowMs: 100, concurrency: 1, crashAfter: (i) => i.invocation === 1 },
    );
    expect(results[0]?.outcome).toBe('crash');
    expect(processed.sort()).toEqual(['p#1', 'p#2', 'q#1', 'q#2']);
    expect(source.stats().crashes).toBe(1);
  });

  it('moves a message that keeps failing to the DLQ after maxReceiveCount', async () => {
    const q = await queue({ maxReceiveCount: 2 });
    await send(q.url, ['poison', 'fine']);
    const counts: string[] = [];
    await run(q.url, async (event) => ({
      batchItemFailures: event.Records.filter((r) => r.body === 'poison').map((r) => {
        counts.push(r.attributes.ApproximateReceiveCount);
        return { itemIdentifier: r.messageId };
      }),
    }));
    expect(counts).toEqual(['1', '2']);
    expect(await dlqBodies(q.dlqUrl!)).toEqual([{ body: 'poison', count: expect.any(String) }]);
  });
});

describe('batching', () => {
  it('gathers more than one receive into a batch within the batching window', async () => {
    const q = await queue();
    await send(
      q.url,
      Array.from({ length: 25 }, (_, i) => `m${i}`),
    );
    const sizes: number[] = [];
    await run(q.url, async (event) => void sizes.push(event.Records.length), { batchSize: 25, maxBatchingWindowMs: 500, concurrency: 1 });
    expect(sizes.reduce((a, b) => a + b, 0)).toBe(25);
    expect(Math.max(...sizes)).toBeGreaterThan(10);
  });

  it('refuses a queue whose visibility is shorter than the function timeout, as Lambda does', async () => {
    const q = await queue({ visibility: 1 });
    await expect(startEventSource({ sqs, queueUrl: q.url, handler: async () => {}, functionTimeoutMs: 5000 })).rejects.toThrow(
      /visibility timeout/,
    );
  });

  it('waitUntilDrained times out naming what is left', async () => {
    const q = await queue();
    await send(q.url, ['stays']);
    await expect(waitUntilDrained(sqs, [q.url], { timeoutMs: 200 })).rejects.toThrow(/1 visible/);
  });
});

describe('FIFO', () => {
  it('the local SQS receives several messages of one group in order, as AWS does (plain fauxqs gives one per group)', async () => {
    const q = await queue({ fifo: true, visibility: 5 });
    await send(q.url, ['a1', 'a2', 'a3', 'b1'], (i) => (i < 3 ? 'a' : 'b'));
    const out = await sqs.send(new ReceiveMessageCommand({ QueueUrl: q.url, MaxNumberOfMessages: 10 }));
    expect(out.Messages?.map((m) => m.Body)).toEqual(['a1', 'a2', 'a3', 'b1']);
  });

  it('hands several messages of a group to one invocation, in order, one invocation per group at a time', async () => {
    const q = await queue({ fifo: true, visibility: 2 });
    const groups = ['g0', 'g1', 'g2', 'g3'];
    const bodies = Array.from({ length: 60 }, (_, i) => `${groups[i % 4]}:${Math.floor(i / 4)}`);
    await send(q.url, bodies, (i) => groups[i % 4]!);
    const active = new Map<string, number>();
    let overlaps = 0;
    let failedOnce = false;
    const order: Record<string, number[]> = {};
    const batches: SQSEvent[] = [];
    const { results } = await run(
      q.url,
      async (event) => {
        batches.push(event);
        const mine = new Set(event.Records.map((r) => r.attributes.MessageGroupId!));
        for (const g of mine) {
          if (active.get(g)) overlaps++;
          active.set(g, (active.get(g) ?? 0) + 1);
        }
        await new Promise((r) => setTimeout(r, 5));
        const failures: { itemIdentifier: string }[] = [];
        const stopped = new Set<string>();
        for (const r of event.Records) {
          const g = r.attributes.MessageGroupId!;
          // Once, fail a group midway: it and the rest of its group come back later, in order.
          if (!failedOnce && g === 'g2' && r.body === 'g2:5') {
            failedOnce = true;
            stopped.add(g);
          }
          if (stopped.has(g)) failures.push({ itemIdentifier: r.messageId });
          else (order[g] ??= []).push(Number(r.body.split(':')[1]));
        }
        for (const g of mine) active.set(g, active.get(g)! - 1);
        return { batchItemFailures: failures };
      },
      { fifo: true, batchSize: 10, concurrency: 4, functionTimeoutMs: 2000 },
    );
    expect(overlaps).toBe(0);
    for (const g of groups) expect(order[g]).toEqual(Array.from({ length: 15 }, (_, i) => i));
    // Batches hold runs of one group (AWS-like), ordered by sequence number.
    expect(
      batches.some((b) => b.Records.filter((r) => r.attributes.MessageGroupId === b.Records[0]!.attributes.MessageGroupId).length > 1),
    ).toBe(true);
    for (const b of batches) {
      const seq = b.Records.map((r) => r.attributes.SequenceNumber!);
      for (const g of groups) {
        const s = b.Records.filter((r) => r.attributes.MessageGroupId === g).map((r) => r.attributes.SequenceNumber!);
        expect(s).toEqual([...s].sort());
      }
      expect(seq.every((x) => /^\d+$/.test(x))).toBe(true);
    }
    expect(results.some((r) => r.outcome === 'partial')).toBe(true);
  });

  it('puts several expired messages of a group back in order, and redrives FIFO to its DLQ', async () => {
    const q = await queue({ fifo: true, visibility: 1, maxReceiveCount: 2 });
    await send(q.url, ['k:0', 'k:1', 'k:2'], () => 'k');
    const seen: string[][] = [];
    await run(
      q.url,
      async (event) => {
        seen.push(event.Records.map((r) => `${r.body}#${r.attributes.ApproximateReceiveCount}`));
        return { batchItemFailures: event.Records.map((r) => ({ itemIdentifier: r.messageId })) };
      },
      { fifo: true, concurrency: 2 },
    );
    expect(seen).toEqual([
      ['k:0#1', 'k:1#1', 'k:2#1'],
      ['k:0#2', 'k:1#2', 'k:2#2'],
    ]);
    const dlq = await sqs.send(new ReceiveMessageCommand({ QueueUrl: q.dlqUrl!, MaxNumberOfMessages: 10 }));
    expect(dlq.Messages?.map((m) => m.Body)).toEqual(['k:0', 'k:1', 'k:2']);
  });

  it('stop() ends 20 s long polls without waiting for them', async () => {
    const q = await queue({ fifo: true, visibility: 5 });
    const source = await startEventSource({
      sqs,
      queueUrl: q.url,
      handler: async () => {},
      functionTimeoutMs: 1000,
      pollWaitMs: 20_000,
      concurrency: 3,
    });
    const standard = await startEventSource({
      sqs,
      queueUrl: (await queue()).url,
      handler: async () => {},
      functionTimeoutMs: 1000,
      pollWaitMs: 20_000,
      concurrency: 3,
    });
    // Let the pollers enter their long polls before stopping.
    await new Promise((r) => setTimeout(r, 100));
    await Promise.all([source.stop(), standard.stop()]);
    expect(source.stats().invocations + standard.stats().invocations).toBe(0);
  });
});
