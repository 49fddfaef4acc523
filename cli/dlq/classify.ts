/**
 * Turns a raw DLQ message into a DlqItem: an envelope (route/apply wrote it, with the error), a bare
 * message (SQS's redrive moved it after maxReceiveCount), or malformed (shown, never replayed).
 * Also decides how each is replayed: route failures go to ingress as the original event; apply
 * failures go to the sync FIFO as the original message bodies, in their own message group with a new
 * deduplication id. Bodies are moved as they are, but for one field: a version 2 sync loses its
 * `queuedAt`. With it, apply could leave the sync's keys to later syncs, and those may be in this DLQ
 * too; without it, apply writes the latest desired state at once. Version 1 patch messages are moved unchanged.
 * Fields of a body are read leniently, for display only.
 * What is shown is scrubbed of keys (an older version may have stored an echoed Authorization
 * header in an error text); what is sent is the body as stored.
 */
import { createHash } from 'node:crypto';
import { parseEnvelope, type DlqEnvelope, type Stage } from '#commons/dlq-envelope';
import { connectionKey } from '#commons/sync/message';
import { BARE_CODE, MALFORMED_CODE, type DlqItem, type HeldMessage, type Outgoing, type ReplayPlan } from './model.ts';
import { scrub, scrubValue } from './scrub.ts';

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
    const shown = scrubValue(env);
    const first = shown.events[0];
    const keyTimes = env.stage === 'apply' && env.patch ? keyTimesOf(env) : undefined;
    return {
      ...base,
      stage: env.stage,
      kind: 'envelope',
      errorCode: shown.error.code,
      errorMessage: shown.error.message,
      status: env.error.status,
      retryable: env.error.retryable,
      eventType: first?.detailType,
      eventSource: first?.source,
      eventIds: shown.events.map((e) => e.id),
      connectionId: env.target?.connectionId,
      providerConfigKey: env.target?.providerConfigKey,
      failedAt: validDate(env.lastFailureAt) ?? sentAt,
      attempts: env.attempts,
      patch: shown.patch,
      ...(keyTimes ? { keyTimes } : {}),
      envelope: shown,
      replay: planEnvelope(env, held.messageId),
    };
  }

  // Looks like our envelope but does not parse: never guess how to replay it.
  if (isObject(json) && json.kind === ENVELOPE_KIND) {
    return malformed(base, dlqStage, sentAt, 'a failure envelope that does not match the schema (version or fields)');
  }

  if (dlqStage === 'apply') {
    if (!isObject(json)) return malformed(base, dlqStage, sentAt, json === undefined ? 'not JSON' : 'not a JSON object');
    const msg = readMessage(json);
    // SQS's redrive keeps the message's group: the connection it belongs to.
    const groupId = held.attributes.MessageGroupId ?? (msg.target ? connectionKey(msg.target) : undefined);
    if (!msg.target || !groupId) return malformed(base, dlqStage, sentAt, 'not a sync message (it names no connection)');
    return {
      ...base,
      stage: 'apply',
      kind: 'bare',
      errorCode: BARE_CODE,
      errorMessage: 'moved by SQS redrive after maxReceiveCount (the function failed without writing an envelope)',
      eventType: msg.event?.detailType,
      eventSource: msg.event?.source,
      eventIds: msg.event ? [msg.event.id] : [],
      connectionId: msg.target.connectionId,
      providerConfigKey: msg.target.providerConfigKey,
      failedAt: sentAt,
      ...(msg.patch ? { patch: scrubValue(msg.patch) } : {}),
      ...(msg.patch && msg.event ? { keyTimes: Object.fromEntries(Object.keys(msg.patch).map((k) => [k, msg.event!.time])) } : {}),
      replay: {
        ok: true,
        messages: [
          {
            queue: 'sync',
            body: resendable(held.body),
            groupId,
            deduplicationId: replayDeduplicationId(held.messageId, held.messageId, 0),
          },
        ],
      },
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
      ? scrub(
          `EventBridge could not deliver the event to the ingress queue: ${held.messageAttributes.ERROR_MESSAGE ?? held.messageAttributes.ERROR_CODE}`,
        )
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
    const json = tryJson(o.body);
    if (!isObject(json)) return { ok: false, reason: `original message ${i + 1} is not a JSON object` };
    const target = readMessage(json).target ?? env.target;
    const groupId = o.messageGroupId ?? (target ? connectionKey(target) : undefined);
    if (!groupId) return { ok: false, reason: `original message ${i + 1} has no message group and the envelope names no connection` };
    out.push({ queue: 'sync', body: resendable(o.body), groupId, deduplicationId: replayDeduplicationId(o.messageId, dlqMessageId, i) });
  }
  return { ok: true, messages: out };
}

/** A sync message without its queue time, so apply never leaves its keys to a later sync; anything else as it is. */
function resendable(body: string): string {
  const json = tryJson(body);
  if (!isObject(json) || json.kind !== 'sync' || !('queuedAt' in json)) return body;
  const { queuedAt: _, ...rest } = json;
  return JSON.stringify(rest);
}

/** Version 1: latest event time per patched key over the originals; else the envelope's events. */
function keyTimesOf(env: DlqEnvelope): Record<string, string> {
  const out: Record<string, string> = {};
  const set = (k: string, t: string) => {
    if (out[k] === undefined || t > out[k]) out[k] = t;
  };
  for (const o of env.originals) {
    const json = tryJson(o.body);
    const m = isObject(json) ? readMessage(json) : {};
    if (m.patch && m.event) for (const k of Object.keys(m.patch)) set(k, m.event.time);
  }
  const latest = env.events
    .map((e) => e.time)
    .sort()
    .at(-1);
  if (latest) for (const k of Object.keys(env.patch ?? {})) if (out[k] === undefined) out[k] = latest;
  return out;
}

interface MessageView {
  target?: { connectionId: string; providerConfigKey: string } | undefined;
  patch?: Record<string, unknown> | undefined;
  event?: { id: string; source?: string | undefined; detailType?: string | undefined; time: string } | undefined;
}

/** What a sync (or version 1 patch) message says about itself, where it says it; nothing is required. */
function readMessage(json: Record<string, unknown>): MessageView {
  const t = isObject(json.target) ? json.target : json;
  const target =
    typeof t.connectionId === 'string' && typeof t.providerConfigKey === 'string'
      ? { connectionId: t.connectionId, providerConfigKey: t.providerConfigKey }
      : undefined;
  const e = isObject(json.event) ? json.event : undefined;
  const event =
    e && typeof e.id === 'string' && typeof e.time === 'string'
      ? { id: e.id, time: e.time, source: str(e.source), detailType: str(e.detailType) }
      : undefined;
  return { target, patch: isObject(json.patch) ? json.patch : undefined, event };
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

const str = (v: unknown) => (typeof v === 'string' ? v : undefined);
const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

function validDate(s: string): Date | undefined {
  const d = new Date(s);
  return Number.isNaN(d.getTime()) ? undefined : d;
}
