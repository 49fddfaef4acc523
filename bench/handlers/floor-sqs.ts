/**
 * CPU floor of one SQS call: per record, one SendMessageBatch of the record's ten bodies to the
 * sync FIFO queue through the AWS SDK (what route does per ten sync messages, without anything around it).
 */
import { createHash } from 'node:crypto';
import { SQSClient, SendMessageBatchCommand } from '@aws-sdk/client-sqs';
import type { SQSEvent } from 'aws-lambda';

const sqs = new SQSClient({});

export const handler = async (event: SQSEvent): Promise<void> => {
  for (const r of event.Records) {
    const bodies = JSON.parse(r.body) as string[];
    const out = await sqs.send(
      new SendMessageBatchCommand({
        QueueUrl: process.env.SYNC_QUEUE_URL!,
        Entries: bodies.map((b, i) => ({
          Id: String(i),
          MessageBody: b,
          MessageGroupId: `g${i}`,
          MessageDeduplicationId: createHash('sha256').update(`${r.messageId}${i}`).digest('hex'),
        })),
      }),
    );
    if (out.Failed?.length) throw new Error(`floor-sqs: ${out.Failed.length} entries failed`);
  }
};
