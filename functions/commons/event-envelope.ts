/**
 * The event envelope: EventBridge's shape (`id`, `source`, `detail-type`, `time`, `detail`), whether
 * it arrived through a rule (as the SQS body) or was sent straight to the ingress queue. A missing
 * `id` falls back to the SQS message id, a missing `time` to SentTimestamp.
 */
import * as z from 'zod';

// The schemas here are built on their first parse (`z.lazy`), not at a cold start's import.
export const eventEnvelopeSchema = z.lazy(() =>
  z.object({
    id: z.string().min(1).max(256).optional(),
    source: z.string().min(1).max(256),
    'detail-type': z.string().min(1).max(128),
    time: z.iso.datetime({ offset: true }).optional(),
    /** When a parked event first reached us (epoch ms), as route parks it: its replay keeps that bound. Else ignored. */
    receivedAt: z.unknown().optional(),
    detail: z.unknown(),
  }),
);

export interface DomainEvent {
  id: string;
  source: string;
  detailType: string;
  /** ISO-8601, UTC. */
  time: string;
  detail: unknown;
  /**
   * When the event reached us (epoch ms): the ingress queue's SentTimestamp, the same on every
   * redelivery. Undefined when route was handed the event directly; route's clock stands in.
   */
  receivedAt?: number;
}

export type EnvelopeResult = { ok: true; event: DomainEvent } | { ok: false; code: string; message: string; errors?: unknown };

/** Bodies larger than this are refused before JSON.parse: no domain event needs it. */
export const MAX_EVENT_BYTES = 256 * 1024;

export function parseEventBody(
  body: string,
  fallback: { messageId: string; sentTimestamp?: string | undefined; parkedAt?: number | undefined },
): EnvelopeResult {
  if (Buffer.byteLength(body, 'utf8') > MAX_EVENT_BYTES) {
    return { ok: false, code: 'event_too_large', message: `event body exceeds ${MAX_EVENT_BYTES} bytes` };
  }
  let raw: unknown;
  try {
    raw = JSON.parse(body);
  } catch (e) {
    return { ok: false, code: 'invalid_json', message: `event body is not JSON: ${(e as Error).message}` };
  }
  return toDomainEvent(raw, fallback);
}

function toDomainEvent(
  raw: unknown,
  fallback: { messageId: string; sentTimestamp?: string | undefined; parkedAt?: number | undefined },
): EnvelopeResult {
  const parsed = eventEnvelopeSchema.safeParse(raw);
  if (!parsed.success) {
    return { ok: false, code: 'invalid_envelope', message: z.prettifyError(parsed.error), errors: parsed.error.issues };
  }
  const e = parsed.data;
  const sent = Number(fallback.sentTimestamp);
  const time = e.time ? new Date(e.time).toISOString() : new Date(Number.isFinite(sent) && sent > 0 ? sent : Date.now()).toISOString();
  const event: DomainEvent = { id: e.id ?? fallback.messageId, source: e.source, detailType: e['detail-type'], time, detail: e.detail };
  // The earliest of this delivery's sent time and, for a replay, when the event first reached us and
  // when it was parked (an envelope moved back whole: route refused it before it recorded an arrival).
  const first = e.receivedAt;
  const arrivals = [
    ...(Number.isFinite(sent) && sent > 0 ? [sent] : []),
    ...(Number.isSafeInteger(first) && (first as number) > 0 ? [first as number] : []),
    ...(fallback.parkedAt !== undefined && fallback.parkedAt > 0 ? [fallback.parkedAt] : []),
  ];
  if (arrivals.length) event.receivedAt = Math.min(...arrivals);
  return { ok: true, event };
}
