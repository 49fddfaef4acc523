/**
 * The SQS edge: the port the processors use and its AWS SDK adapter. The client honours
 * AWS_ENDPOINT_URL_SQS, so local runs and tests need no special code path.
 */
import {
  ChangeMessageVisibilityCommand,
  SQSClient,
  SendMessageBatchCommand,
  SendMessageCommand,
  type MessageAttributeValue,
} from '@aws-sdk/client-sqs';
import { sqsSafeJson } from './json.ts';

export interface OutgoingMessage {
  /** Unique within one sendBatch call. */
  id: string;
  /** JSON text (every body the pipeline sends is): see sqsSafeJson. */
  body: string;
  groupId?: string;
  deduplicationId?: string;
  /** Standard queues only (FIFO queues refuse a per-message delay): at most 900. */
  delaySeconds?: number;
  attributes?: Record<string, MessageAttributeValue>;
}

export interface SendFailure {
  id: string;
  code: string;
  message: string;
}

export interface QueuePort {
  /**
   * Send in order; returns the entries that were not accepted (the rest were). Stops at the first
   * failure. Chunks of 10 that share no message group go at once: order matters only within a group.
   */
  sendBatch(queueUrl: string, messages: OutgoingMessage[]): Promise<SendFailure[]>;
  send(queueUrl: string, message: Omit<OutgoingMessage, 'id'>): Promise<void>;
  changeVisibility(queueUrl: string, receiptHandle: string, seconds: number): Promise<void>;
}

/** SendMessageBatch takes 10 entries and 1 MiB in all; stay under both. */
const MAX_ENTRIES = 10;
const MAX_BATCH_BYTES = 900 * 1024;

export class SqsQueues implements QueuePort {
  constructor(private readonly client: SQSClient = new SQSClient({})) {}

  async sendBatch(queueUrl: string, messages: OutgoingMessage[]): Promise<SendFailure[]> {
    const all = [...chunks(messages.map((m) => ({ ...m, body: sqsSafeJson(m.body) })))];
    // Every group within one chunk (route's syncs: one per connection): no entry can overtake
    // another of its group, so the chunks go at once, and a failed one holds back none of the others.
    if (all.length > 1 && groupsWithinChunks(all)) return (await Promise.all(all.map((c) => this.sendChunks(queueUrl, [c])))).flat();
    return this.sendChunks(queueUrl, all);
  }

  private async sendChunks(queueUrl: string, all: OutgoingMessage[][]): Promise<SendFailure[]> {
    const failures: SendFailure[] = [];
    for (const chunk of all) {
      // After a failed part nothing more goes: a later patch of the same group must not overtake it.
      if (failures.length) {
        for (const m of chunk)
          failures.push({ id: m.id, code: 'not_sent', message: 'held back after an earlier entry of this batch failed' });
        continue;
      }
      try {
        const out = await this.client.send(
          new SendMessageBatchCommand({
            QueueUrl: queueUrl,
            Entries: chunk.map((m) => ({
              Id: m.id,
              MessageBody: m.body,
              MessageGroupId: m.groupId,
              MessageDeduplicationId: m.deduplicationId,
              DelaySeconds: m.delaySeconds,
              MessageAttributes: m.attributes,
            })),
          }),
        );
        for (const f of out.Failed ?? [])
          failures.push({ id: f.Id ?? '', code: f.Code ?? 'send_failed', message: f.Message ?? 'SendMessageBatch entry failed' });
      } catch (e) {
        for (const m of chunk) failures.push({ id: m.id, code: (e as Error).name || 'send_failed', message: (e as Error).message });
      }
    }
    return failures;
  }

  async send(queueUrl: string, m: Omit<OutgoingMessage, 'id'>): Promise<void> {
    await this.client.send(
      new SendMessageCommand({
        QueueUrl: queueUrl,
        MessageBody: sqsSafeJson(m.body),
        MessageGroupId: m.groupId,
        MessageDeduplicationId: m.deduplicationId,
        DelaySeconds: m.delaySeconds,
        MessageAttributes: m.attributes,
      }),
    );
  }

  async changeVisibility(queueUrl: string, receiptHandle: string, seconds: number): Promise<void> {
    await this.client.send(
      new ChangeMessageVisibilityCommand({
        QueueUrl: queueUrl,
        ReceiptHandle: receiptHandle,
        VisibilityTimeout: Math.min(43_200, Math.max(0, Math.ceil(seconds))),
      }),
    );
  }
}

/** Whether every message group (absent: a standard queue's messages, unordered) lies within one chunk. */
function groupsWithinChunks(all: readonly OutgoingMessage[][]): boolean {
  const chunkOf = new Map<string, number>();
  for (const [i, chunk] of all.entries()) {
    for (const m of chunk) {
      if (m.groupId === undefined) continue;
      if ((chunkOf.get(m.groupId) ?? i) !== i) return false;
      chunkOf.set(m.groupId, i);
    }
  }
  return true;
}

function* chunks(messages: OutgoingMessage[]): Generator<OutgoingMessage[]> {
  let chunk: OutgoingMessage[] = [];
  let bytes = 0;
  for (const m of messages) {
    const size = Buffer.byteLength(m.body, 'utf8') + 512;
    if (chunk.length === MAX_ENTRIES || (chunk.length > 0 && bytes + size > MAX_BATCH_BYTES)) {
      yield chunk;
      chunk = [];
      bytes = 0;
    }
    chunk.push(m);
    bytes += size;
  }
  if (chunk.length) yield chunk;
}
