import type { SQSRecord } from 'aws-lambda';

/** How many times SQS has handed this record out, this time included (1 when the attribute is missing). */
export function receiveCount(r: SQSRecord): number {
  const n = Number(r.attributes?.ApproximateReceiveCount);
  return Number.isFinite(n) && n >= 1 ? n : 1;
}

/** A direct EventBridge invocation carries one event; shaped as a record so one code path serves both. */
export function recordFromEventBridge(event: unknown): SQSRecord {
  const id = (event as { id?: unknown })?.id;
  const now = String(Date.now());
  return {
    messageId: typeof id === 'string' ? id : `eventbridge-${now}`,
    receiptHandle: '',
    body: JSON.stringify(event),
    attributes: {
      ApproximateReceiveCount: '1',
      SentTimestamp: now,
      SenderId: 'events.amazonaws.com',
      ApproximateFirstReceiveTimestamp: now,
    },
    messageAttributes: {},
    md5OfBody: '',
    eventSource: 'aws:events',
    eventSourceARN: '',
    awsRegion: process.env.AWS_REGION ?? '',
  };
}

/** Records grouped by MessageGroupId, each group in batch order (which is FIFO order). */
export function groupRecords(records: readonly SQSRecord[]): SQSRecord[][] {
  const groups = new Map<string, SQSRecord[]>();
  for (const r of records) {
    const g = r.attributes?.MessageGroupId ?? r.messageId;
    const list = groups.get(g) ?? [];
    list.push(r);
    groups.set(g, list);
  }
  return [...groups.values()];
}
