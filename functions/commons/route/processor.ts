/**
 * The route stage: ingress records in, patch messages out (one per target connection, grouped by
 * connection on the FIFO), invalid events to the ingress DLQ at once.
 *
 * Returns the ids of the records to retry. A record is retried only when one of its own sends (or
 * its DLQ write, or a transient Nango lookup) failed; the batch goes on. Once a connection's send
 * failed, later patches of that connection in this batch are held back too, so order holds.
 *
 * Not Powertools' BatchProcessor: records are sorted by event time and their patches sent together
 * with SendMessageBatch, which a per-record handler cannot do.
 */
import type { SQSRecord } from 'aws-lambda';
import type { EventDefinition } from '#events/define';
import { logger } from '#powertools/logger';
import { MetricName, countBy, metrics, MetricUnit } from '#powertools/metrics';
import { buildEnvelope, envelopeAttributes, unwrapOwnEnvelope, type Failure } from '../dlq-envelope.ts';
import { parseEventBody, type DomainEvent } from '../event-envelope.ts';
import * as z from 'zod';
import { NangoError, errorFromException } from '../nango/errors.ts';
import { connectionKey, deduplicationId, targetSchema, type PatchMessage } from '../patch-message.ts';
import type { OutgoingMessage, QueuePort } from '../queues.ts';
import type { TargetResolver } from '../targets.ts';
import { AttemptsExhausted, defaultRetry, withRetries } from '../retry.ts';
import { mapEvent } from './map-event.ts';
import { inEventTimeOrder } from '../event-time.ts';
import { receiveCount } from '../sqs-record.ts';

export interface RouteDeps {
  catalog: ReadonlyMap<string, EventDefinition>;
  targets: TargetResolver;
  queues: QueuePort;
  patchesQueueUrl: string;
  ingressDlqUrl: string;
  /** The ingress queue's redrive maxReceiveCount: its last receive parks transient failures itself. */
  maxReceiveCount: number;
}

interface Incoming {
  record: SQSRecord;
  body: string;
  event: DomainEvent;
}

export interface RouteResult {
  failedRecordIds: string[];
  enqueued: number;
  invalid: number;
}

export async function routeRecords(records: readonly SQSRecord[], deps: RouteDeps, deadline: number): Promise<RouteResult> {
  const failed = new Set<string>();
  /** Events that failed transiently, by record: on a record's last allowed receive they are parked with their error. */
  const retry = new Map<Incoming, Failure>();
  const valid: Incoming[] = [];
  let invalid = 0;
  metrics.addMetric(MetricName.EventsReceived, MetricUnit.Count, records.length);

  const park = async (record: SQSRecord, body: string, event: DomainEvent | undefined, error: Failure) => {
    const now = new Date();
    const first = Number(record.attributes?.ApproximateFirstReceiveTimestamp);
    const env = buildEnvelope({
      stage: 'route',
      error,
      events: event ? [{ id: event.id, source: event.source, detailType: event.detailType, time: event.time }] : [],
      attempts: receiveCount(record),
      firstFailureAt: first > 0 && error.retryable ? new Date(first) : now,
      lastFailureAt: now,
      originals: [{ messageId: record.messageId, body }],
    });
    try {
      await deps.queues.send(deps.ingressDlqUrl, { body: JSON.stringify(env), attributes: envelopeAttributes(env) });
      countBy(MetricName.DlqWrites, { stage: 'route', code: error.code });
    } catch (e) {
      logger.error('ingress DLQ write failed; the record will be retried', {
        correlation_id: event?.id ?? record.messageId,
        error: (e as Error).message,
      });
      failed.add(record.messageId);
    }
  };
  const reject = async (record: SQSRecord, body: string, event: DomainEvent | undefined, error: Failure) => {
    invalid++;
    logger.warn('event rejected', { correlation_id: event?.id ?? record.messageId, code: error.code, error: error.message });
    countBy(MetricName.EventsInvalid, { code: error.code });
    await park(record, body, event, error);
  };

  for (const r of records) {
    for (const one of unwrapOwnEnvelope(r.body, 'route', r.messageId)) {
      const parsed = parseEventBody(one.body, { messageId: one.messageId, sentTimestamp: r.attributes?.SentTimestamp });
      if (!parsed.ok)
        await reject(r, one.body, undefined, { code: parsed.code, message: parsed.message, errors: parsed.errors, retryable: false });
      else valid.push({ record: r, body: one.body, event: parsed.event });
    }
  }

  // Map and resolve in event-time order; collect the outgoing messages in that order.
  const outgoing: { msg: OutgoingMessage; item: Incoming; group: string }[] = [];
  /** Connection ids whose lookup failed: their later events in this batch wait too, so order holds. */
  const held = new Map<string, Failure>();
  for (const item of inEventTimeOrder(valid)) {
    const { event } = item;
    const mapped = mapEvent(event, deps.catalog);
    if (!mapped.ok) {
      await reject(item.record, item.body, event, { code: mapped.code, message: mapped.message, errors: mapped.errors, retryable: false });
      continue;
    }
    const waiting = mapped.specs.map((sp) => held.get(sp.connectionId)).find((f) => f !== undefined);
    if (waiting) {
      retry.set(item, waiting);
      continue;
    }
    let targets: Awaited<ReturnType<typeof deps.targets.resolve>>;
    try {
      // Short retries here: handing the record back costs a whole ingress visibility timeout.
      targets = (await withRetries(() => deps.targets.resolve(mapped.specs, deadline), { ...defaultRetry, deadline })).value;
    } catch (x) {
      const e = x instanceof AttemptsExhausted ? x.cause : x;
      const err = e instanceof NangoError ? e : errorFromException(e);
      if (!err.retryable) await reject(item.record, item.body, event, err.toFailure());
      else {
        logger.warn('target lookup failed; the record will be retried', { correlation_id: event.id, code: err.code, error: err.message });
        retry.set(item, err.toFailure());
        for (const sp of mapped.specs) held.set(sp.connectionId, err.toFailure());
      }
      continue;
    }
    if (targets.length === 0) {
      await reject(item.record, item.body, event, {
        code: 'no_connections',
        message: `Nango has no connection with id "${mapped.specs.map((s) => s.connectionId).join('", "')}" in any integration`,
        retryable: false,
      });
      continue;
    }
    // A target built from event data (an integration named in the event) is checked here, not at apply.
    const bad = targets.map((t) => targetSchema.safeParse(t)).find((r) => !r.success);
    if (bad && !bad.success) {
      await reject(item.record, item.body, event, {
        code: 'invalid_target',
        message: `${event.detailType}: ${z.prettifyError(bad.error)}`,
        retryable: false,
      });
      continue;
    }
    const ref = { id: event.id, source: event.source, detailType: event.detailType, time: event.time };
    for (const target of targets) {
      const message: PatchMessage = { v: 1, target, patch: mapped.patch, event: ref };
      const group = connectionKey(target);
      outgoing.push({
        item,
        group,
        msg: {
          id: String(outgoing.length),
          body: JSON.stringify(message),
          groupId: group,
          deduplicationId: deduplicationId(event.id, target),
        },
      });
    }
    logger.debug('event mapped', { correlation_id: event.id, type: event.detailType, targets: targets.length });
  }

  // Send in order, 10 at a time; a failed connection holds back its later patches in this batch.
  // (SQS may still accept a later entry of a group whose earlier entry in the same call failed; that
  // needs a per-entry failure inside an accepted call, which SQS reports only for internal errors.)
  const blockedGroups = new Map<string, Failure>();
  let enqueued = 0;
  for (let i = 0; i < outgoing.length; ) {
    const chunk: typeof outgoing = [];
    while (i < outgoing.length && chunk.length < 10) {
      const o = outgoing[i++]!;
      const blocked = blockedGroups.get(o.group);
      if (blocked) retry.set(o.item, blocked);
      else chunk.push(o);
    }
    if (chunk.length === 0) continue;
    const failures = new Map(
      (
        await deps.queues.sendBatch(
          deps.patchesQueueUrl,
          chunk.map((c) => c.msg),
        )
      ).map((f) => [f.id, f]),
    );
    for (const c of chunk) {
      const f = failures.get(c.msg.id);
      const blocked = blockedGroups.get(c.group);
      if (f || blocked) {
        const error: Failure = blocked ?? {
          code: 'patch_send_failed',
          message: `SendMessageBatch to the patches queue failed: ${f!.code}: ${f!.message}`,
          retryable: true,
        };
        retry.set(c.item, error);
        blockedGroups.set(c.group, error);
      } else enqueued++;
    }
    for (const f of failures.values()) logger.warn('patch send failed; the record will be retried', { code: f.code, error: f.message });
  }

  // Transient failures: retried by SQS, except on the last allowed receive, where the event is parked
  // with its error rather than moved bare by the redrive policy.
  for (const [item, error] of retry) {
    if (receiveCount(item.record) >= deps.maxReceiveCount) {
      logger.warn('transient failure on the last allowed attempt; parked in the DLQ', {
        correlation_id: item.event.id,
        code: error.code,
        error: error.message,
      });
      await park(item.record, item.body, item.event, error);
    } else failed.add(item.record.messageId);
  }
  metrics.addMetric(MetricName.PatchesEnqueued, MetricUnit.Count, enqueued);
  return { failedRecordIds: [...failed], enqueued, invalid };
}

/** A direct EventBridge invocation carries one event; shaped as a record so one code path serves both. */
export function recordFromEventBridge(event: unknown): SQSRecord {
  const id = (event as { id?: unknown })?.id;
  const messageId = typeof id === 'string' ? id : `eventbridge-${Date.now()}`;
  return {
    messageId,
    receiptHandle: '',
    body: JSON.stringify(event),
    attributes: {
      ApproximateReceiveCount: '1',
      SentTimestamp: String(Date.now()),
      SenderId: 'events.amazonaws.com',
      ApproximateFirstReceiveTimestamp: String(Date.now()),
    },
    messageAttributes: {},
    md5OfBody: '',
    eventSource: 'aws:events',
    eventSourceARN: '',
    awsRegion: process.env.AWS_REGION ?? '',
  };
}
