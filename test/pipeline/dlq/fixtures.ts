/**
 * Builders for DLQ messages as route, apply and SQS's redrive write them (tests only). Apply
 * envelopes are built by the functions' own `buildEnvelope` around sync messages built by
 * `syncMessage`; `legacyApplyEnvelope` is what version 1 left in a DLQ before an upgrade (a patch
 * envelope), which the tool still reads and replays.
 */
import { randomUUID } from 'node:crypto';
import type { MessageAttributeValue } from '@aws-sdk/client-sqs';
import {
  buildEnvelope,
  dlqEnvelopeSchema,
  envelopeAttributes,
  type DlqEnvelope,
  type FailureRecord as Failure,
} from '#commons/dlq-envelope';
import { subjectId } from '#commons/domain/subject';
import { connectionKey, type EventRef, type SyncMessage, syncDeduplicationId, syncMessage, type Target } from '#commons/sync/message';
import type { HeldMessage } from '../../../cli/dlq/read.ts';

export const unknownConnection: Failure = { status: 404, code: 'unknown_connection', message: 'Connection not found', retryable: false };

export function planEvent(id: string, customerId: string, plan: string, time = '2026-11-20T12:00:00.000Z') {
  return { id, source: 'app.billing', 'detail-type': 'customer.plan_changed', time, detail: { customerId, plan, changedAt: time } };
}

export const orgSubject = (org: string): string => subjectId({ by: 'tags', tags: { organization_id: org }, integrations: 'all' });

export function eventRef(id: string = randomUUID(), time = '2026-11-20T12:00:00.000Z', detailType = 'customer.plan_changed'): EventRef {
  return { id, source: 'app.billing', detailType, time };
}

/** A `change` sync as route sends it: the connection, its subjects, the event behind it. */
export function sync(
  target: Target,
  o: { subjects?: string[]; eventId?: string; time?: string; reason?: SyncMessage['reason'] } = {},
): SyncMessage {
  const reason = o.reason ?? 'change';
  const events = reason === 'change' || o.eventId ? [eventRef(o.eventId, o.time)] : [];
  return syncMessage(target, o.subjects ?? [orgSubject('acme')], reason, events);
}

/** An apply failure for one or several sync messages of one connection, as apply parks them. */
export function applyEnvelope(
  messages: SyncMessage[],
  error: Failure = unknownConnection,
  at = new Date('2026-11-20T12:05:00Z'),
  keys?: string[],
): DlqEnvelope {
  return buildEnvelope({
    stage: 'apply',
    error,
    target: messages[0]!.target,
    subjects: [...new Set(messages.flatMap((m) => m.subjects))],
    ...(keys ? { keys } : {}),
    events: messages.flatMap((m) => m.events),
    attempts: 1,
    firstFailureAt: at,
    lastFailureAt: at,
    originals: messages.map((m) => ({ messageId: randomUUID(), body: JSON.stringify(m), messageGroupId: connectionKey(m.target) })),
  });
}

/** Version 1's patch message (values inside), for DLQs written before the upgrade. */
export interface LegacyPatchMessage {
  v: 1;
  target: Target;
  patch: Record<string, string | number | null>;
  event: EventRef;
}

export function legacyPatch(
  target: Target,
  patch: Record<string, string | number | null>,
  eventId: string = randomUUID(),
  time = '2026-11-20T12:00:00.000Z',
): LegacyPatchMessage {
  return { v: 1, target, patch, event: eventRef(eventId, time) };
}

/** A version 1 apply envelope: the merged patch beside the originals; checked against the schema the tool reads with. */
export function legacyApplyEnvelope(
  messages: LegacyPatchMessage[],
  error: Failure = unknownConnection,
  at = new Date('2026-11-20T12:05:00Z'),
): DlqEnvelope {
  return dlqEnvelopeSchema.parse({
    v: 1,
    kind: 'nango-metadata-sync.failure',
    stage: 'apply',
    error,
    target: messages[0]!.target,
    patch: Object.assign({}, ...messages.map((m) => m.patch)),
    events: messages.map((m) => m.event),
    attempts: 1,
    firstFailureAt: at.toISOString(),
    lastFailureAt: at.toISOString(),
    originals: messages.map((m) => ({ messageId: randomUUID(), body: JSON.stringify(m), messageGroupId: connectionKey(m.target) })),
  });
}

export function routeEnvelope(
  event: unknown,
  error: Failure = { code: 'invalid_event', message: 'detail: plan: invalid enum', retryable: false },
  at = new Date('2026-11-20T12:05:00Z'),
): DlqEnvelope {
  const e = event as { id?: string; source?: string; 'detail-type'?: string; time?: string };
  return buildEnvelope({
    stage: 'route',
    error,
    events: [{ id: e.id ?? 'none', source: e.source ?? '', detailType: e['detail-type'] ?? '', time: e.time ?? at.toISOString() }],
    attempts: 1,
    firstFailureAt: at,
    lastFailureAt: at,
    originals: [{ messageId: randomUUID(), body: JSON.stringify(event) }],
  });
}

/** What apply/route put on a DLQ: body, attributes and (FIFO) group and dedupe id. */
export function envelopeMessage(env: DlqEnvelope): {
  MessageBody: string;
  MessageAttributes: Record<string, MessageAttributeValue>;
  MessageGroupId?: string;
  MessageDeduplicationId?: string;
} {
  const body = JSON.stringify(env);
  if (env.stage === 'route') return { MessageBody: body, MessageAttributes: envelopeAttributes(env) };
  return {
    MessageBody: body,
    MessageAttributes: envelopeAttributes(env),
    MessageGroupId: env.target ? connectionKey(env.target) : 'unparseable',
    MessageDeduplicationId: randomUUID(),
  };
}

export function held(body: string, attributes: Record<string, string> = {}, messageId: string = randomUUID()): HeldMessage {
  return {
    queueUrl: 'http://127.0.0.1:1/000000000000/q',
    messageId,
    receiptHandle: randomUUID(),
    body,
    attributes: { SentTimestamp: String(Date.parse('2026-11-20T12:00:00Z')), ApproximateReceiveCount: '1', ...attributes },
    messageAttributes: {},
  };
}

export { connectionKey, syncDeduplicationId };
