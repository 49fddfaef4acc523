/** Parks syncs of one connection in the sync DLQ with their error: one envelope for what failed together. */
import { createHash } from 'node:crypto';
import type { SQSRecord } from 'aws-lambda';
import { logger } from '#powertools/logger';
import { MetricName, countBy } from '#powertools/metrics';
import { buildEnvelope, envelopeAttributes, type FailureRecord } from '../dlq-envelope.ts';
import type { QueuePort } from '../queues.ts';
import { receiveCount } from '../sqs-record.ts';
import { connectionKey, type SyncMessage } from '../sync/message.ts';

export interface Unit {
  record: SQSRecord;
  /** The sync message itself: the record's body, or one original of an envelope it carried. */
  body: string;
  messageId: string;
  message?: SyncMessage;
}

export interface ParkSyncDeps {
  queues: QueuePort;
  syncDlqUrl: string;
}

/** True when the DLQ accepted the envelope. */
export async function parkSyncs(
  deps: ParkSyncDeps,
  error: FailureRecord,
  units: readonly Unit[],
  attempts: number,
  keys?: string[],
): Promise<boolean> {
  const messages = units.map((u) => u.message).filter((m): m is SyncMessage => m !== undefined);
  const target = messages[0]?.target;
  const times = units.map((u) => Number(u.record.attributes?.ApproximateFirstReceiveTimestamp)).filter((n) => Number.isFinite(n) && n > 0);
  const now = new Date();
  const env = buildEnvelope({
    stage: 'apply',
    error,
    target,
    subjects: [...new Set(messages.flatMap((m) => m.subjects))],
    ...(keys ? { keys } : {}),
    events: messages.flatMap((m) => m.events),
    attempts: Math.max(attempts, ...units.map((u) => receiveCount(u.record))),
    firstFailureAt: times.length ? new Date(Math.min(...times)) : now,
    lastFailureAt: now,
    originals: units.map((u) => ({
      messageId: u.messageId,
      body: u.body,
      ...(u.record.attributes?.MessageGroupId ? { messageGroupId: u.record.attributes.MessageGroupId } : {}),
    })),
  });
  const group = target ? connectionKey(target) : (units[0]?.record.attributes?.MessageGroupId ?? 'unparseable');
  try {
    await deps.queues.send(deps.syncDlqUrl, {
      body: JSON.stringify(env),
      attributes: envelopeAttributes(env),
      groupId: group,
      // Parked twice within SQS's dedupe window (a crash after the write): kept once.
      deduplicationId: createHash('sha256')
        .update(units.map((u) => `${u.record.messageId}/${u.messageId}`).join('\n'))
        .digest('hex'),
    });
    countBy(MetricName.DlqWrites, { stage: 'apply', code: env.error.code });
    return true;
  } catch (e) {
    logger.error('sync DLQ write failed; the messages will be retried', { error: (e as Error).message });
    return false;
  }
}
