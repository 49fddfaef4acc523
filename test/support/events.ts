/**
 * Event and record builders shared by the version 2 suites: domain events in EventBridge's shape
 * (as route reads them from the ingress queue), and SQS records for invoking a handler directly.
 */
import type { SQSRecord } from 'aws-lambda';

export interface EventOpts {
  id?: string;
  /** ISO time; `null` leaves `time` out (an event sent straight to SQS). */
  time?: string | null;
}

export function event(source: string, detailType: string, detail: Record<string, unknown>, o: EventOpts = {}): Record<string, unknown> {
  return {
    ...(o.id !== undefined ? { id: o.id } : {}),
    source,
    'detail-type': detailType,
    ...(o.time === null ? {} : { time: o.time ?? new Date().toISOString() }),
    detail,
  };
}

export const planChanged = (organizationId: string, plan: string, changedAt: string, o: EventOpts = {}) =>
  event('app.billing', 'customer.plan_changed', { organizationId, plan, changedAt }, { time: changedAt, ...o });

export const seatsChanged = (organizationId: string, seats: number, changedAt: string, o: EventOpts = {}) =>
  event('app.billing', 'customer.seats_changed', { organizationId, seats, changedAt }, { time: changedAt, ...o });

/** `changedAt` (the version) is the event's time unless given: a status change is ordered by it to the millisecond. */
export const statusChanged = (organizationId: string, status: string, o: EventOpts & { changedAt?: string } = {}) => {
  const { changedAt, ...rest } = o;
  const at = changedAt ?? (typeof o.time === 'string' ? o.time : new Date().toISOString());
  return event('app.accounts', 'customer.status_changed', { organizationId, status, changedAt: at }, rest);
};

export const settingsChanged = (
  customerId: string,
  detail: { region?: string; flags?: Record<string, unknown>; integrations?: string[]; sequence: number },
  o: EventOpts = {},
) => event('app.accounts', 'customer.settings_changed', { customerId, ...detail }, o);

/** An SQS record as Lambda hands it to a handler. FIFO records carry their group. */
export function sqsRecord(
  messageId: string,
  body: string,
  o: { groupId?: string; receiveCount?: number; firstReceivedAt?: number } = {},
): SQSRecord {
  const now = Date.now();
  return {
    messageId,
    receiptHandle: `rh-${messageId}`,
    body,
    attributes: {
      ApproximateReceiveCount: String(o.receiveCount ?? 1),
      SentTimestamp: String(now),
      SenderId: 'local',
      ApproximateFirstReceiveTimestamp: String(o.firstReceivedAt ?? now),
      ...(o.groupId ? { MessageGroupId: o.groupId, MessageDeduplicationId: messageId } : {}),
    },
    messageAttributes: {},
    md5OfBody: '',
    eventSource: 'aws:sqs',
    eventSourceARN: `arn:aws:sqs:us-east-1:000000000000:${o.groupId ? 'sync.fifo' : 'ingress'}`,
    awsRegion: 'us-east-1',
  };
}

/** ISO time `ms` from now. */
export const isoIn = (ms: number): string => new Date(Date.now() + ms).toISOString();
