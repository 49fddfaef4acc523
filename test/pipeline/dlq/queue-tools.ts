/** Test helpers over SQS: seed a DLQ, count a queue, drain a queue (receive + delete, in order). */
import {
  DeleteMessageBatchCommand,
  GetQueueAttributesCommand,
  ReceiveMessageCommand,
  SendMessageCommand,
  type MessageAttributeValue,
  type SQSClient,
} from '@aws-sdk/client-sqs';

export interface Seed {
  MessageBody: string;
  MessageAttributes?: Record<string, MessageAttributeValue>;
  MessageGroupId?: string;
  MessageDeduplicationId?: string;
}

/** One at a time, in order: FIFO sequence numbers then follow the list. */
export async function seed(sqs: SQSClient, url: string, messages: readonly Seed[]): Promise<string[]> {
  const ids: string[] = [];
  for (const m of messages) ids.push((await sqs.send(new SendMessageCommand({ QueueUrl: url, ...m }))).MessageId!);
  return ids;
}

export async function counts(sqs: SQSClient, url: string): Promise<{ visible: number; hidden: number; total: number }> {
  const a = (
    await sqs.send(
      new GetQueueAttributesCommand({
        QueueUrl: url,
        AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible'],
      }),
    )
  ).Attributes!;
  const visible = Number(a.ApproximateNumberOfMessages);
  const hidden = Number(a.ApproximateNumberOfMessagesNotVisible);
  return { visible, hidden, total: visible + hidden };
}

export interface Drained {
  body: string;
  groupId?: string | undefined;
  deduplicationId?: string | undefined;
}

/** Everything in the queue, removed, in receive order (per FIFO group: sequence order). */
export async function drainQueue(sqs: SQSClient, url: string): Promise<Drained[]> {
  const out: Drained[] = [];
  for (;;) {
    const r = await sqs.send(
      new ReceiveMessageCommand({ QueueUrl: url, MaxNumberOfMessages: 10, VisibilityTimeout: 30, MessageSystemAttributeNames: ['All'] }),
    );
    const msgs = r.Messages ?? [];
    if (!msgs.length) return out;
    for (const m of msgs)
      out.push({ body: m.Body!, groupId: m.Attributes?.MessageGroupId, deduplicationId: m.Attributes?.MessageDeduplicationId });
    await sqs.send(
      new DeleteMessageBatchCommand({ QueueUrl: url, Entries: msgs.map((m, i) => ({ Id: String(i), ReceiptHandle: m.ReceiptHandle! })) }),
    );
  }
}

/** The DLQ tool's queue flags for a set of pipeline queues; fauxqs answers a short poll with everything visible, so `--wait 0` keeps tests fast. */
export const queueFlags = (q: { ingressUrl: string; ingressDlqUrl: string; syncUrl: string; syncDlqUrl: string }): string[] => [
  '--wait',
  '0',
  '--ingress-url',
  q.ingressUrl,
  '--ingress-dlq-url',
  q.ingressDlqUrl,
  '--sync-url',
  q.syncUrl,
  '--sync-dlq-url',
  q.syncDlqUrl,
];
