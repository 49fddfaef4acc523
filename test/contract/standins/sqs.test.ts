/**
 * The local SQS (fauxqs on 127.0.0.1) with the pipeline's queues, driven by the real SQS client:
 * attributes as deployed, FIFO order per group, AWS-style batches of one group, redrive, visibility.
 */
import {
  ChangeMessageVisibilityCommand,
  DeleteMessageCommand,
  GetQueueAttributesCommand,
  ReceiveMessageCommand,
  SendMessageCommand,
  type Message,
  type SQSClient,
} from '@aws-sdk/client-sqs';
import { afterEach, describe, expect, it } from 'vitest';
import { startLocalSqs, type LocalSqs } from '../../../local/standins/sqs.ts';

let local: LocalSqs | undefined;
afterEach(async () => {
  await local?.close();
  local = undefined;
});

const start = async (awsFifoReceive?: boolean) => {
  local = await startLocalSqs(awsFifoReceive === undefined ? {} : { awsFifoReceive });
  return local;
};

let seq = 0;
const sendFifo = (sqs: SQSClient, url: string, group: string, body: string) =>
  sqs.send(new SendMessageCommand({ QueueUrl: url, MessageBody: body, MessageGroupId: group, MessageDeduplicationId: `d${++seq}` }));
const receive = async (sqs: SQSClient, url: string, max = 10, VisibilityTimeout?: number): Promise<Message[]> =>
  (
    await sqs.send(
      new ReceiveMessageCommand({
        QueueUrl: url,
        MaxNumberOfMessages: max,
        MessageSystemAttributeNames: ['All'],
        ...(VisibilityTimeout !== undefined ? { VisibilityTimeout } : {}),
      }),
    )
  ).Messages ?? [];
const del = (sqs: SQSClient, url: string, m: Message) =>
  sqs.send(new DeleteMessageCommand({ QueueUrl: url, ReceiptHandle: m.ReceiptHandle! }));
const handBack = (sqs: SQSClient, url: string, m: Message) =>
  sqs.send(new ChangeMessageVisibilityCommand({ QueueUrl: url, ReceiptHandle: m.ReceiptHandle!, VisibilityTimeout: 0 }));
const bodies = (ms: Message[]) => ms.map((m) => m.Body);

describe('local SQS', () => {
  it('listens on 127.0.0.1 and creates the pipeline queues as deployed', async () => {
    const l = await start();
    expect(l.endpoint).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    const q = await l.createPipelineQueues({ prefix: 't-' });
    for (const url of Object.values(q)) expect(url.startsWith(`${l.endpoint}/`)).toBe(true);
    expect(q.syncUrl).toMatch(/\/t-sync\.fifo$/);
    const attrs = async (url: string) =>
      (await l.client().send(new GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: ['All'] }))).Attributes!;
    const [ingress, ingressDlq, patches, patchesDlq] = await Promise.all([
      attrs(q.ingressUrl),
      attrs(q.ingressDlqUrl),
      attrs(q.syncUrl),
      attrs(q.syncDlqUrl),
    ]);
    expect(ingress['FifoQueue']).toBeUndefined();
    expect(JSON.parse(ingress['RedrivePolicy']!)).toEqual({ deadLetterTargetArn: ingressDlq['QueueArn'], maxReceiveCount: 5 });
    expect(patches).toMatchObject({
      FifoQueue: 'true',
      DeduplicationScope: 'messageGroup',
      FifoThroughputLimit: 'perMessageGroupId',
      ContentBasedDeduplication: 'false',
    });
    expect(JSON.parse(patches['RedrivePolicy']!)).toEqual({ deadLetterTargetArn: patchesDlq['QueueArn'], maxReceiveCount: 5 });
    expect(patchesDlq).toMatchObject({ FifoQueue: 'true', MessageRetentionPeriod: String(14 * 24 * 3600) });
    expect(ingressDlq['MessageRetentionPeriod']).toBe(String(14 * 24 * 3600));
  });

  it('FIFO keeps order within each group', async () => {
    const l = await start();
    const sqs = l.client();
    const { syncUrl: patchesUrl } = await l.createPipelineQueues();
    for (let i = 0; i < 4; i++) {
      await sendFifo(sqs, patchesUrl, 'a', `a${i}`);
      await sendFifo(sqs, patchesUrl, 'b', `b${i}`);
    }
    const got: string[] = [];
    for (let guard = 0; guard < 20 && got.length < 8; guard++) {
      for (const m of await receive(sqs, patchesUrl, 3)) {
        got.push(m.Body!);
        await del(sqs, patchesUrl, m);
      }
    }
    expect(got.filter((b) => b.startsWith('a'))).toEqual(['a0', 'a1', 'a2', 'a3']);
    expect(got.filter((b) => b.startsWith('b'))).toEqual(['b0', 'b1', 'b2', 'b3']);
  });

  it('a receive returns several messages of one group in order, and the group stays locked meanwhile', async () => {
    const l = await start();
    const sqs = l.client();
    const { syncUrl: patchesUrl } = await l.createPipelineQueues();
    for (let i = 0; i < 4; i++) await sendFifo(sqs, patchesUrl, 'g', `m${i}`);
    await sendFifo(sqs, patchesUrl, 'h', 'h0');
    const batch = await receive(sqs, patchesUrl, 10);
    expect(bodies(batch)).toEqual(['m0', 'm1', 'm2', 'm3', 'h0']);
    expect(batch.map((m) => m.Attributes?.['MessageGroupId'])).toEqual(['g', 'g', 'g', 'g', 'h']);
    await sendFifo(sqs, patchesUrl, 'g', 'm4');
    expect(await receive(sqs, patchesUrl, 10)).toHaveLength(0); // g has messages in flight
    for (const m of batch) await del(sqs, patchesUrl, m);
    expect(bodies(await receive(sqs, patchesUrl, 10))).toEqual(['m4']);
  });

  it('a batch is capped by MaxNumberOfMessages, filling from one group first', async () => {
    const l = await start();
    const sqs = l.client();
    const { syncUrl: patchesUrl } = await l.createPipelineQueues();
    for (let i = 0; i < 3; i++) await sendFifo(sqs, patchesUrl, 'g', `g${i}`);
    for (let i = 0; i < 3; i++) await sendFifo(sqs, patchesUrl, 'h', `h${i}`);
    expect(bodies(await receive(sqs, patchesUrl, 4))).toEqual(['g0', 'g1', 'g2', 'h0']);
  });

  // Fails the day fauxqs hands out several messages of a group itself: then drop the receive patch.
  it('stock fauxqs (awsFifoReceive: false) returns one message per group per receive', async () => {
    const l = await start(false);
    const sqs = l.client();
    const { syncUrl: patchesUrl } = await l.createPipelineQueues();
    for (let i = 0; i < 3; i++) await sendFifo(sqs, patchesUrl, 'g', `m${i}`);
    expect(bodies(await receive(sqs, patchesUrl, 10))).toEqual(['m0']);
  });

  it('messages handed back (visibility 0) return to their group in order', async () => {
    const l = await start();
    const sqs = l.client();
    const { syncUrl: patchesUrl } = await l.createPipelineQueues();
    for (let i = 0; i < 4; i++) await sendFifo(sqs, patchesUrl, 'g', `m${i}`);
    const [m0, m1, m2, m3] = await receive(sqs, patchesUrl, 10);
    await del(sqs, patchesUrl, m0!);
    // Hand back the rest in order, as a consumer does for the failed message and every later one.
    for (const m of [m1!, m2!, m3!]) await handBack(sqs, patchesUrl, m);
    const again = await receive(sqs, patchesUrl, 10);
    expect(bodies(again)).toEqual(['m1', 'm2', 'm3']);
    expect(again.map((m) => m.Attributes?.['ApproximateReceiveCount'])).toEqual(['2', '2', '2']);
  });

  it('visibility: a received message is hidden until its timeout expires, then comes back', async () => {
    const l = await start();
    const sqs = l.client();
    const { ingressUrl, syncUrl: patchesUrl } = await l.createPipelineQueues({ ingressVisibilitySeconds: 1, syncVisibilitySeconds: 1 });
    await sqs.send(new SendMessageCommand({ QueueUrl: ingressUrl, MessageBody: 'i' }));
    await sendFifo(sqs, patchesUrl, 'g', 'p0');
    await sendFifo(sqs, patchesUrl, 'g', 'p1');
    expect(bodies(await receive(sqs, ingressUrl))).toEqual(['i']);
    expect(bodies(await receive(sqs, patchesUrl))).toEqual(['p0', 'p1']);
    expect(await receive(sqs, ingressUrl)).toHaveLength(0);
    expect(await receive(sqs, patchesUrl)).toHaveLength(0);
    await expect.poll(async () => bodies(await receive(sqs, ingressUrl)), { timeout: 5000, interval: 200 }).toEqual(['i']);
    // Expired together, they come back in sequence order.
    await expect.poll(async () => bodies(await receive(sqs, patchesUrl)), { timeout: 5000, interval: 200 }).toEqual(['p0', 'p1']);
  });

  it.each(['ingress', 'patches'] as const)(
    'redrive: the %s queue moves a message to its DLQ after maxReceiveCount receives',
    async (which) => {
      const l = await start();
      const sqs = l.client();
      const q = await l.createPipelineQueues({ maxReceiveCount: 3 });
      const [url, dlqUrl] = which === 'ingress' ? [q.ingressUrl, q.ingressDlqUrl] : [q.syncUrl, q.syncDlqUrl];
      if (which === 'ingress') await sqs.send(new SendMessageCommand({ QueueUrl: url, MessageBody: 'poison' }));
      else await sendFifo(sqs, url, 'g', 'poison');
      for (let i = 1; i <= 3; i++) {
        const [m] = await receive(sqs, url);
        expect(m?.Attributes?.['ApproximateReceiveCount']).toBe(String(i));
        await handBack(sqs, url, m!);
      }
      expect(await receive(sqs, url)).toHaveLength(0); // the 4th receive redrives instead
      const dead = await receive(sqs, dlqUrl);
      expect(bodies(dead)).toEqual(['poison']);
      if (which === 'patches') expect(dead[0]!.Attributes?.['MessageGroupId']).toBe('g');
    },
  );

  it('FIFO deduplication drops a repeated deduplication id', async () => {
    const l = await start();
    const sqs = l.client();
    const { syncUrl: patchesUrl } = await l.createPipelineQueues();
    const send = (body: string) =>
      sqs.send(new SendMessageCommand({ QueueUrl: patchesUrl, MessageBody: body, MessageGroupId: 'g', MessageDeduplicationId: 'same' }));
    const first = await send('one');
    const second = await send('two');
    expect(second.MessageId).toBe(first.MessageId);
    expect(bodies(await receive(sqs, patchesUrl))).toEqual(['one']);
  });

  it('honours AWS_ENDPOINT_URL_SQS for clients built without an endpoint', async () => {
    const l = await start();
    const { ingressUrl } = await l.createPipelineQueues();
    const before = process.env['AWS_ENDPOINT_URL_SQS'];
    process.env['AWS_ENDPOINT_URL_SQS'] = l.endpoint;
    const { SQSClient } = await import('@aws-sdk/client-sqs');
    const plain = new SQSClient({});
    try {
      await plain.send(new SendMessageCommand({ QueueUrl: ingressUrl, MessageBody: 'env' }));
      expect(bodies(await receive(l.client(), ingressUrl))).toEqual(['env']);
    } finally {
      plain.destroy();
      if (before === undefined) delete process.env['AWS_ENDPOINT_URL_SQS'];
      else process.env['AWS_ENDPOINT_URL_SQS'] = before;
    }
  });

  it('long polls on a standard queue as AWS answers them: one message wakes one waiting receive; the others wait out their time', async () => {
    const l = await start();
    const { ingressUrl } = await l.createPipelineQueues();
    const sqs = l.client();
    const poll = (url: string, WaitTimeSeconds: number) => {
      const started = Date.now();
      return sqs
        .send(new ReceiveMessageCommand({ QueueUrl: url, MaxNumberOfMessages: 10, WaitTimeSeconds }))
        .then((o) => ({ n: o.Messages?.length ?? 0, ms: Date.now() - started }));
    };
    for (const [url, send] of [
      [ingressUrl, () => sqs.send(new SendMessageCommand({ QueueUrl: ingressUrl, MessageBody: 'one' }))],
    ] as const) {
      const waiting = Array.from({ length: 5 }, () => poll(url, 2));
      await new Promise((r) => setTimeout(r, 200));
      await send();
      const got = await Promise.all(waiting);
      // fauxqs alone answers all five at once, four of them empty.
      expect(got.filter((g) => g.n === 1)).toHaveLength(1);
      const empty = got.filter((g) => g.n === 0);
      expect(empty).toHaveLength(4);
      for (const e of empty) expect(e.ms).toBeGreaterThanOrEqual(1900);
    }
  });
});
