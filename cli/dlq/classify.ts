/**
 * Turns a raw DLQ message into a DlqItem: an envelope (route/apply wrote it, with the error), a bare
 * message (SQS's redrive moved it after maxReceiveCount), or malformed (shown, never replayed).
 * Also decides how each is replayed: route failures go to ingress as the original event; apply
 * failures go to the patches FIFO with group = connectionKey(target) and a new deduplication id.
 */
import { createHash } from 'node:crypto';
import { parseEnvelope, type DlqEnvelope, type Stage } from '#commons/dlq-envelope';
import { connectionKey, deduplicationId, patchMessageSchema, type PatchMessage } from '#commons/patch-message';
import { BARE_CODE, MALFORMED_CODE, type DlqItem, type HeldMessage, type Outgoing, type ReplayPlan } from './model.ts';

const ENVELOPE_KIND = 'nango-metadata-sync.failure';

export function classify(held: HeldMessage, dlqStage: Stage): DlqItem {
  const base = {
    dlqStage,
    messageId: held.messageId,
    dlqReceiveCount: Number(held.attributes.ApproximateReceiveCount ?? 0),
    sequenceNumber: held.attributes.SequenceNumber,
    body: held.body,
    held,
  };
  const sentAt = new Date(Number(held.attributes.SentTimestamp ?? 0) || 0);
  const json = tryJson(held.body);

  const env = parseEnvelope(held.body);
  if (env) {
    const first = env.events[0];
    return {
      ...base,
      stage: env.stage,
      kind: 'envelope',
      errorCode: env.error.code,
      errorMessage: env.error.message,
      status: env.error.status,
      retryable: env.error.retryable,
      eventType: first?.detailType,
      eventSource: first?.source,
      eventIds: env.events.map((e) => e.id),
      connectionId: env.target?.connectionId,
      providerConfigKey: env.target?.providerConfigKey,
      failedAt: validDate(env.lastFailureAt) ?? sentAt,
      attempts: env.attempts,
      patch: env.patch,
      ...(env.stage === 'apply' && env.patch ? { keyTimes: keyTimesOf(env) } : {}),
      envelope: env,
      replay: planEnvelope(env, held.messageId),
    };
  }

  // Looks like our envelope but does not parse: never guess how to replay it.
  if (isObject(json) && json.kind === ENVELOPE_KIND) {
    return malformed(base, dlqStage, sentAt, 'a failure envelope that does not match the schema (version or fields)');
  }

  if (dlqStage === 'apply') {
    const pm = patchMessageSchema.safeParse(json);
    if (!pm.success) return malformed(base, dlqStage, sentAt, json === undefined ? 'not JSON' : 'not a patch message');
    const msg = pm.data;
    return {
      ...base,
      stage: 'apply',
      kind: 'bare',
      errorCode: BARE_CODE,
      errorMessage: 'moved by SQS redrive after maxReceiveCount (the function failed without writing an envelope)',
      eventType: msg.event.detailType,
      eventSource: msg.event.source,
      eventIds: [msg.event.id],
      connectionId: msg.target.connectionId,
      providerConfigKey: msg.target.providerConfigKey,
      failedAt: sentAt,
      patch: msg.patch,
      keyTimes: Object.fromEntries(Object.keys(msg.patch).map((k) => [k, msg.event.time])),
      replay: { ok: true, messages: [patchOutgoing(msg, held.body, held.messageId, 0)] },
    };
  }

  // Ingress: any body is an event as far as we know; route validates it again on replay.
  const ev = isObject(json) ? json : undefined;
  // The rule's target DLQ is this queue too: EventBridge adds RULE_ARN and ERROR_CODE when it could not deliver.
  const eb = held.messageAttributes.RULE_ARN !== undefined && held.messageAttributes.ERROR_CODE !== undefined;
  return {
    ...base,
    stage: 'route',
    kind: 'bare',
    errorCode: eb ? held.messageAttributes.ERROR_CODE! : BARE_CODE,
    errorMessage: eb
      ? `EventBridge could not deliver the event to the ingress queue: ${held.messageAttributes.ERROR_MESSAGE ?? held.messageAttributes.ERROR_CODE}`
      : 'moved by SQS redrive after maxReceiveCount (the function failed without writing an envelope)',
    eventType: typeof ev?.['detail-type'] === 'string' ? ev['detail-type'] : undefined,
    eventSource: typeof ev?.source === 'string' ? ev.source : undefined,
    eventIds: typeof ev?.id === 'string' ? [ev.id] : [],
    failedAt: sentAt,
    replay: { ok: true, messages: [{ queue: 'ingress', body: held.body }] },
  };
}

function planEnvelope(env: DlqEnvelope, dlqMessageId: string): ReplayPlan {
  if (env.originals.length === 0) return { ok: false, reason: 'the envelope holds no original message' };
  const cut = env.originals.findIndex((o) => o.truncated);
  if (cut >= 0) return { ok: false, reason: `original message ${cut + 1} was truncated when the envelope was written` };
  if (env.stage === 'route') {
    return { ok: true, messages: env.originals.map((o): Outgoing => ({ queue: 'ingress', body: o.body })) };
  }
  const out: Outgoing[] = [];
  for (const [i, o] of env.originals.entries()) {
    const pm = patchMessageSchema.safeParse(tryJson(o.body));
    if (!pm.success) return { ok: false, reason: `original message ${i + 1} is not a valid patch message` };
    out.push(patchOutgoing(pm.data, o.body, dlqMessageId, i));
  }
  return { ok: true, messages: out };
}

/** Latest event time per key over the originals (what apply's ordering guard compares); else the envelope's events. */
function keyTimesOf(env: DlqEnvelope): Record<string, string> {
  const out: Record<string, string> = {};
  const set = (k: string, t: string) => {
    if (out[k] === undefined || t > out[k]) out[k] = t;
  };
  for (const o of env.originals) {
    const pm = patchMessageSchema.safeParse(tryJson(o.body));
    if (pm.success) for (const k of Object.keys(pm.data.patch)) set(k, pm.data.event.time);
  }
  const latest = env.events
    .map((e) => e.time)
    .sort()
    .at(-1);
  if (latest) for (const k of Object.keys(env.patch ?? {})) if (out[k] === undefined) out[k] = latest;
  return out;
}

function patchOutgoing(msg: PatchMessage, body: string, dlqMessageId: string, index: number): Outgoing {
  return {
    queue: 'patches',
    body,
    groupId: connectionKey(msg.target),
    deduplicationId: replayDeduplicationId(deduplicationId(msg.event.id, msg.target), dlqMessageId, index),
  };
}

/**
 * Differs from the original's (so SQS's 5-minute window does not swallow a replay of a message
 * that failed minutes ago) and from every earlier replay (each failure is a new DLQ message id),
 * but is the same when a killed replay is run again: SQS then drops the second send.
 */
export function replayDeduplicationId(originalBasis: string, dlqMessageId: string, index: number): string {
  return createHash('sha256').update(`replay\n${originalBasis}\n${dlqMessageId}\n${index}`).digest('hex');
}

function malformed(
  base: Omit<DlqItem, 'stage' | 'kind' | 'errorCode' | 'errorMessage' | 'eventIds' | 'failedAt' | 'replay'>,
  stage: Stage,
  sentAt: Date,
  why: string,
): DlqItem {
  return {
    ...base,
    stage,
    kind: 'malformed',
    errorCode: MALFORMED_CODE,
    errorMessage: `malformed DLQ message: ${why}`,
    eventIds: [],
    failedAt: sentAt,
    replay: { ok: false, reason: `malformed: ${why}` },
  };
}

function tryJson(s: string): unknown {
  try {
    return JSON.parse(s);
  } catch {
    return undefined;
  }
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

function validDate(s: string): Date | undefined {
  const d = new Date(s);
  return Number.isNaN(d.getTime()) ? undefined : d;
}
