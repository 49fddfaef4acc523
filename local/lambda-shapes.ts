/**
 * The shapes Lambda's SQS event source builds: a receiver over the wire, records from messages, a
 * Context, and Lambda's reading of a partial batch response.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { ReceiveMessageCommand, type Message, type SQSClient } from '@aws-sdk/client-sqs';
import type { Context, SQSMessageAttributes, SQSRecord } from 'aws-lambda';

/** The account id local ARNs carry. */
export const ACCOUNT = '000000000000';

/** Receives up to `max` messages (system attributes included), waiting up to `waitMs` for the first. */
export type Receiver = (max: number, waitMs: number, signal: AbortSignal) => Promise<Message[]>;

/** ReceiveMessage over the wire, as the ESM's pollers do. */
export function wireReceiver(sqs: SQSClient, queueUrl: string): Receiver {
  return async (max, waitMs, signal) => {
    // SQS waits whole seconds: a wait of part of a second is one of a second (the caller may stop waiting sooner).
    const waitSeconds = Math.min(20, Math.ceil(waitMs / 1000));
    try {
      const out = await sqs.send(
        new ReceiveMessageCommand({
          QueueUrl: queueUrl,
          MaxNumberOfMessages: Math.max(1, Math.min(10, max)),
          WaitTimeSeconds: waitSeconds,
          AttributeNames: ['All'],
          MessageSystemAttributeNames: ['All'],
          MessageAttributeNames: ['All'],
        }),
        { abortSignal: signal },
      );
      return out.Messages ?? [];
    } catch (err) {
      if (signal.aborted) return [];
      throw err;
    }
  };
}

/** Lambda's SQSRecord from an SQS message (string/binary attribute values, empty list values). */
export function toRecord(m: Message, eventSourceARN: string, awsRegion: string): SQSRecord {
  const a = m.Attributes ?? {};
  const attributes: SQSRecord['attributes'] = {
    ApproximateReceiveCount: a.ApproximateReceiveCount ?? '1',
    SentTimestamp: a.SentTimestamp ?? String(Date.now()),
    SenderId: a.SenderId ?? ACCOUNT,
    ApproximateFirstReceiveTimestamp: a.ApproximateFirstReceiveTimestamp ?? String(Date.now()),
  };
  for (const k of ['SequenceNumber', 'MessageGroupId', 'MessageDeduplicationId', 'AWSTraceHeader'] as const) {
    const v = a[k];
    if (v !== undefined) attributes[k] = v;
  }
  const messageAttributes: SQSMessageAttributes = {};
  for (const [name, v] of Object.entries(m.MessageAttributes ?? {})) {
    messageAttributes[name] = {
      ...(v.StringValue !== undefined ? { stringValue: v.StringValue } : {}),
      ...(v.BinaryValue !== undefined ? { binaryValue: Buffer.from(v.BinaryValue).toString('base64') } : {}),
      stringListValues: [],
      binaryListValues: [],
      dataType: v.DataType ?? 'String',
    };
  }
  return {
    messageId: m.MessageId ?? '',
    receiptHandle: m.ReceiptHandle ?? '',
    body: m.Body ?? '',
    attributes,
    messageAttributes,
    md5OfBody: m.MD5OfBody ?? '',
    ...(m.MD5OfMessageAttributes ? { md5OfMessageAttributes: m.MD5OfMessageAttributes } : {}),
    eventSource: 'aws:sqs',
    eventSourceARN,
    awsRegion,
  };
}

export function makeContext(functionName: string, region: string, timeoutMs: number): Context {
  const deadline = Date.now() + timeoutMs;
  const day = new Date().toISOString().slice(0, 10).replaceAll('-', '/');
  const legacy = () => {
    throw new Error('callback-style context methods are not supported by Node 24 async handlers');
  };
  return {
    callbackWaitsForEmptyEventLoop: true,
    functionName,
    functionVersion: '$LATEST',
    invokedFunctionArn: `arn:aws:lambda:${region}:${ACCOUNT}:function:${functionName}`,
    memoryLimitInMB: '1024',
    awsRequestId: randomUUID(),
    logGroupName: `/aws/lambda/${functionName}`,
    logStreamName: `${day}/[$LATEST]${randomBytes(16).toString('hex')}`,
    getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()),
    done: legacy,
    fail: legacy,
    succeed: legacy,
  };
}

/**
 * Lambda's reading of a partial batch response: null/undefined/empty list = all succeeded; anything
 * malformed, an empty/null identifier or one not in the batch = the whole batch failed.
 */
export function parseBatchResponse(
  res: unknown,
  ids: ReadonlySet<string>,
): { ok: true; failed: Set<string> } | { ok: false; reason: string } {
  if (res === undefined || res === null) return { ok: true, failed: new Set() };
  if (typeof res !== 'object' || Array.isArray(res)) return { ok: false, reason: 'response is not an object' };
  const list = (res as { batchItemFailures?: unknown }).batchItemFailures;
  if (list === undefined || list === null) return { ok: true, failed: new Set() };
  if (!Array.isArray(list)) return { ok: false, reason: 'batchItemFailures is not an array' };
  const failed = new Set<string>();
  for (const item of list) {
    const id = item && typeof item === 'object' ? (item as { itemIdentifier?: unknown }).itemIdentifier : undefined;
    if (typeof id !== 'string' || id === '') return { ok: false, reason: `invalid itemIdentifier ${JSON.stringify(id)}` };
    if (!ids.has(id)) return { ok: false, reason: `itemIdentifier ${id} is not in the batch` };
    failed.add(id);
  }
  return { ok: true, failed };
}

/** A sleep that an abort signal ends early. */
export const sleep = (ms: number, signal?: AbortSignal) =>
  new Promise<void>((resolve) => {
    if (signal?.aborted) return resolve();
    const t = setTimeout(done, ms);
    function done() {
      clearTimeout(t);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
