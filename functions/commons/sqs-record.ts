import type { SQSRecord } from 'aws-lambda';

/** How many times SQS has handed this record out, this time included (1 when the attribute is missing). */
export function receiveCount(r: SQSRecord): number {
  const n = Number(r.attributes?.ApproximateReceiveCount);
  return Number.isFinite(n) && n >= 1 ? n : 1;
}
