/**
 * Parks an event in the ingress DLQ with its error. What is parked is the event as route resolved
 * it: an event sent without `id` or `time` gets the ones route gave it (the SQS message id and sent
 * time), and one that may have written its keys keeps when it first reached us (`receivedAt`), so a
 * replay cannot re-stamp it and let old data win.
 */
import type { SQSRecord } from 'aws-lambda';
import { logger } from '#powertools/logger';
import { MetricName, countBy } from '#powertools/metrics';
import { buildEnvelope, envelopeAttributes, type FailureRecord } from '../dlq-envelope.ts';
import type { DomainEvent } from '../event-envelope.ts';
import type { QueuePort } from '../queues.ts';
import { receiveCount } from '../sqs-record.ts';
import type { EventRef } from '../sync/message.ts';

export interface ParkDeps {
  queues: QueuePort;
  ingressDlqUrl: string;
}

/**
 * The body with the resolved id and time filled in where it lacked them and, for an event that was
 * mapped (it may have written its keys), the moment it first reached us: its replay reaches us later,
 * and its version must not rise past a change made meanwhile. Anything unparseable stays as it was.
 */
function resolvedBody(body: string, event: DomainEvent, mapped: boolean): string {
  try {
    const raw = JSON.parse(body) as Record<string, unknown>;
    if (!raw || typeof raw !== 'object' || Array.isArray(raw)) return body;
    const arrival = mapped && event.receivedAt !== undefined && raw.receivedAt !== event.receivedAt;
    if (raw.id === undefined || raw.time === undefined || arrival) {
      return JSON.stringify({
        ...raw,
        id: raw.id ?? event.id,
        time: raw.time ?? event.time,
        ...(arrival ? { receivedAt: event.receivedAt } : {}),
      });
    }
  } catch {
    // kept as it came
  }
  return body;
}

/**
 * What a body route could not parse still says about itself: its own `id` (and source, type, time
 * when they are strings), so the parked envelope names the event the producer knows it by.
 */
export function bodyEventRef(body: string): EventRef | undefined {
  let raw: unknown;
  try {
    raw = JSON.parse(body);
  } catch {
    return undefined;
  }
  if (!raw || typeof raw !== 'object' || Array.isArray(raw)) return undefined;
  const r = raw as Record<string, unknown>;
  const str = (v: unknown, max: number) => (typeof v === 'string' ? v.slice(0, max) : '');
  const id = str(r.id, 256);
  if (!id) return undefined;
  return { id, source: str(r.source, 256), detailType: str(r['detail-type'], 256), time: str(r.time, 64) };
}

/** True when the DLQ accepted the envelope; false means the record must be retried. */
export async function parkEvent(
  deps: ParkDeps,
  record: SQSRecord,
  body: string,
  event: DomainEvent | undefined,
  error: FailureRecord,
  attempts: number,
  mapped = false,
): Promise<boolean> {
  const now = new Date();
  const first = Number(record.attributes?.ApproximateFirstReceiveTimestamp);
  const ref = event ? { id: event.id, source: event.source, detailType: event.detailType, time: event.time } : bodyEventRef(body);
  const env = buildEnvelope({
    stage: 'route',
    error,
    events: ref ? [ref] : [],
    attempts: Math.max(attempts, receiveCount(record)),
    firstFailureAt: first > 0 && error.retryable ? new Date(first) : now,
    lastFailureAt: now,
    originals: [{ messageId: record.messageId, body: event ? resolvedBody(body, event, mapped) : body }],
  });
  try {
    await deps.queues.send(deps.ingressDlqUrl, { body: JSON.stringify(env), attributes: envelopeAttributes(env) });
    countBy(MetricName.DlqWrites, { stage: 'route', code: env.error.code });
    return true;
  } catch (e) {
    logger.error('ingress DLQ write failed; the record will be retried', {
      correlation_id: event?.id ?? record.messageId,
      error: (e as Error).message,
    });
    return false;
  }
}
