/**
 * The DLQ envelope: what failed, why (Nango's StdError, parsed), for which connection, which events,
 * and the original message bodies so the replay tool can send them back. Versioned JSON; message
 * attributes repeat stage, error code and connection so the replay tool can filter without parsing.
 * The secret key is never part of it: errors are built from response bodies, never from requests.
 */
import * as z from 'zod';
import type { MessageAttributeValue } from '@aws-sdk/client-sqs';
import { boundErrors } from './failure.ts';
import { sqsSafeJson } from './json.ts';
import { redactAll } from './redact.ts';
import { eventRefSchema, type EventRef, type Target } from './sync/message.ts';

/** What marks a message as one of these envelopes. */
export const DLQ_ENVELOPE_KIND = 'nango-metadata-sync.failure';

export const stageSchema = z.enum(['route', 'apply']);
export type Stage = z.output<typeof stageSchema>;

// The schemas here are built on their first parse (`z.lazy`), not at a cold start's import.
export const failureSchema = z.lazy(() =>
  z.object({
    status: z.number().int().optional(),
    code: z.string(),
    message: z.string(),
    errors: z.unknown().optional(),
    retryable: z.boolean(),
  }),
);
export type FailureRecord = z.output<typeof failureSchema>;

export const originalSchema = z.lazy(() =>
  z.object({
    messageId: z.string(),
    body: z.string(),
    /** The body was cut to keep the envelope under SQS's message size limit. */
    truncated: z.boolean().optional(),
    messageGroupId: z.string().optional(),
  }),
);

export const dlqEnvelopeSchema = z.lazy(() =>
  z.object({
    /** 1: version 1's patch messages; 2: sync messages (what to replay names no values). */
    v: z.union([z.literal(1), z.literal(2)]),
    kind: z.literal(DLQ_ENVELOPE_KIND),
    stage: stageSchema,
    error: failureSchema,
    target: z.object({ connectionId: z.string(), providerConfigKey: z.string() }).optional(),
    patch: z.record(z.string(), z.json()).optional(),
    /** The subjects whose desired state the failed sync was to send, and the keys it tried. */
    subjects: z.array(z.string()).optional(),
    keys: z.array(z.string()).optional(),
    events: z.array(eventRefSchema),
    attempts: z.number().int().min(0),
    firstFailureAt: z.string(),
    lastFailureAt: z.string(),
    originals: z.array(originalSchema),
  }),
);
export type DlqEnvelope = z.output<typeof dlqEnvelopeSchema>;

export interface EnvelopeInput {
  stage: Stage;
  error: FailureRecord;
  target?: Target | undefined;
  subjects?: string[] | undefined;
  keys?: string[] | undefined;
  events: EventRef[];
  attempts: number;
  firstFailureAt: Date;
  lastFailureAt: Date;
  originals: { messageId: string; body: string; messageGroupId?: string }[];
}

/**
 * The originals share this budget (an apply envelope may carry ten small sync messages; a route
 * envelope one event of at most 256 KiB, kept whole so it can be replayed). A cut body is flagged
 * `truncated`; `fitEnvelope` checks the encoded bytes.
 */
export const MAX_ORIGINALS_CHARS = 300_000;

/** SQS takes 1 MiB a message, attributes included: the envelope stays well inside. */
export const MAX_ENVELOPE_BYTES = 900 * 1024;
const MAX_LIST = 100;

/**
 * Builds the envelope, scrubbed of every known secret and bounded by construction (error text and
 * `errors`, lists, originals); `fitEnvelope` then checks the encoded size and shrinks, never drops.
 */
export function buildEnvelope(input: EnvelopeInput): DlqEnvelope {
  const error = redactAll(boundFailure(input.error));
  return fitEnvelope({
    v: 2,
    kind: DLQ_ENVELOPE_KIND,
    stage: input.stage,
    error,
    ...(input.target ? { target: { connectionId: input.target.connectionId, providerConfigKey: input.target.providerConfigKey } } : {}),
    ...(input.subjects ? { subjects: input.subjects.slice(0, MAX_LIST) } : {}),
    ...(input.keys ? { keys: input.keys.slice(0, MAX_LIST) } : {}),
    events: input.events.slice(0, MAX_LIST),
    attempts: input.attempts,
    firstFailureAt: input.firstFailureAt.toISOString(),
    lastFailureAt: input.lastFailureAt.toISOString(),
    originals: fitOriginals(input.originals),
  });
}

/** A failure as stored and logged: message and code capped, `errors` bounded (first entries, a count of the rest). */
export function boundFailure(f: FailureRecord): FailureRecord {
  const errors = f.errors === undefined ? undefined : boundErrors(f.errors);
  return {
    ...(f.status !== undefined ? { status: f.status } : {}),
    code: f.code.slice(0, 200),
    message: f.message.length > 2_000 ? `${f.message.slice(0, 2_000)}… (${f.message.length} characters)` : f.message,
    ...(errors !== undefined ? { errors } : {}),
    retryable: f.retryable,
  };
}

/** As sent: the queue adapter escapes what SQS refuses (sqsSafeJson), which lengthens the body. */
export const envelopeBytes = (env: DlqEnvelope): number => Buffer.byteLength(sqsSafeJson(JSON.stringify(env)), 'utf8');

/** Shrinks an envelope that would not fit its queue: first `errors`, then the originals' bodies (flagged `truncated`). */
function fitEnvelope(env: DlqEnvelope): DlqEnvelope {
  let out = env;
  if (envelopeBytes(out) <= MAX_ENVELOPE_BYTES) return out;
  const { errors: _dropped, ...error } = out.error;
  out = { ...out, error: { ...error, message: error.message.slice(0, 500) } };
  for (let budget = MAX_ORIGINALS_CHARS / 2; envelopeBytes(out) > MAX_ENVELOPE_BYTES && budget >= 64; budget /= 2) {
    out = { ...out, originals: fitOriginals(out.originals, budget) };
  }
  return out;
}

function fitOriginals<T extends { body: string }>(originals: T[], budget = MAX_ORIGINALS_CHARS): (T & { truncated?: boolean })[] {
  const total = originals.reduce((n, o) => n + o.body.length, 0);
  if (total <= budget) return originals;
  const each = Math.floor(budget / originals.length);
  return originals.map((o) => (o.body.length > each ? { ...o, body: o.body.slice(0, each), truncated: true } : o));
}

/** SQS accepts only XML characters in attribute values; an event's detail-type may hold others. */
const xmlSafe = (v: string) => v.replace(/[^\t\n\r\u0020-\uD7FF\uE000-\uFFFD]/g, '?').slice(0, 1024);

/** Attribute values are strings; SQS rejects empty ones, so absent fields are left out. */
export function envelopeAttributes(env: DlqEnvelope): Record<string, MessageAttributeValue> {
  const attrs: Record<string, string | undefined> = {
    stage: env.stage,
    errorCode: env.error.code,
    connectionId: env.target?.connectionId,
    providerConfigKey: env.target?.providerConfigKey,
    eventType: env.events[0]?.detailType,
  };
  const out: Record<string, MessageAttributeValue> = {};
  for (const [k, v] of Object.entries(attrs)) if (v) out[k] = { DataType: 'String', StringValue: xmlSafe(v) };
  return out;
}

export function parseEnvelope(body: string): DlqEnvelope | undefined {
  try {
    const r = dlqEnvelopeSchema.safeParse(JSON.parse(body));
    return r.success ? r.data : undefined;
  } catch {
    return undefined;
  }
}

/**
 * A message that is one of our own envelopes for this stage came back through SQS's native redrive
 * (StartMessageMoveTask moves bodies unchanged): process its original messages instead of failing
 * on the wrapper. Anything else is itself. A truncated original cannot be replayed as it was, so it
 * stays wrapped and fails validation again with its envelope intact.
 */
export function unwrapOwnEnvelope(body: string, stage: Stage, messageId: string): { body: string; messageId: string; parkedAt?: number }[] {
  if (!body.includes('"nango-metadata-sync.failure"')) return [{ body, messageId }];
  const env = parseEnvelope(body);
  if (!env || env.stage !== stage || env.originals.length === 0 || env.originals.some((o) => o.truncated)) return [{ body, messageId }];
  // When it was first parked: its originals reached us before that (a bound on their arrival).
  const parked = Date.parse(env.firstFailureAt);
  return env.originals.map((o) => ({
    body: o.body,
    messageId: o.messageId,
    ...(Number.isFinite(parked) && parked > 0 ? { parkedAt: parked } : {}),
  }));
}
