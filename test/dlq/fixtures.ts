/** Builders for DLQ messages as route, apply and SQS's redrive write them (tests only). */
import { randomUUID } from 'node:crypto';
import type { MessageAttributeValue } from '@aws-sdk/client-sqs';
import { buildEnvelope, envelopeAttributes, type DlqEnvelope, type Failure } from '#commons/dlq-envelope';
import { connectionKey, deduplicationId, type PatchMessage, type Target } from '#commons/patch-message';
import type { HeldMessage } from '../../cli/dlq/model.ts';

export const unknownConnection: Failure = { status: 404, code: 'unknown_connection', message: 'Connection not found', retryable: false };

export function planEvent(id: string, customerId: string, plan: string, time = '2026-11-20T12:00:00.000Z') {
  return { id, source: 'app.billing', 'detail-type': 'customer.plan_changed', time, detail: { customerId, plan, changedAt: time } };
}

export function patchMessage(
  target: Target,
  patch: Record<string, string | number | null>,
  eventId: string = randomUUID(),
  time = '2026-11-20T12:00:00.000Z',
): PatchMessage {
  return { v: 1, target, patch, event: { id: eventId, source: 'app.billing', detailType: 'customer.plan_changed', time } };
}

/** An apply failure for one or several (coalesced) patch messages of one connection. */
export function applyEnvelope(
  messages: PatchMessage[],
  error: Failure = unknownConnection,
  at = new Date('2026-11-20T12:05:00Z'),
): DlqEnvelope {
  return buildEnvelope({
    stage: 'apply',
    error,
    target: messages[0]!.target,
    patch: Object.assign({}, ...messages.map((m) => m.patch)),
    events: messages.map((m) => m.event),
    attempts: 1,
    firstFailureAt: at,
    lastFailureAt: at,
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

export { connectionKey, deduplicationId };
